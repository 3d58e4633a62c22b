/**
 * Helpers of the Fly tests: a paid user and their object, the Fly stand-in's control API (shared by
 * every test file, so everything here is scoped to one app), and a loop that drives the object's
 * jobs until a status holds.
 */
import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { inject } from "vitest";
import type { UserActor } from "../src/actors/user-actor.ts";
import type { FlyService, FlyStatus } from "../src/lib/fly/fly-service.ts";
import type { FlyTuning } from "../src/lib/tuning.ts";
import { ADMIN, api, jsonInit, newUser, type TestUser } from "./helpers.ts";

export const FLY_URL = inject("flyUrl");

/** Short timeouts and backoffs, so faults cost milliseconds. */
export const TEST_TUNING: Partial<FlyTuning> = {
  requestTimeoutMs: 400,
  retryBaseMs: 5,
  retryCapMs: 40,
  maxRetryAfterMs: 2_000,
  jobBackoffBaseMs: 10,
  jobBackoffCapMs: 80,
  syncDebounceMs: 20,
  statusCacheMs: 0,
  waitStartedMs: 3_000,
  waitPollSeconds: 1,
  healthTimeoutMs: 2_000,
};

export interface FlyUser extends TestUser {
  stub: DurableObjectStub<UserActor>;
  app: string;
}

export async function flyUser(tier: "paid" | "free" = "paid"): Promise<FlyUser> {
  const user = await newUser("fly");
  const res = await api(`/api/admin/users/${encodeURIComponent(user.email)}/tier`, jsonInit("PUT", { tier }, ADMIN));
  if (res.status !== 200) throw new Error(`setting the tier failed: ${res.status} ${await res.text()}`);
  const stub = env.USER_ACTOR.get(env.USER_ACTOR.idFromName(user.userId)) as DurableObjectStub<UserActor>;
  return { ...user, stub, app: `sp-${user.userId}` };
}

/** Runs `fn` inside the user's object with the test tuning applied (again, after an eviction). */
export function withFly<T>(user: FlyUser, fn: (fly: FlyService, instance: UserActor) => Promise<T> | T, tuning: Partial<FlyTuning> = {}): Promise<T> {
  return runInDurableObject(user.stub, async (instance: UserActor) => {
    Object.assign(instance.config.fly, TEST_TUNING, tuning);
    return fn(instance.fly, instance);
  });
}

export const status = (user: FlyUser) => withFly(user, (fly) => fly.status());

/** Runs the object's due jobs (as its alarm would) until `done(status)`, or fails with the last status. */
export async function driveUntil(user: FlyUser, done: (s: FlyStatus) => boolean, limitMs = 20_000): Promise<FlyStatus> {
  const until = Date.now() + limitMs;
  let last = await status(user);
  while (!done(last)) {
    if (Date.now() > until) throw new Error(`gave up waiting; last status: ${JSON.stringify(last)}`);
    await withFly(user, () => undefined); // tuning in place before the alarm runs in a fresh instance
    await runDurableObjectAlarm(user.stub);
    await new Promise((r) => setTimeout(r, 5));
    last = await status(user);
  }
  return last;
}

export async function control<T = Record<string, unknown>>(path: string, body?: unknown, method = body === undefined ? "GET" : "POST"): Promise<T> {
  const res = await fetch(`${FLY_URL}/__control/${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body) });
  return (await res.json()) as T;
}

export interface StandinMachine {
  id: string;
  name: string;
  state: string;
  config: Record<string, unknown>;
  minSecretsVersion: number | null;
  bootSecretsVersion: number | null;
}
export interface StandinApp {
  name: string;
  org: string;
  network: string;
  secretsVersion: number;
  secrets: Record<string, string>;
  ips: { ip: string; type: string }[];
  machines: StandinMachine[];
  error?: string;
}
export interface CallLog {
  seq: number;
  total: number;
  byRoute: Record<string, number>;
  calls: { route: string; status: number | "hang"; fault?: string; detail?: { set?: string[]; unset?: string[]; skip_launch?: boolean; min_secrets_version?: number } }[];
}

/** The app as the stand-in holds it, or null when there is none. */
export async function inspectApp(app: string): Promise<StandinApp | null> {
  const res = await fetch(`${FLY_URL}/__control/apps/${app}`);
  return res.status === 404 ? null : ((await res.json()) as StandinApp);
}

export const callSeq = async () => (await control<CallLog>("calls?since=999999999")).seq;
export const callsSince = (since: number, app: string) => control<CallLog>(`calls?since=${since}&app=${app}`);

/** Decodes a `<STEM>_MD_B64` value as the container would. */
export function decodeB64(value: string | undefined): string {
  const binary = atob(value ?? "");
  return new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
