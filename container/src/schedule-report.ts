/**
 * Tells the Worker when OpenClaw's scheduled jobs are next due (issue 15), so the user's object can
 * wake this machine a little before (a suspended machine runs no timer of its own).
 *
 * What OpenClaw 2026.9.6 really writes (observed by container/test/life-cron.test.ts; schema in
 * dist/openclaw-state-db-read-connection-*.mjs, rows by dist/row-codec-*.mjs): one row per job in
 * table `cron_jobs` of `$OPENCLAW_STATE_DIR/state/openclaw.sqlite`; the job in `job_json`, its next
 * due time in `state_json.nextRunAtMs`; `store_key` is the absolute path of the cron store it
 * belongs to, `$OPENCLAW_STATE_DIR/cron/jobs.json` (a legacy file name: the jobs are in SQLite).
 * Only that store's rows are OpenClaw's to run here, so only they are sent (a state directory
 * restored under another path keeps rows OpenClaw will never run). Older OpenClaws kept the jobs in
 * that `cron/jobs.json` file (`jobs[].state.nextRunAtMs`): read when it exists.
 *
 * Not sent, because they must not wake a sleeping machine: disabled jobs, and the jobs OpenClaw
 * declares for its own upkeep (a `declaration_key`: "heartbeat:main", "memory-core:…" dreaming at
 * 03:00, "skill-collection-review:main" weekly). Those run whenever the machine is next awake
 * (OpenClaw catches up missed jobs at start); waking every user's machine for them would cost a
 * boot and model tokens a day that the person never asked for.
 */
import { workerFetcher } from "./worker-link.ts";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

export interface DueJob {
  id: string;
  name: string;
  nextRunAt: number;
}

function nextRun(state: unknown): number | null {
  const n = (state as { nextRunAtMs?: unknown } | null)?.nextRunAtMs;
  return typeof n === "number" && Number.isFinite(n) && n > 0 ? n : null;
}

/** The key OpenClaw files this state directory's cron jobs under (its default cron store path). */
export function cronStoreKey(stateDir: string): string {
  return resolve(stateDir, "cron", "jobs.json");
}

interface CronRow { job_id: string; name: string; enabled: number; declaration_key: string | null; payload_kind: string | null; state_json: string }

/** The enabled jobs the person's agent scheduled that have a next due time, sorted; never throws (an unreadable store is empty). */
export async function readSchedule(stateDir: string): Promise<DueJob[]> {
  const jobs = new Map<string, DueJob>();
  const db = join(stateDir, "state", "openclaw.sqlite");
  if (existsSync(db)) {
    try {
      const sqlite = await import("node:sqlite");
      const conn = new sqlite.DatabaseSync(db, { readOnly: true });
      try {
        const rows = conn.prepare("SELECT job_id, name, enabled, declaration_key, payload_kind, state_json FROM cron_jobs WHERE store_key = ?").all(cronStoreKey(stateDir)) as unknown as CronRow[];
        for (const row of rows) {
          if (!row.enabled || row.declaration_key || row.payload_kind === "heartbeat") continue;
          const at = nextRun(JSON.parse(row.state_json || "{}"));
          if (at !== null) jobs.set(row.job_id, { id: row.job_id, name: row.name, nextRunAt: at });
        }
      } finally {
        conn.close();
      }
    } catch {
      // no cron table yet, or the database is busy: the next poll reads it
    }
  }
  const legacy = join(stateDir, "cron", "jobs.json");
  if (existsSync(legacy)) {
    try {
      const parsed = JSON.parse(readFileSync(legacy, "utf8")) as { jobs?: { id?: string; name?: string; enabled?: boolean; declarationKey?: string; state?: unknown }[] };
      for (const job of parsed.jobs ?? []) {
        const at = job.enabled === false || job.declarationKey ? null : nextRun(job.state);
        if (typeof job.id === "string" && at !== null && !jobs.has(job.id)) jobs.set(job.id, { id: job.id, name: job.name ?? job.id, nextRunAt: at });
      }
    } catch {
      // half-written: the next poll reads it
    }
  }
  return [...jobs.values()].sort((a, b) => a.nextRunAt - b.nextRunAt || a.id.localeCompare(b.id));
}

export interface ScheduleReporterOptions {
  stateDir: string;
  callbackUrl: string;
  userId: string;
  gatewayToken: string;
  pollMs?: number;
  fetcher?: typeof fetch;
  log?: (line: string) => void;
}

export class ScheduleReporter {
  private sent: string | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  private busy = false;
  private readonly worker: ReturnType<typeof workerFetcher>;
  private readonly log: (line: string) => void;

  private readonly o: ScheduleReporterOptions;

  constructor(options: ScheduleReporterOptions) {
    this.o = options;
    this.worker = workerFetcher(options);
    this.log = options.log ?? (() => {});
  }

  start(): void {
    void this.check();
    this.timer = setInterval(() => void this.check(), this.o.pollMs ?? 10_000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Reads the schedule; sends it when it changed since the last accepted send. */
  async check(): Promise<boolean> {
    if (this.busy) return false;
    this.busy = true;
    try {
      const jobs = await readSchedule(this.o.stateDir);
      const body = JSON.stringify({ jobs: jobs.map((j) => ({ id: j.id, name: j.name, nextRunAt: new Date(j.nextRunAt).toISOString() })) });
      if (body === this.sent) return false;
      const response = await this.worker("/api/container/schedule", {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body,
        signal: AbortSignal.timeout(30_000),
      });
      const text = await response.text().catch(() => "");
      if (response.ok) {
        this.sent = body;
        this.log(`schedule: sent ${jobs.length} job(s)${jobs[0] ? `, next ${new Date(jobs[0].nextRunAt).toISOString()}` : ""}`);
        return true;
      }
      this.log(`schedule: the Worker answered ${response.status}: ${text.slice(0, 200)}`);
      return false;
    } catch (error) {
      this.log(`schedule: not sent (${(error as Error).message})`);
      return false;
    } finally {
      this.busy = false;
    }
  }
}
