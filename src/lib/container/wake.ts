/**
 * Waking a paid user's machine ahead of need (issue 15): a web `hello`, a Telegram update or a
 * scheduled job sends one cheap `GET /health` through Fly's proxy, which starts (autostart) or
 * resumes the machine. Nobody waits for it: the user's own path goes on at once, and by the time
 * their message needs the container a cold boot is under way. At most one wake per user per
 * WAKE_INTERVAL_MS, so a tab reconnecting in a loop costs one request, not hundreds.
 */
import { probeHealth } from "./health-probe.ts";

export const WAKE_INTERVAL_MS = 60_000;

export interface WakeTarget {
  appUrl: string;
  /** Why, for the log line. */
  reason: "hello" | "telegram" | "schedule";
}

/** Remembers the last wake per object instance (losing it on eviction only allows one more wake). */
export class Waker {
  private lastAt = 0;

  constructor(
    private readonly fetcher: typeof fetch = (input, init) => fetch(input, init),
    private readonly now: () => number = Date.now,
    private readonly timeoutMs = 45_000,
  ) {}

  /** True when a wake is allowed now (and counts it). `force` is for the scheduled job, never limited. */
  claim(force = false): boolean {
    if (!force && this.now() - this.lastAt < WAKE_INTERVAL_MS) return false;
    this.lastAt = this.now();
    return true;
  }

  /** One GET /health; resolves to the status (or 0 when unreachable). Never throws. */
  async wake(target: WakeTarget): Promise<number> {
    const status = await probeHealth(this.fetcher, target.appUrl, this.timeoutMs);
    console.log(JSON.stringify({ event: "container_wake", reason: target.reason, status: status || "unreachable" }));
    return status;
  }
}
