/**
 * Timing knobs of the Fly work (timeouts, retries, backoff, debounce, periods) and the client
 * factory. Production uses the defaults; tests and `npm run dev` may pass a `FLY_TUNING` JSON var
 * (e.g. `{"jobBackoffBaseMs":5}`) so nothing sleeps for long.
 */
import { loadConfig, requireSecret } from "../config.ts";
import { FlyClient, type FlyCallInfo } from "./fly-client.ts";

export interface FlyTuning {
  requestTimeoutMs: number;
  maxRetries: number;
  retryBaseMs: number;
  retryCapMs: number;
  /** A longer Retry-After is left to the job's backoff instead of being slept through. */
  maxRetryAfterMs: number;
  jobBackoffBaseMs: number;
  jobBackoffCapMs: number;
  /** Attempts per provisioning step (each step that succeeds starts the count again). */
  provisionMaxAttempts: number;
  syncMaxAttempts: number;
  deleteMaxAttempts: number;
  syncDebounceMs: number;
  reconcileEveryMs: number;
  /** `status()` asks Fly for machine states at most this often. */
  statusCacheMs: number;
  /** One attempt of `wait_started` waits this long (looping on 408) before backing off. */
  waitStartedMs: number;
  /** Long-poll length of one wait call (Fly allows up to 60 s). */
  waitPollSeconds: number;
  healthTimeoutMs: number;
  /** A scheduled job of the container wakes its machine this long before it is due (issue 15). */
  scheduleWakeLeadMs: number;
  /** Within that lead, a machine found running is looked at again this often until the job is due. */
  scheduleRecheckMs: number;
}

export const DEFAULT_TUNING: FlyTuning = {
  requestTimeoutMs: 30_000,
  maxRetries: 4,
  retryBaseMs: 250,
  retryCapMs: 8_000,
  maxRetryAfterMs: 30_000,
  jobBackoffBaseMs: 2_000,
  jobBackoffCapMs: 120_000,
  provisionMaxAttempts: 8,
  syncMaxAttempts: 10,
  deleteMaxAttempts: 10,
  syncDebounceMs: 3_000,
  reconcileEveryMs: 6 * 3600_000,
  statusCacheMs: 5_000,
  // OpenClaw takes 26–43 s to start; a first image pull can take longer: the next attempt waits on.
  waitStartedMs: 120_000,
  waitPollSeconds: 60,
  healthTimeoutMs: 30_000,
  scheduleWakeLeadMs: 60_000,
  scheduleRecheckMs: 15_000,
};

/** The defaults, overridden by the optional `FLY_TUNING` JSON var (numbers only; others ignored). */
export function loadFlyTuning(env: Env): FlyTuning {
  const raw = env.FLY_TUNING;
  const tuning: FlyTuning = { ...DEFAULT_TUNING };
  if (typeof raw !== "string" || raw.trim() === "") return tuning;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    console.warn(JSON.stringify({ event: "fly_tuning_invalid" }));
    return tuning;
  }
  if (parsed && typeof parsed === "object") {
    for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
      if (key in tuning && typeof value === "number" && Number.isFinite(value) && value >= 0) {
        tuning[key as keyof FlyTuning] = value;
      }
    }
  }
  return tuning;
}

/** A client for this deployment's Fly API; fails at the edge (503, naming it) without FLY_API_TOKEN. */
export function createFlyClient(env: Env, tuning: FlyTuning = loadFlyTuning(env), fetcher?: typeof fetch): FlyClient {
  return new FlyClient({
    baseUrl: loadConfig(env).flyApiBase,
    token: requireSecret(env, "FLY_API_TOKEN"),
    fetch: fetcher,
    timeoutMs: tuning.requestTimeoutMs,
    maxRetries: tuning.maxRetries,
    retryBaseMs: tuning.retryBaseMs,
    retryCapMs: tuning.retryCapMs,
    maxRetryAfterMs: tuning.maxRetryAfterMs,
    onCall: logFailedCall,
  });
}

function logFailedCall(call: FlyCallInfo): void {
  // 404 (the name is free) and 408 (a wait's long poll ended) are answers we ask for, not failures.
  if (typeof call.status === "number" && (call.status < 400 || call.status === 404 || call.status === 408)) return;
  console.warn(JSON.stringify({ event: "fly_call", method: call.method, path: call.path, status: call.status, attempt: call.attempt, ms: call.ms }));
}
