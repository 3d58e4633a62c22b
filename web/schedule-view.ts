/**
 * The status panel's "Scheduled jobs" card (issue 15): the container's upcoming jobs, as the
 * container last reported them (`GET /api/schedule`). The machine sleeps until shortly before the
 * first one; the card says when it will be woken.
 */
import type { Api } from "./api.ts";
import { byId, h, setChildren } from "./dom.ts";

export interface ScheduledJob {
  id: string;
  name: string;
  nextRunAt: string;
}

export class ScheduleView {
  private readonly body = h("div", { class: "card-body" });
  private jobs: ScheduledJob[] | null = null;
  private nextWakeAt: string | null = null;
  private failed = false;
  private timer: number | undefined;

  constructor(private readonly api: Api) {
    byId("panel-status").append(
      h("section", { class: "card", id: "schedule-card", "aria-labelledby": "schedule-card-title" },
        h("div", { class: "card-head" }, h("h2", { id: "schedule-card-title" }, "Scheduled jobs")),
        this.body),
    );
    this.render();
  }

  /** Loads the list now and again every minute (a job that ran moves its next time). */
  start(): void {
    window.clearInterval(this.timer);
    void this.refresh();
    this.timer = window.setInterval(() => void this.refresh(), 60_000);
  }

  reset(): void {
    window.clearInterval(this.timer);
    this.jobs = null;
    this.failed = false;
    this.render();
  }

  async refresh(): Promise<void> {
    try {
      const answer = await this.api.schedule();
      this.jobs = answer.jobs;
      this.nextWakeAt = answer.nextWakeAt;
      this.failed = false;
    } catch {
      this.failed = true;
    }
    this.render();
  }

  private render(): void {
    if (this.failed && !this.jobs) return setChildren(this.body, h("p", { class: "muted" }, "Scheduled jobs are unavailable right now."));
    if (!this.jobs) return setChildren(this.body, h("p", { class: "muted" }, "Loading…"));
    if (this.jobs.length === 0) return setChildren(this.body, h("p", { class: "muted", "data-testid": "schedule-empty" }, "No scheduled jobs. Ask your companion to remind you of something."));
    const when = (iso: string) => new Date(iso).toLocaleString(undefined, { weekday: "short", hour: "2-digit", minute: "2-digit", month: "short", day: "numeric" });
    setChildren(
      this.body,
      h("ul", { class: "file-list", "data-testid": "schedule-list" }, ...this.jobs.map((job) => h("li", { "data-testid": "schedule-job" }, h("strong", null, job.name), " — ", h("time", { datetime: job.nextRunAt }, when(job.nextRunAt))))),
      this.nextWakeAt ? h("p", { class: "tiny muted" }, `Your container sleeps until ${when(this.nextWakeAt)}, then wakes for the first one.`) : null,
    );
  }
}
