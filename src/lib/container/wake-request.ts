/**
 * One request to the user's container through Fly's proxy, which starts a stopped or suspended
 * machine on the way: while it wakes, connection errors and 502/503/504 are tried again, backing off
 * from `retryBaseMs` to 2 s, until the container answers or the wake budget is spent. The budget
 * bounds only the wait for an answer (its headers); the body is the caller's.
 */
import { backoffDelay } from "../backoff.ts";
const WAKING_STATUSES = new Set([502, 503, 504]);
const MAX_RETRY_DELAY_MS = 2_000;

export interface WakeBudget {
  wakeBudgetMs: number;
  retryBaseMs: number;
}

export interface WakeOutcome {
  /** The container's successful answer, or null when it did not give one in time. */
  response: Response | null;
  /** Why there is no answer, for the circuit and the logs. */
  reason: string;
}

export async function requestWhileWaking(
  budget: WakeBudget,
  send: (signal: AbortSignal) => Promise<Response>,
  options: { signal?: AbortSignal; onFirstRetry?: () => void } = {},
): Promise<WakeOutcome> {
  const deadline = Date.now() + budget.wakeBudgetMs;
  let reason = "unknown";
  let retried = false;
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    const wake = new AbortController();
    const timer = setTimeout(() => wake.abort(), deadline - Date.now());
    try {
      const response = await send(options.signal ? AbortSignal.any([options.signal, wake.signal]) : wake.signal);
      if (response.ok) return { response, reason: "" };
      await response.body?.cancel();
      reason = `the container answered ${response.status}`;
      if (!WAKING_STATUSES.has(response.status)) return { response: null, reason };
    } catch (error) {
      if (options.signal?.aborted) throw error;
      reason = `the container could not be reached (${(error as Error).name})`;
    } finally {
      clearTimeout(timer);
    }
    if (!retried) {
      retried = true;
      options.onFirstRetry?.();
    }
    const delay = backoffDelay(attempt, { baseMs: budget.retryBaseMs, capMs: MAX_RETRY_DELAY_MS });
    await new Promise((resolve) => setTimeout(resolve, Math.min(delay, Math.max(0, deadline - Date.now()))));
  }
  return { response: null, reason: `the container did not wake within ${budget.wakeBudgetMs} ms (${reason})` };
}
