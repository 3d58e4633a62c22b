/**
 * The container's scheduled jobs (issue 15): the container reports the next due time of each of
 * its OpenClaw cron jobs whenever its schedule changes; the object keeps the list, arms one job
 * (`container_schedule_wake`) a little before the earliest, and then wakes the sleeping machine so
 * OpenClaw's own scheduler runs the job. A job due while the user is out of budget is skipped with
 * a note in history instead (a wake would only spend tokens the day no longer has).
 */
import { HttpError } from "../errors.ts";
import type { Sql } from "../sql.ts";
import { DEFAULT_FLY_TUNING } from "../tuning.ts";

export const SCHEDULE_WAKE_JOB = "container_schedule_wake";
/** Woken this long before a job is due, by default (why this long: lib/tuning.ts, `scheduleWakeLeadMs`). */
export const WAKE_LEAD_MS = DEFAULT_FLY_TUNING.scheduleWakeLeadMs;
/** A list longer than this is refused: an agent with hundreds of timers is a bug, not a user. */
export const MAX_SCHEDULED_JOBS = 100;
/** Times further than this ahead are kept but not armed before they come closer. */
const MAX_AHEAD_MS = 366 * 24 * 3600 * 1000;

export const SCHEDULE_SCHEMA = `CREATE TABLE IF NOT EXISTS container_schedule (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, next_run_at INTEGER NOT NULL, woken_for INTEGER
)`;

export interface ScheduledJob {
  id: string;
  name: string;
  nextRunAt: string;
}

interface Row {
  id: string;
  name: string;
  next_run_at: number;
  woken_for: number | null;
}

/** Checks the container's `{ jobs: [{ id, name, nextRunAt }] }`; a bad list changes nothing. */
export function parseSchedule(body: Record<string, unknown>, now: number): { id: string; name: string; at: number }[] {
  const jobs = body.jobs;
  if (!Array.isArray(jobs)) throw new HttpError(400, "invalid_schedule", 'Send { "jobs": [{ "id", "name", "nextRunAt" }] } (an empty list clears the schedule).');
  if (jobs.length > MAX_SCHEDULED_JOBS) throw new HttpError(413, "schedule_too_long", `At most ${MAX_SCHEDULED_JOBS} scheduled jobs are kept; this list has ${jobs.length}.`);
  const seen = new Set<string>();
  return jobs.map((job: unknown, i) => {
    const j = (job ?? {}) as Record<string, unknown>;
    const at = typeof j.nextRunAt === "number" ? j.nextRunAt : typeof j.nextRunAt === "string" ? Date.parse(j.nextRunAt) : NaN;
    if (typeof j.id !== "string" || j.id.length < 1 || j.id.length > 128 || seen.has(j.id)) throw new HttpError(400, "invalid_schedule", `jobs[${i}].id must be a unique string of 1–128 characters.`);
    if (typeof j.name !== "string" || j.name.length > 200) throw new HttpError(400, "invalid_schedule", `jobs[${i}].name must be a string of at most 200 characters.`);
    if (!Number.isFinite(at) || at < now - MAX_AHEAD_MS || at > now + 10 * MAX_AHEAD_MS) throw new HttpError(400, "invalid_schedule", `jobs[${i}].nextRunAt must be an ISO time or epoch milliseconds.`);
    seen.add(j.id);
    return { id: j.id, name: j.name.trim() || j.id, at };
  });
}

export class ContainerSchedule {
  constructor(
    private readonly sql: Sql,
    private readonly now: () => number = Date.now,
    readonly leadMs: number = WAKE_LEAD_MS,
  ) {}

  /** Replaces the list; a job whose due time did not move keeps "already woken for it". */
  replace(jobs: { id: string; name: string; at: number }[]): void {
    const before = new Map(this.sql.all<Row>("SELECT * FROM container_schedule").map((r) => [r.id, r]));
    this.sql.run("DELETE FROM container_schedule");
    for (const job of jobs) {
      const woken = before.get(job.id)?.next_run_at === job.at ? (before.get(job.id)?.woken_for ?? null) : null;
      this.sql.run("INSERT INTO container_schedule (id, name, next_run_at, woken_for) VALUES (?, ?, ?, ?)", job.id, job.name, job.at, woken);
    }
  }

  list(): ScheduledJob[] {
    return this.sql.all<Row>("SELECT * FROM container_schedule ORDER BY next_run_at, id").map((r) => ({ id: r.id, name: r.name, nextRunAt: new Date(r.next_run_at).toISOString() }));
  }

  /** When the wake job should run next: the lead before the earliest job not yet woken for. */
  nextWakeAt(): number | null {
    const row = this.sql.one<{ at: number | null }>("SELECT MIN(next_run_at) AS at FROM container_schedule WHERE woken_for IS NULL OR woken_for != next_run_at");
    if (row?.at == null || row.at > this.now() + MAX_AHEAD_MS) return null;
    return Math.max(this.now(), row.at - this.leadMs);
  }

  /** The jobs a wake now is for (due within the lead, not woken for yet). */
  dueSoon(): { id: string; name: string; at: number }[] {
    return this.sql.all<Row>(
      "SELECT * FROM container_schedule WHERE next_run_at <= ? AND (woken_for IS NULL OR woken_for != next_run_at) ORDER BY next_run_at",
      this.now() + this.leadMs,
    ).map((r) => ({ id: r.id, name: r.name, at: r.next_run_at }));
  }

  /** Marks jobs as handled for their current due time, so they never cause a second wake. */
  markWoken(jobs: { id: string; at: number }[]): void {
    for (const job of jobs) this.sql.run("UPDATE container_schedule SET woken_for = ? WHERE id = ? AND next_run_at = ?", job.at, job.id, job.at);
  }

  clear(): void {
    this.sql.run("DELETE FROM container_schedule");
  }
}
