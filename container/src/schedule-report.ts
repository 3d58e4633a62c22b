/**
 * Tells the Worker when OpenClaw's scheduled jobs are next due (issue 15), so the user's object can
 * wake this machine a little before (a suspended machine runs no timer of its own).
 *
 * OpenClaw (≥ 2026.6) keeps cron jobs in `$OPENCLAW_STATE_DIR/state/openclaw.sqlite`, table
 * `cron_jobs`, each job's next due time in `state_json.nextRunAtMs`; older ones in
 * `cron/jobs.json` (`jobs[].state.nextRunAtMs`). Both are read; the list is sent with
 * `PUT {callback}/api/container/schedule` whenever it differs from what was last accepted.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface DueJob {
  id: string;
  name: string;
  nextRunAt: number;
}

function nextRun(state: unknown): number | null {
  const n = (state as { nextRunAtMs?: unknown } | null)?.nextRunAtMs;
  return typeof n === "number" && Number.isFinite(n) && n > 0 ? n : null;
}

/** The enabled jobs that have a next due time, sorted; never throws (an unreadable store is empty). */
export async function readSchedule(stateDir: string): Promise<DueJob[]> {
  const jobs = new Map<string, DueJob>();
  const db = join(stateDir, "state", "openclaw.sqlite");
  if (existsSync(db)) {
    try {
      const sqlite = await import("node:sqlite");
      const conn = new sqlite.DatabaseSync(db, { readOnly: true });
      try {
        const rows = conn.prepare("SELECT job_id, name, enabled, state_json FROM cron_jobs").all() as { job_id: string; name: string; enabled: number; state_json: string }[];
        for (const row of rows) {
          const at = row.enabled ? nextRun(JSON.parse(row.state_json || "{}")) : null;
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
      const parsed = JSON.parse(readFileSync(legacy, "utf8")) as { jobs?: { id?: string; name?: string; enabled?: boolean; state?: unknown }[] };
      for (const job of parsed.jobs ?? []) {
        const at = job.enabled === false ? null : nextRun(job.state);
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
  private readonly fetcher: typeof fetch;
  private readonly log: (line: string) => void;

  private readonly o: ScheduleReporterOptions;

  constructor(options: ScheduleReporterOptions) {
    this.o = options;
    const o = options;
    this.fetcher = o.fetcher ?? ((input, init) => fetch(input, init));
    this.log = o.log ?? (() => {});
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
      const response = await this.fetcher(`${this.o.callbackUrl.replace(/\/+$/, "")}/api/container/schedule`, {
        method: "PUT",
        headers: { authorization: `Bearer ${this.o.gatewayToken}`, "x-soulprint-user": this.o.userId, "content-type": "application/json" },
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
