/**
 * A user's object without workerd, for the Fly bench: the same FlyService, JobScheduler and
 * Workspace over Node's built-in SQLite, with the alarm driven by hand. It exists so the bench can
 * count Fly API calls in a plain Node process (`npx node --experimental-transform-types`).
 */
import { DatabaseSync } from "node:sqlite";
import { JobScheduler } from "../src/lib/jobs.ts";
import { migrate, USER_MIGRATIONS } from "../src/lib/schema.ts";
import { Sql, type SqlValue } from "../src/lib/sql.ts";
import { Workspace } from "../src/lib/workspace.ts";
import { FlyService } from "../src/lib/fly/fly-service.ts";
import { loadConfig } from "../src/lib/config.ts";
import { ObjectEvents } from "../src/lib/object-events.ts";
import type { ObjectContext } from "../src/lib/object-context.ts";
import type { Profile } from "../src/lib/profile.ts";
import type { FlyTuning } from "../src/lib/tuning.ts";
import { UpstreamMeter } from "../src/lib/upstream-meter.ts";

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
  let alarm: number | null = null;
  const storage = {
    getAlarm: async () => alarm,
    setAlarm: async (at: number) => void (alarm = at),
    deleteAlarm: async () => void (alarm = null),
    transactionSync: <T>(fn: () => T): T => fn(),
  } as unknown as DurableObjectStorage;
  // The user object's own schema, every migration included, so the bench never drifts from it.
  migrate(sql, storage, USER_MIGRATIONS);
  const jobs = new JobScheduler(sql, storage);
  const frames: object[] = [];
  const config = loadConfig(env as unknown as Env);
  Object.assign(config.fly, tuning);
  const events = new ObjectEvents();
  const owner: Profile = { userId, email: `${userId}@bench.local`, tier: "paid", chatMode: "auto", createdAt: Date.now() };
  const context: ObjectContext = {
    env: env as unknown as Env,
    config,
    sql,
    jobs,
    meter: new UpstreamMeter(),
    events,
    profile: () => owner,
    owner: () => owner,
    broadcast: (frame) => frames.push(frame),
    bedrock: () => {
      throw new Error("the Fly bench makes no Bedrock call");
    },
    logContext: () => ({}),
    waitUntil: (work) => void work.catch(() => {}),
  };
  const workspace = new Workspace(sql, (change) => void events.emit("workspaceChanged", change));
  const fly = new FlyService(context, workspace);
  fly.defineJobs();
  return {
    fly,
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
