/**
 * What keeps a paid user's container alive in the user's object (issue 15): its saved state, its
 * scheduled jobs with the job that wakes the machine before them, and the background wake on a
 * web `hello` or a Telegram update. The actor's RPCs stay one-liners over this.
 */
import { HttpError } from "../errors.ts";
import type { JobScheduler } from "../jobs.ts";
import type { Sql } from "../sql.ts";
import type { ChatHistory } from "../chat/history.ts";
import { assertWithinBudget } from "../usage.ts";
import { ContainerSchedule, parseSchedule, SCHEDULE_WAKE_JOB, type ScheduledJob } from "./container-schedule.ts";
import { ContainerStateStore } from "./container-state.ts";
import { Waker } from "./wake.ts";

export interface ContainerLifeHost {
  sql: Sql;
  jobs: JobScheduler;
  history: ChatHistory;
  bucket: R2Bucket;
  fetch: typeof fetch;
  /** The app's public URL when there is an app, else null. */
  appUrl(): string | null;
  /** True when the app is ready (a wake makes sense). */
  flyReady(): boolean;
  /** True when this user's messages go to the container now (paid, ready, circuit closed). */
  routesToContainer(): boolean;
  /** Today's token budget of this user, or null before the user exists. */
  dailyBudget(): number | null;
  waitUntil(work: Promise<unknown>): void;
}

export interface ScheduleView {
  jobs: ScheduledJob[];
  nextWakeAt: string | null;
}

export class ContainerLife {
  readonly schedule: ContainerSchedule;
  readonly states: ContainerStateStore;
  readonly waker: Waker;

  constructor(private readonly host: ContainerLifeHost) {
    this.schedule = new ContainerSchedule(host.sql);
    this.states = new ContainerStateStore(host.sql, host.bucket);
    this.waker = new Waker(host.fetch);
  }

  defineJobs(): void {
    this.host.jobs.define(SCHEDULE_WAKE_JOB, { run: () => this.wakeForSchedule(), maxAttempts: 5, backoffBaseMs: 5_000 });
  }

  /** The container's new schedule: kept, and the wake armed before the earliest job. */
  async replaceSchedule(body: Record<string, unknown>): Promise<ScheduleView> {
    this.schedule.replace(parseSchedule(body, Date.now()));
    return { jobs: this.schedule.list(), nextWakeAt: await this.armScheduleWake() };
  }

  view(): ScheduleView {
    const wake = this.host.jobs.get(SCHEDULE_WAKE_JOB);
    return { jobs: this.schedule.list(), nextWakeAt: wake ? new Date(wake.dueAt).toISOString() : null };
  }

  /** Starts a boot or resume of a paid user's machine, awaited by nobody (rate-limited). */
  wakeInBackground(reason: "hello" | "telegram"): void {
    const appUrl = this.host.appUrl();
    if (!appUrl || !this.host.routesToContainer() || !this.waker.claim()) return;
    this.host.waitUntil(this.waker.wake({ appUrl, reason }));
  }

  /** Points the wake job at the earliest scheduled job not yet woken for (or cancels it). */
  private async armScheduleWake(): Promise<string | null> {
    const at = this.schedule.nextWakeAt();
    if (at === null) {
      this.host.jobs.cancel(SCHEDULE_WAKE_JOB);
      await this.host.jobs.arm();
      return null;
    }
    await this.host.jobs.schedule(SCHEDULE_WAKE_JOB, at - Date.now(), undefined, "replace");
    return new Date(at).toISOString();
  }

  /**
   * A scheduled job is about due: wake the machine so OpenClaw's scheduler runs it. Over budget,
   * the jobs are skipped with a note in history instead (the container would only be refused).
   */
  private async wakeForSchedule(): Promise<void> {
    const due = this.schedule.dueSoon();
    const budget = this.host.dailyBudget();
    const appUrl = this.host.appUrl();
    if (due.length > 0 && budget !== null && appUrl && this.host.flyReady()) {
      try {
        assertWithinBudget(this.host.sql, budget);
        const status = await this.waker.wake({ appUrl, reason: "schedule" });
        // A failed wake throws before the jobs are marked, so the job's backoff tries again.
        if (status === 0 || status >= 500) throw new Error(`the container did not wake for a scheduled job (${status || "unreachable"})`);
      } catch (error) {
        if (!(error instanceof HttpError && error.code === "budget_exceeded")) throw error;
        for (const job of due) {
          this.host.history.insertNote(`schedule-skip-${job.id}-${job.at}`, `Scheduled job "${job.name}" (due ${new Date(job.at).toISOString()}) was skipped: today's token budget is used up.`, Date.now());
        }
      }
      this.schedule.markWoken(due);
    }
    await this.armScheduleWake();
  }
}
