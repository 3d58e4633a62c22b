/** The Fly API client of this deployment, with the timing of `config.fly` (lib/tuning.ts). */
import { loadConfig, requireSecret } from "../config.ts";
import type { FlyTuning } from "../tuning.ts";
import { FlyClient, type FlyCallInfo } from "./fly-client.ts";

/** A client for this deployment's Fly API; fails at the edge (503, naming it) without FLY_API_TOKEN. */
export function createFlyClient(env: Env, tuning: FlyTuning = loadConfig(env).fly, fetcher?: typeof fetch): FlyClient {
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
