/**
 * A user's object without workerd, for the Fly bench: the same FlyService, JobScheduler and
 * Workspace over Node's built-in SQLite, with the alarm driven by hand. It exists so the bench can
 * count Fly API calls in a plain Node process (`npx node --experimental-transform-types`).
 */
import { DatabaseSync } from "node:sqlite";
import { JOBS_SCHEMA, JobScheduler } from "../src/lib/jobs.ts";
import { Sql, type SqlValue } from "../src/lib/sql.ts";
import { WORKSPACE_SCHEMA, Workspace } from "../src/lib/workspace.ts";
import { FLY_SCHEMA } from "../src/lib/fly/fly-schema.ts";
import { FlyService } from "../src/lib/fly/fly-service.ts";
import type { FlyTuning } from "../src/lib/fly/fly-settings.ts";

/** Just enough of workerd's SqlStorage for Sql: `exec(query, ...params)` → rows and rowsWritten. */
function sqlStorage(db: DatabaseSync): SqlStorage {
  const exec = (query: string, ...params: SqlValue[]) => {
    const statement = db.prepare(query);
    const values = params.map((p) => (p instanceof ArrayBuffer ? new Uint8Array(p) : p));
    if (/^\s*(SELECT|WITH)|RETURNING/i.test(query)) {
      const rows = statement.all(...values) as Record<string, SqlValue>[];
      return { toArray: () => rows, rowsWritten: 0 };
    }
    const result = statement.run(...values);
    return { toArray: () => [], rowsWritten: Number(result.changes) };
  };
  return { exec } as unknown as SqlStorage;
}

export interface BenchUser {
  fly: FlyService;
  jobs: JobScheduler;
  workspace: Workspace;
  frames: object[];
  /** Runs due jobs (waiting for backoffs) until `done()` or no job is left, like the alarm would. */
  drive(done: () => boolean, limitMs?: number): Promise<void>;
}

export function benchUser(userId: string, env: Record<string, string>, tuning: Partial<FlyTuning>): BenchUser {
  const db = new DatabaseSync(":memory:");
  const sql = new Sql(sqlStorage(db));
  for (const statement of [JOBS_SCHEMA, ...WORKSPACE_SCHEMA, ...FLY_SCHEMA]) sql.run(statement);
  let alarm: number | null = null;
  const storage = {
    getAlarm: async () => alarm,
    setAlarm: async (at: number) => void (alarm = at),
    deleteAlarm: async () => void (alarm = null),
  } as unknown as DurableObjectStorage;
  const jobs = new JobScheduler(sql, storage);
  const frames: object[] = [];
  let fly: FlyService | null = null;
  const workspace = new Workspace(sql, () => void fly?.onWorkspaceChanged());
  fly = new FlyService(
    {
      env: env as unknown as Env,
      sql,
      jobs,
      workspace,
      userId: () => userId,
      tier: () => "paid",
      broadcast: (frame) => frames.push(frame),
      telegramWebhookSecret: () => null,
      publicUrl: () => "http://127.0.0.1:8787",
    },
    { tuning },
  );
  fly.defineJobs();
  const service = fly;
  return {
    fly: service,
    jobs,
    workspace,
    frames,
    async drive(done, limitMs = 60_000) {
      const until = Date.now() + limitMs;
      while (!done() && Date.now() < until) {
        if (alarm === null) return;
        const wait = alarm - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, Math.min(wait, until - Date.now())));
        await jobs.runDue();
      }
    },
  };
}
