/**
 * The user object's schema: a version row and migrations applied in order, once, inside a
 * transaction (agents' `_ensureSchema`). Each part of the object owns its tables; this file only
 * decides the order. Add a migration at the end; never edit one that has shipped.
 */
import type { Sql } from "./sql.ts";
import { PROFILE_SCHEMA } from "./profile.ts";
import { JOBS_SCHEMA } from "./jobs.ts";
import { WORKSPACE_SCHEMA } from "./workspace.ts";
import { TICKETS_SCHEMA } from "./tickets.ts";
import { USAGE_BY_VIA_SCHEMA, USAGE_SCHEMA } from "./usage.ts";
import { CHAT_SCHEMA } from "./chat/history.ts";
import { FLY_SCHEMA } from "./fly/fly-schema.ts";
import { CIRCUIT_SCHEMA } from "./container/circuit.ts";
import { TELEGRAM_SCHEMA, TELEGRAM_STREAM_SCHEMA } from "./telegram/telegram-schema.ts";
import { CONTAINER_TELEGRAM_SCHEMA } from "./telegram/container-history.ts";
import { SCHEDULE_SCHEMA } from "./container/container-schedule.ts";
import { STATE_SCHEMA } from "./container/container-state.ts";

export interface Migration {
  version: number;
  statements: string[];
}

export const USER_MIGRATIONS: Migration[] = [
  { version: 1, statements: [PROFILE_SCHEMA, JOBS_SCHEMA, ...WORKSPACE_SCHEMA, TICKETS_SCHEMA] },
  { version: 2, statements: [...CHAT_SCHEMA, USAGE_SCHEMA] },
  { version: 3, statements: [...FLY_SCHEMA, CIRCUIT_SCHEMA] },
  { version: 4, statements: TELEGRAM_SCHEMA },
  // Gateway tokens became HMACs over the user id and this epoch (issue 16).
  { version: 5, statements: ["ALTER TABLE fly_app ADD COLUMN gateway_epoch INTEGER NOT NULL DEFAULT 0"] },
  // Usage per route, so the container's model calls show as `via: "container"` (issue 13).
  { version: 6, statements: [USAGE_BY_VIA_SCHEMA] },
  // The container's Telegram messages in history (issue 13).
  { version: 7, statements: CONTAINER_TELEGRAM_SCHEMA },
  // The container's scheduled jobs and its saved state's index (issue 15).
  { version: 8, statements: [SCHEDULE_SCHEMA, STATE_SCHEMA] },
  // Telegram replies stream by editing a message where drafts are refused (issue 18).
  { version: 9, statements: TELEGRAM_STREAM_SCHEMA },
];

/** Applies the migrations the object has not seen; returns the resulting version. */
export function migrate(sql: Sql, storage: DurableObjectStorage, migrations: Migration[]): number {
  sql.run("CREATE TABLE IF NOT EXISTS schema_meta (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)");
  let current = sql.one<{ version: number }>("SELECT version FROM schema_meta WHERE id = 1")?.version ?? 0;
  for (const migration of migrations) {
    if (migration.version <= current) continue;
    storage.transactionSync(() => {
      for (const statement of migration.statements) sql.run(statement);
      sql.run("INSERT INTO schema_meta (id, version) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET version = excluded.version", migration.version);
    });
    current = migration.version;
  }
  return current;
}
