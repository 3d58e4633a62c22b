/**
 * Every timing knob of the project in one place: the Fly work, the container route and the Bedrock
 * retries. `loadConfig` puts them on `Config` (parsed once per object); production uses these
 * defaults. Tests and `npm run dev` set the Fly knobs with the `FLY_TUNING` JSON var (e.g.
 * `{"jobBackoffBaseMs":5}`), the container ones with the `CONTAINER_*` vars, and a test that needs
 * another value for one object changes that object's `config` (e.g. `actor.config.container`).
 */

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
  /**
   * A scheduled job of the container wakes its machine this long before it is due (issue 15): a
   * cold boot takes 25–31 s, a resume well under one. OpenClaw runs a one-shot job that fell due
   * while it was down only 2 minutes after its start (it defers missed agent turns), so the machine
   * should be up before the due time.
   */
  scheduleWakeLeadMs: number;
  /**
   * Within that lead, a machine found running is looked at again this often until the job is due
   * (it may stop meanwhile, and then needs a wake).
   */
  scheduleRecheckMs: number;
}

export const DEFAULT_FLY_TUNING: FlyTuning = {
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

/** The container as a route (CONTAINER_* vars). */
export interface ContainerTuning {
  /** How long the container may take to answer (waking included) before the message goes direct. */
  wakeBudgetMs: number;
  /** First retry delay while waking; doubles up to 2 s. */
  retryBaseMs: number;
  /** The longest silence between two pieces of a reply that has started. */
  idleTimeoutMs: number;
  /** The longest a reply may run in all. */
  replyCapMs: number;
  /** How long the route stays direct after the container failed, before its health is checked. */
  cooldownMs: number;
}

/** Bedrock calls of a direct reply. */
export interface BedrockRetry {
  attemptsPerModel: number;
  baseDelayMs: number;
  /** The longest Bedrock may stay silent (before its answer, or between two events) before we give up. */
  stallTimeoutMs: number;
}

export const DEFAULT_BEDROCK_RETRY: BedrockRetry = { attemptsPerModel: 3, baseDelayMs: 250, stallTimeoutMs: 90_000 };

/** The defaults, overridden by the optional `FLY_TUNING` JSON var (numbers only; others ignored). */
export function parseFlyTuning(raw: string | undefined): FlyTuning {
  const tuning: FlyTuning = { ...DEFAULT_FLY_TUNING };
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
