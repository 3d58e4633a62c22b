/**
 * One alarm, many jobs (ARCHITECTURE.md). A job row per kind: scheduling a kind that exists moves its
 * due time instead of adding a row. `runDue()` runs what is due, re-arms the alarm for the next job
 * and backs failures off exponentially with a cap.
 *
 * Alarms are at-least-once: a second delivery finds the finished job gone (or not yet due again) and
 * runs nothing. A `generation` counter guards the other race: a job re-scheduled while it runs (a file
 * saved during a sync) keeps its new row instead of being deleted by the finishing run.
 */
import type { Sql } from "./sql.ts";
import { logSafe } from "./errors.ts";
import { backoffDelay } from "./backoff.ts";
import type { UpstreamMeter } from "./upstream-meter.ts";

export interface JobRun {
  kind: string;
  /** Failed attempts before this one. */
  attempts: number;
  payload: unknown;
}

/** A handler may ask to run again later (polling, periodic work) by returning a delay. */
export type JobOutcome = void | { rerunInMs: number };

export interface JobDefinition {
  run(job: JobRun): Promise<JobOutcome>;
  /** Attempts before giving up (default 8). */
  maxAttempts?: number;
  /** Called once after the last failed attempt; the row is then removed. */
  onGiveUp?(job: JobRun, error: unknown): Promise<void> | void;
  /** Backoff base and cap in ms (defaults 1 s and 5 min). */
  backoffBaseMs?: number;
  backoffCapMs?: number;
}

interface JobRow {
  kind: string;
  due_at: number;
  attempts: number;
  payload: string | null;
  generation: number;
}

export type ScheduleMode = "earliest" | "replace";

export const JOBS_SCHEMA = `CREATE TABLE IF NOT EXISTS jobs (
  kind TEXT PRIMARY KEY,
  due_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  payload TEXT,
  generation INTEGER NOT NULL DEFAULT 0,
  last_error TEXT
)`;

export class JobScheduler {
  private readonly definitions = new Map<string, JobDefinition>();

  constructor(
    private readonly sql: Sql,
    private readonly storage: DurableObjectStorage,
    private readonly now: () => number = Date.now,
    /** Fields added to every job log line (the owner's log hash). */
    private readonly logContext: () => Record<string, string | undefined> = () => ({}),
    /** Counts upstream calls, so each job's line says how many it made. */
    private readonly meter?: UpstreamMeter,
  ) {}

  define(kind: string, definition: JobDefinition): void {
    this.definitions.set(kind, definition);
  }

  /**
   * Schedules `kind` to run in `delayMs`. With mode "earliest" an existing job only moves earlier;
   * with "replace" it moves to exactly this time (debounce). Attempts reset either way.
   */
  async schedule(kind: string, delayMs = 0, payload?: unknown, mode: ScheduleMode = "earliest"): Promise<void> {
    const dueAt = this.now() + Math.max(0, delayMs);
    const payloadJson = payload === undefined ? null : JSON.stringify(payload);
    const dueExpr = mode === "replace" ? "excluded.due_at" : "MIN(jobs.due_at, excluded.due_at)";
    this.sql.run(
      `INSERT INTO jobs (kind, due_at, attempts, payload, generation) VALUES (?, ?, 0, ?, 0)
       ON CONFLICT(kind) DO UPDATE SET due_at = ${dueExpr}, attempts = 0,
         payload = COALESCE(excluded.payload, jobs.payload), generation = jobs.generation + 1, last_error = NULL`,
      kind,
      dueAt,
      payloadJson,
    );
    await this.arm();
  }

  cancel(kind: string): void {
    this.sql.run("DELETE FROM jobs WHERE kind = ?", kind);
  }

  get(kind: string): { dueAt: number; attempts: number; lastError: string | null } | null {
    const row = this.sql.one<{ due_at: number; attempts: number; last_error: string | null }>(
      "SELECT due_at, attempts, last_error FROM jobs WHERE kind = ?",
      kind,
    );
    return row ? { dueAt: row.due_at, attempts: row.attempts, lastError: row.last_error } : null;
  }

  /** Runs every due job once, then re-arms the alarm for the next one. Call it from `alarm()`. */
  async runDue(): Promise<string[]> {
    const ran: string[] = [];
    const due = this.sql.all<JobRow>("SELECT kind, due_at, attempts, payload, generation FROM jobs WHERE due_at <= ? ORDER BY due_at", this.now());
    for (const row of due) {
      ran.push(row.kind);
      await this.runOne(row);
    }
    await this.arm();
    return ran;
  }

  private async runOne(row: JobRow): Promise<void> {
    const definition = this.definitions.get(row.kind);
    if (!definition) {
      console.warn(JSON.stringify({ event: "job_unknown", kind: row.kind }));
      this.sql.run("DELETE FROM jobs WHERE kind = ? AND generation = ?", row.kind, row.generation);
      return;
    }
    const job: JobRun = { kind: row.kind, attempts: row.attempts, payload: row.payload === null ? undefined : JSON.parse(row.payload) };
    const started = this.now();
    const calls = this.meter?.snapshot();
    const upstream = () => (this.meter && calls ? { upstream: this.meter.since(calls) } : {});
    try {
      const outcome = await definition.run(job);
      if (outcome && outcome.rerunInMs >= 0) {
        this.sql.run(
          "UPDATE jobs SET due_at = ?, attempts = 0, last_error = NULL WHERE kind = ? AND generation = ?",
          this.now() + outcome.rerunInMs,
          row.kind,
          row.generation,
        );
      } else {
        this.sql.run("DELETE FROM jobs WHERE kind = ? AND generation = ?", row.kind, row.generation);
      }
      console.log(JSON.stringify({ event: "job", ...this.logContext(), kind: row.kind, ok: true, attempts: row.attempts, ms: this.now() - started, ...upstream() }));
    } catch (error) {
      const attempts = row.attempts + 1;
      const max = definition.maxAttempts ?? 8;
      console.warn(JSON.stringify({ event: "job", ...this.logContext(), kind: row.kind, ok: false, attempts, error: logSafe(error), ms: this.now() - started, ...upstream() }));
      if (attempts >= max) {
        this.sql.run("DELETE FROM jobs WHERE kind = ? AND generation = ?", row.kind, row.generation);
        await definition.onGiveUp?.({ ...job, attempts }, error);
        return;
      }
      const delay = backoffDelay(row.attempts, { baseMs: definition.backoffBaseMs ?? 1_000, capMs: definition.backoffCapMs ?? 300_000, jitter: "spread" });
      this.sql.run(
        "UPDATE jobs SET due_at = ?, attempts = ?, last_error = ? WHERE kind = ? AND generation = ?",
        this.now() + delay,
        attempts,
        logSafe(error),
        row.kind,
        row.generation,
      );
    }
  }

  /** Points the object's single alarm at the earliest job, or clears it when there is none. */
  async arm(): Promise<void> {
    const next = this.sql.one<{ due_at: number }>("SELECT MIN(due_at) AS due_at FROM jobs");
    const current = await this.storage.getAlarm();
    if (next?.due_at == null) {
      if (current !== null) await this.storage.deleteAlarm();
      return;
    }
    if (current !== next.due_at) await this.storage.setAlarm(next.due_at);
  }
}
