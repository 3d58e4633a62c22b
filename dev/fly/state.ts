/**
 * The Fly stand-in's world as one plain state object: apps in an org, their secrets (a version per
 * app), IP assignments and machines, the names another org owns, the timing settings, the seeded
 * RNG, the fault rules and the Machines API call log. Every concern of the stand-in (dev/fly/*.ts)
 * is a set of functions over this object; nothing else holds state, so a reset is one place
 * (dev/fly/control.ts `reset`).
 */
import type { ServerResponse } from "node:http";
import type { ContainerLife } from "../standin-container-life.ts";
import type { Call } from "./calls.ts";
import { noRandomFaults, type FaultRule, type RandomFaults } from "./faults.ts";
import { rng, type Obj } from "./util.ts";

export type MachineState =
  | "created" | "starting" | "started" | "stopping" | "stopped" | "suspending" | "suspended"
  | "replacing" | "destroying" | "destroyed" | "failed";

export interface Secret { value: string; digest: string; createdAt: string; updatedAt: string }
export interface Ip { ip: string; type: string; region: string; shared: boolean; created_at: string }
export interface Machine {
  id: string; name: string; region: string; state: MachineState; instanceId: string; privateIp: string;
  config: Obj; createdAt: string; updatedAt: string; events: Obj[];
  minSecretsVersion: number | null;
  /** The secrets the running machine booted with (its env); a suspended machine keeps them. */
  bootEnv: Record<string, string> | null;
  bootSecretsVersion: number | null;
  failure: string | null;
  timers: ReturnType<typeof setTimeout>[];
  lastRequestAt: number;
  /** What the container holds on its disk (issue 15): lost at a fresh boot, kept by a suspend. */
  life: ContainerLife;
}
export interface App {
  id: string; name: string; org: string; network: string; createdAt: number;
  secrets: Map<string, Secret>; secretsVersion: number; ips: Ip[]; machines: Map<string, Machine>;
  requests: Obj[];
  /** The container answers its next n health checks with 503 (a slow or broken start). */
  healthFailures: number;
  /** How this app's container misbehaves (hybrid routing tests): see POST /__control/apps/:app/container. */
  behaviour: ContainerBehaviour;
}
export interface ContainerBehaviour {
  /** Wake delay for this app's machines (ms), overriding the global setting. */
  wakeDelayMs?: number;
  /** While a machine is not started, answer 502 at once (and start it) instead of holding the request. */
  refuseWhileWaking?: boolean;
  /** Drop the connection after this many pieces of a streamed chat reply. */
  failAfterPieces?: number;
  /** Delay between streamed pieces (ms, default 5). */
  pieceDelayMs?: number;
}
export interface Settings {
  transitionMs: number; wakeDelayMs: number; resumeDelayMs: number; autostopAfterMs: number | null;
  /**
   * False when the apps' containers run elsewhere (the real image, FLY_APP_URL pointing at it): a
   * machine that boots then plays no container life of its own (no state, workspace or schedule
   * calls to the Worker, which would race the real container's).
   */
  containerLife: boolean;
}

export const DEFAULT_SETTINGS: Settings = { transitionMs: 30, wakeDelayMs: 150, resumeDelayMs: 30, autostopAfterMs: null, containerLife: true };

export interface FlyState {
  /** The one accepted API token; absent: any non-empty token. */
  readonly token: string | undefined;
  apps: Map<string, App>;
  /** App names owned by another org (GET → 403, create → 422). */
  foreign: Set<string>;
  settings: Settings;
  seed: number;
  /** Seeded by `seed`: fault picks and IP addresses, so a run can be replayed. */
  rand: () => number;
  /** `wait` long-polls on a machine, each woken at every state change of that machine. */
  waiters: Map<Machine, Set<() => void>>;
  /** The proxy's autostop sweep (dev/fly/lifecycle.ts `armIdleStop`). */
  idleTimer: ReturnType<typeof setInterval> | null;
  rules: FaultRule[];
  random: RandomFaults;
  /** Answers held open by a "hang" fault, dropped at reset. */
  hung: Set<ServerResponse>;
  calls: Call[];
  /** The last call's number; it keeps counting across resets, so `?since=` never goes back. */
  seq: number;
}

export function createState(options: { token?: string; seed?: number }): FlyState {
  const seed = options.seed ?? 1;
  return {
    token: options.token, apps: new Map(), foreign: new Set(), settings: { ...DEFAULT_SETTINGS },
    seed, rand: rng(seed), waiters: new Map(), idleTimer: null,
    rules: [], random: noRandomFaults(), hung: new Set(), calls: [], seq: 0,
  };
}
