/**
 * The container's circuit breaker, kept in storage so it survives the object leaving memory: a
 * container that failed before its first piece opens the circuit for a cool-down; a health check
 * (or the cool-down's end) closes it.
 */
import type { Sql } from "../sql.ts";

export const CIRCUIT_SCHEMA = `CREATE TABLE IF NOT EXISTS container_circuit (
  id INTEGER PRIMARY KEY CHECK (id = 1), open_until INTEGER NOT NULL DEFAULT 0,
  failures INTEGER NOT NULL DEFAULT 0, last_error TEXT
)`;

export class Circuit {
  constructor(
    private readonly sql: Sql,
    private readonly now: () => number = Date.now,
  ) {}

  isOpen(): boolean {
    return this.openUntil() > this.now();
  }

  openUntil(): number {
    return this.sql.one<{ open_until: number }>("SELECT open_until FROM container_circuit WHERE id = 1")?.open_until ?? 0;
  }

  open(cooldownMs: number, reason: string): void {
    this.sql.run(
      `INSERT INTO container_circuit (id, open_until, failures, last_error) VALUES (1, ?, 1, ?)
       ON CONFLICT(id) DO UPDATE SET open_until = excluded.open_until, failures = failures + 1, last_error = excluded.last_error`,
      this.now() + cooldownMs,
      reason.slice(0, 300),
    );
  }

  close(): void {
    this.sql.run("UPDATE container_circuit SET open_until = 0, failures = 0, last_error = NULL WHERE id = 1");
  }
}
