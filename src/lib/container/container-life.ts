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
import { ContainerSchedule, parseSchedule, SCHEDULE_WAKE_JOB, WAKE_RECHECK_MS, type ScheduledJob } from "./container-schedule.ts";
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
  /** Starts the app's sleeping machine through the Machines API (FlyService.wakeMachine). */
  wakeMachine(): Promise<"started" | "up" | "busy" | "none">;
  waitUntil(work: Promise<unknown>): void;
  /** The wake lead and the re-check period within it (FLY_TUNING; defaults in container-schedule.ts). */
  timing?: { leadMs?: number; recheckMs?: number };
}

export interface ScheduleView {
  jobs: ScheduledJob[];
  nextWakeAt: string | null;
}

export class ContainerLife {
  readonly schedule: ContainerSchedule;
  readonly states: ContainerStateStore;
  readonly waker: Waker;
  private readonly recheckMs: number;

  constructor(private readonly host: ContainerLifeHost) {
    this.schedule = new ContainerSchedule(host.sql, Date.now, host.timing?.leadMs);
    this.recheckMs = host.timing?.recheckMs ?? WAKE_RECHECK_MS;
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

  /**
   * Points the wake job at the earliest scheduled job not yet woken for (or cancels it); never
   * before `notBefore` (a machine found running is looked at again later, not in a loop).
   */
  private async armScheduleWake(notBefore = 0): Promise<string | null> {
    const next = this.schedule.nextWakeAt();
    if (next === null) {
      this.host.jobs.cancel(SCHEDULE_WAKE_JOB);
      await this.host.jobs.arm();
      return null;
    }
    const at = Math.max(next, notBefore);
    await this.host.jobs.schedule(SCHEDULE_WAKE_JOB, at - Date.now(), undefined, "replace");
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
    const budget = this.host.dailyBudget();
    const appUrl = this.host.appUrl();
    let notBefore = 0;
    if (due.length > 0 && budget !== null && appUrl && this.host.flyReady()) {
      let overBudget = false;
      try {
        assertWithinBudget(this.host.sql, budget);
      } catch (error) {
        if (!(error instanceof HttpError && error.code === "budget_exceeded")) throw error;
        overBudget = true;
      }
      if (overBudget) {
        for (const job of due) {
          this.host.history.insertNote(`schedule-skip-${job.id}-${job.at}`, `Scheduled job "${job.name}" (due ${new Date(job.at).toISOString()}) was skipped: today's token budget is used up.`, Date.now());
        }
        this.schedule.markWoken(due);
      } else {
        const found = await this.host.wakeMachine().catch((error: unknown) => {
          console.warn(JSON.stringify({ event: "container_wake_api_failed", error: (error as Error).message }));
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
          if (status === 0 || status >= 500) throw new Error(`the container did not wake for a scheduled job (${status || "unreachable"})`);
          this.schedule.markWoken(due);
        }
      }
    }
    await this.armScheduleWake(notBefore);
  }
}
