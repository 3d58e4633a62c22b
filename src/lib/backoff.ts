/**
 * The one exponential backoff of the project: the wait before retry number `attempt` (0 = the first
 * retry) doubles from `baseMs` up to `capMs`. Jitter spreads the retries of many objects that failed
 * together (one Fly or Bedrock incident hits every user at once):
 * - `none`: the window itself (a single caller waiting on its own request);
 * - `spread`: ±20% around the window (the alarm jobs);
 * - `half`: between half the window and all of it (AWS's "equal jitter", for HTTP retries).
 */
export type Jitter = "none" | "spread" | "half";

export interface Backoff {
  baseMs: number;
  capMs: number;
  jitter?: Jitter;
}

export function backoffDelay(attempt: number, { baseMs, capMs, jitter = "none" }: Backoff, random: () => number = Math.random): number {
  const window = Math.min(capMs, baseMs * 2 ** Math.min(Math.max(0, attempt), 30));
  switch (jitter) {
    case "none":
      return window;
    case "spread":
      return Math.round(window * (0.8 + 0.4 * random()));
    case "half":
      return Math.round(window / 2 + (random() * window) / 2);
  }
}
