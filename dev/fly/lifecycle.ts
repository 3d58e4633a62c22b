/**
 * The machine state machine of the Fly stand-in: `created → starting → started` (and stopping,
 * suspending, destroying) with small delays on per-machine timers, a boot that takes the app's
 * secrets as the env and fails on a missing mounted secret or a too-new secrets version, a resume
 * that keeps the suspended env, and the proxy's autostop. Every state change wakes the machine's
 * `wait` long-polls.
 */
import { bootLife, catchUpWorkspace, newLife } from "../standin-container-life.ts";
import type { App, FlyState, Machine, MachineState } from "./state.ts";
import { now, type Obj } from "./util.ts";

export function setState(s: FlyState, app: App, m: Machine, state: MachineState, event?: string): void {
  m.state = state;
  m.updatedAt = now();
  m.events.unshift({ type: event ?? state, status: state, source: "flyd", timestamp: Date.now() });
  if (m.events.length > 20) m.events.length = 20;
  for (const wake of s.waiters.get(m) ?? []) wake();
  if (state === "destroyed") app.machines.delete(m.id);
}

export function later(m: Machine, ms: number, fn: () => void): void {
  m.timers.push(setTimeout(fn, ms));
}

export function clearTimers(m: Machine): void {
  for (const t of m.timers) clearTimeout(t);
  m.timers = [];
}

/** Boot: the env is the app's secrets now; a mount naming a missing secret, or an old version, fails it. */
function boot(s: FlyState, app: App, m: Machine): void {
  const files = Array.isArray(m.config.files) ? (m.config.files as Obj[]) : [];
  const missing = files.map((f) => f.secret_name).filter((n): n is string => typeof n === "string" && !app.secrets.has(n));
  if (missing.length > 0 || (m.minSecretsVersion ?? 0) > app.secretsVersion) {
    m.failure = missing.length > 0 ? `secret ${missing.join(", ")} not found for config.files` : "secrets version not yet available";
    setState(s, app, m, "failed", "exit");
    return;
  }
  m.failure = null;
  m.bootEnv = Object.fromEntries([...app.secrets].map(([k, secret]) => [k, secret.value]));
  m.bootSecretsVersion = app.secretsVersion;
  m.lastRequestAt = Date.now();
  m.life = newLife();
  setState(s, app, m, "started", "start");
  if (s.settings.containerLife) void bootLife(m.bootEnv, m.life);
}

export function startMachine(s: FlyState, app: App, m: Machine, delayMs = s.settings.transitionMs): void {
  if (m.state === "started" || m.state === "starting") return;
  clearTimers(m);
  // A suspended machine resumes its snapshot (same env); anything else boots afresh.
  const resuming = m.state === "suspended" && m.bootEnv !== null;
  const finish = () => {
    if (!resuming) return boot(s, app, m);
    m.lastRequestAt = Date.now();
    setState(s, app, m, "started", "resume");
    if (s.settings.containerLife) void catchUpWorkspace(m.bootEnv ?? {}, m.life);
  };
  if (m.state === "created") {
    later(m, delayMs, () => {
      setState(s, app, m, "starting");
      later(m, delayMs, finish);
    });
    return;
  }
  setState(s, app, m, "starting");
  later(m, delayMs, finish);
}

export function stopMachine(s: FlyState, app: App, m: Machine, suspend: boolean): void {
  if (!["started", "starting"].includes(m.state)) return;
  clearTimers(m);
  setState(s, app, m, suspend ? "suspending" : "stopping");
  later(m, s.settings.transitionMs, () => {
    if (!suspend) m.bootEnv = null;
    setState(s, app, m, suspend ? "suspended" : "stopped");
  });
}

export function destroyMachine(s: FlyState, app: App, m: Machine): void {
  clearTimers(m);
  m.bootEnv = null;
  setState(s, app, m, "destroying");
  later(m, s.settings.transitionMs, () => setState(s, app, m, "destroyed"));
}

/** The app and its machines are gone at once, their pending transitions with them. */
export function removeApp(s: FlyState, app: App): void {
  for (const m of app.machines.values()) clearTimers(m);
  s.apps.delete(app.name);
}

function autostopMode(m: Machine): string {
  const services = Array.isArray(m.config.services) ? (m.config.services as Obj[]) : [];
  const mode = services[0]?.autostop;
  return mode === true ? "stop" : mode === false || mode === undefined ? "off" : String(mode);
}

/** The proxy's autostop: a machine without requests for `autostopAfterMs` stops or suspends. */
export function armIdleStop(s: FlyState): void {
  if (s.idleTimer) clearInterval(s.idleTimer);
  s.idleTimer = null;
  const after = s.settings.autostopAfterMs;
  if (after === null) return;
  s.idleTimer = setInterval(() => {
    for (const app of s.apps.values()) {
      for (const m of app.machines.values()) {
        const mode = autostopMode(m);
        if (m.state === "started" && mode !== "off" && Date.now() - m.lastRequestAt > after) stopMachine(s, app, m, mode === "suspend");
      }
    }
  }, Math.max(10, Math.min(after, 1000)));
}
