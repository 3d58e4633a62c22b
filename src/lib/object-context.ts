/**
 * What every service of a user's object shares, built once by the actor and handed to each: the
 * Worker env, the config parsed once (timing included, lib/tuning.ts), the SQLite storage, the one
 * alarm's job scheduler, the upstream meter, the named events, and the few platform reaches a
 * service may need (the owner, the sockets, the Bedrock client, waitUntil). A service takes this
 * plus the other services it depends on, in one direction only; anything flowing back is an event.
 */
import type { BedrockRuntimeClient } from "@aws-sdk/client-bedrock-runtime";
import type { Config } from "./config.ts";
import type { JobScheduler } from "./jobs.ts";
import type { ObjectEvents } from "./object-events.ts";
import type { Profile } from "./profile.ts";
import type { Sql } from "./sql.ts";
import type { UpstreamMeter } from "./upstream-meter.ts";
import type { ChatFrame } from "./chat/frames.ts";

export interface ObjectContext {
  readonly env: Env;
  readonly config: Config;
  readonly sql: Sql;
  readonly jobs: JobScheduler;
  /** Counts upstream calls for the job and reply log lines; its `fetch(upstream)` is the one to use. */
  readonly meter: UpstreamMeter;
  readonly events: ObjectEvents;
  /** The owner, or null before their first contact. */
  profile(): Profile | null;
  /** The owner; a 404 `unknown_user` before their first contact. */
  owner(): Profile;
  /** Pushes a frame to every open WebSocket of the owner. */
  broadcast(frame: ChatFrame): void;
  /** The Bedrock client, made on first use. */
  bedrock(): BedrockRuntimeClient;
  /** Fields for every log line (the owner's log hash, never their id). */
  logContext(): { user?: string };
  /** Keeps the object alive for background work (ctx.waitUntil). */
  waitUntil(work: Promise<unknown>): void;
}
