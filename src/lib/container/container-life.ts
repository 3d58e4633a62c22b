/**
 * What keeps a paid user's container alive in the user's object (issue 15): its saved state, its
 * scheduled jobs with the job that wakes the machine before them, and the background wake on a
 * web `hello` or a Telegram update. The actor's RPCs stay one-liners over this.
 */
import { HttpError, RetryLaterError } from "../errors.ts";
import type { ObjectContext } from "../object-context.ts";
import { readProfile } from "../profile.ts";
import type { ChatHistory } from "../chat/history.ts";
import type { FlyService } from "../fly/fly-service.ts";
import { assertWithinBudget, dailyBudget } from "../usage.ts";
import { ContainerSchedule, parseSchedule, SCHEDULE_WAKE_JOB, type ScheduledJob } from "./container-schedule.ts";
import { ContainerStateStore } from "./container-state.ts";
import { Waker } from "./wake.ts";

/** The services container life reads: history (notes), the Fly app, and the route. */
export interface ContainerLifeDeps {
  history: ChatHistory;
  fly: Pick<FlyService, "state" | "appUrl">;
  /** Where this user's messages go now ("container": paid, ready, circuit closed). */
  container: { route(): string };
}

export interface ScheduleView {
  jobs: ScheduledJob[];
  nextWakeAt: string | null;
}

export class ContainerLife {
  readonly schedule: ContainerSchedule;
  readonly states: ContainerStateStore;
  readonly waker: Waker;

  constructor(
    private readonly ctx: ObjectContext,
    private readonly deps: ContainerLifeDeps,
  ) {
    this.schedule = new ContainerSchedule(ctx.sql);
    this.states = new ContainerStateStore(ctx.sql, ctx.env.IMAGES);
    this.waker = new Waker(ctx.meter.fetch("container"));
  }

  defineJobs(): void {
    this.ctx.jobs.define(SCHEDULE_WAKE_JOB, { run: () => this.wakeForSchedule(), maxAttempts: 5, backoffBaseMs: 5_000 });
  }

  /** The container's new schedule: kept, and the wake armed before the earliest job. */
  async replaceSchedule(body: Record<string, unknown>): Promise<ScheduleView> {
    this.schedule.replace(parseSchedule(body, Date.now()));
    return { jobs: this.schedule.list(), nextWakeAt: await this.armScheduleWake() };
  }

  view(): ScheduleView {
    const wake = this.ctx.jobs.get(SCHEDULE_WAKE_JOB);
    return { jobs: this.schedule.list(), nextWakeAt: wake ? new Date(wake.dueAt).toISOString() : null };
  }

  /** Starts a boot or resume of a paid user's machine, awaited by nobody (rate-limited). */
  wakeInBackground(reason: "hello" | "telegram"): void {
    const appUrl = this.deps.fly.appUrl();
    if (!appUrl || this.deps.container.route() !== "container" || !this.waker.claim()) return;
    this.ctx.waitUntil(this.waker.wake({ appUrl, reason }));
  }

  /** Points the wake job at the earliest scheduled job not yet woken for (or cancels it). */
  private async armScheduleWake(): Promise<string | null> {
    const at = this.schedule.nextWakeAt();
    if (at === null) {
      this.ctx.jobs.cancel(SCHEDULE_WAKE_JOB);
      await this.ctx.jobs.arm();
      return null;
    }
    await this.ctx.jobs.schedule(SCHEDULE_WAKE_JOB, at - Date.now(), undefined, "replace");
    return new Date(at).toISOString();
  }

  /**
   * A scheduled job is about due: wake the machine so OpenClaw's scheduler runs it. Over budget,
   * the jobs are skipped with a note in history instead (the container would only be refused).
   */
  private async wakeForSchedule(): Promise<void> {
    const due = this.schedule.dueSoon();
    const profile = readProfile(this.ctx.sql);
    const budget = profile ? dailyBudget(profile.tier, this.ctx.config) : null;
    const appUrl = this.deps.fly.appUrl();
    if (due.length > 0 && budget !== null && appUrl && this.deps.fly.state() === "ready") {
      try {
        assertWithinBudget(this.ctx.sql, budget);
        const status = await this.waker.wake({ appUrl, reason: "schedule" });
        // A failed wake throws before the jobs are marked, so the job's backoff tries again.
        if (status === 0 || status >= 500) throw new RetryLaterError(`the container did not wake for a scheduled job (${status || "unreachable"})`);
      } catch (error) {
        if (!(error instanceof HttpError && error.code === "budget_exceeded")) throw error;
        for (const job of due) {
          this.deps.history.insertNote(`schedule-skip-${job.id}-${job.at}`, `Scheduled job "${job.name}" (due ${new Date(job.at).toISOString()}) was skipped: today's token budget is used up.`, Date.now());
        }
      }
      this.schedule.markWoken(due);
    }
    await this.armScheduleWake();
  }
}
