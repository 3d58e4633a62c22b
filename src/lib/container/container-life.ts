/**
 * What keeps a paid user's container alive in the user's object (issue 15): its saved state, its
 * scheduled jobs with the job that wakes the machine before them, and the background wake on a
 * web `hello` or a Telegram update. The actor's RPCs stay one-liners over this.
 */
import { HttpError, logSafe, RetryLaterError } from "../errors.ts";
import type { ObjectContext } from "../object-context.ts";
import { readProfile } from "../profile.ts";
import type { ChatHistory } from "../chat/history.ts";
import type { FlyService } from "../fly/fly-service.ts";
import { assertWithinBudget, dailyBudget } from "../usage.ts";
import { ContainerSchedule, parseSchedule, SCHEDULE_WAKE_JOB, type ScheduledJob } from "./container-schedule.ts";
import { ContainerStateStore } from "./container-state.ts";
import { Waker } from "./wake.ts";

/** The services container life reads: history (notes), the Fly app (and its Machines API wake), the route. */
export interface ContainerLifeDeps {
  history: ChatHistory;
  fly: Pick<FlyService, "state" | "appUrl" | "wakeMachine">;
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
    // The wake lead and the re-check period within it are Fly timing (FLY_TUNING, lib/tuning.ts).
    this.schedule = new ContainerSchedule(ctx.sql, Date.now, ctx.config.fly.scheduleWakeLeadMs);
    this.states = new ContainerStateStore(ctx.sql, ctx.env.IMAGES);
    this.waker = new Waker(ctx.meter.fetch("container"));
  }

  private get recheckMs(): number {
    return this.ctx.config.fly.scheduleRecheckMs;
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

  /**
   * Points the wake job at the earliest scheduled job not yet woken for (or cancels it); never
   * before `notBefore` (a machine found running is looked at again later, not in a loop).
   */
  private async armScheduleWake(notBefore = 0): Promise<string | null> {
    const next = this.schedule.nextWakeAt();
    if (next === null) {
      this.ctx.jobs.cancel(SCHEDULE_WAKE_JOB);
      await this.ctx.jobs.arm();
      return null;
    }
    const at = Math.max(next, notBefore);
    await this.ctx.jobs.schedule(SCHEDULE_WAKE_JOB, at - Date.now(), undefined, "replace");
    return new Date(at).toISOString();
  }

  /**
   * A scheduled job is about due: wake the machine so OpenClaw's own scheduler runs it. Through the
   * Machines API (a stopped or suspended machine is started); when that cannot be used, one request
   * through Fly's proxy, which starts it too (autostart). A machine found running is looked at
   * again every `recheckMs` until the job is due: it may stop before (autostop, a deploy, a test),
   * and a job counted as woken for would then never run. Over budget, the jobs are skipped with a
   * note in history instead (the container would only be refused).
   */
  private async wakeForSchedule(): Promise<void> {
    const due = this.schedule.dueSoon();
    const profile = readProfile(this.ctx.sql);
    const budget = profile ? dailyBudget(profile.tier, this.ctx.config) : null;
    const appUrl = this.deps.fly.appUrl();
    let notBefore = 0;
    if (due.length > 0 && budget !== null && appUrl && this.deps.fly.state() === "ready") {
      let overBudget = false;
      try {
        assertWithinBudget(this.ctx.sql, budget);
      } catch (error) {
        if (!(error instanceof HttpError && error.code === "budget_exceeded")) throw error;
        overBudget = true;
      }
      if (overBudget) {
        for (const job of due) {
          this.deps.history.insertNote(`schedule-skip-${job.id}-${job.at}`, `Scheduled job "${job.name}" (due ${new Date(job.at).toISOString()}) was skipped: today's token budget is used up.`, Date.now());
        }
        this.schedule.markWoken(due);
      } else {
        const found = await this.deps.fly.wakeMachine().catch((error: unknown) => {
          console.warn(JSON.stringify({ event: "container_wake_api_failed", error: logSafe(error) }));
          return "none" as const;
        });
        if (found === "started") {
          this.schedule.markWoken(due);
        } else if (found === "up") {
          // Running: the jobs already due are OpenClaw's to run; the others are looked at again.
          this.schedule.markWoken(due.filter((job) => job.at <= Date.now()));
          notBefore = Date.now() + this.recheckMs;
        } else if (found === "busy") {
          // On its way down or being replaced: started once it is stopped.
          notBefore = Date.now() + this.recheckMs;
        } else {
          const status = await this.waker.wake({ appUrl, reason: "schedule" });
          // A failed wake throws before the jobs are marked, so the job's backoff tries again.
          if (status === 0 || status >= 500) throw new RetryLaterError(`the container did not wake for a scheduled job (${status || "unreachable"})`);
          this.schedule.markWoken(due);
        }
      }
    }
    await this.armScheduleWake(notBefore);
  }
}
