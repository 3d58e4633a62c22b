/**
 * The Fly stand-in's control API, `/__control/*` (JSON; not counted as Fly calls): what tests and
 * `npm run dev` use to reset the world, set faults and timing, make an app's container misbehave,
 * change an app behind the client's back (drift), and read what happened (apps, requests, calls).
 * The routes are listed in dev/fly-standin.ts's header.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { isObject, readBody, sendJson } from "../standin-util.ts";
import { routeToMachine } from "./app-proxy.ts";
import { callSummary } from "./calls.ts";
import { addFaults, clearFaults, noRandomFaults } from "./faults.ts";
import { armIdleStop, clearTimers, removeApp, stopMachine } from "./lifecycle.ts";
import { DEFAULT_SETTINGS, type App, type ContainerBehaviour, type FlyState } from "./state.ts";
import { pickNumbers, rng, safeJson, type Obj } from "./util.ts";

export async function handleControl(s: FlyState, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const method = req.method ?? "GET";
  const parts = url.pathname.split("/").filter(Boolean).slice(1).map(decodeURIComponent);
  const raw = await readBody(req);
  const body = raw.length ? safeJson(raw) : {};
  const b: Obj = isObject(body) ? body : {};
  const [what, name, sub, id, action] = parts;
  if (what === "health") return sendJson(res, 200, { ok: true });
  if (what === "reset" && method === "POST") {
    reset(s, typeof b.seed === "number" ? b.seed : s.seed);
    return sendJson(res, 200, { ok: true });
  }
  if (what === "faults") {
    if (method === "DELETE") clearFaults(s, url.searchParams.get("app"));
    else if (method === "POST") addFaults(s, b);
    return sendJson(res, 200, { random: s.random, rules: s.rules });
  }
  if (what === "settings" && method === "POST") {
    s.settings = { ...s.settings, ...pickNumbers(b, ["transitionMs", "wakeDelayMs", "resumeDelayMs"]) };
    if ("autostopAfterMs" in b) s.settings.autostopAfterMs = typeof b.autostopAfterMs === "number" ? b.autostopAfterMs : null;
    if (typeof b.containerLife === "boolean") s.settings.containerLife = b.containerLife;
    armIdleStop(s);
    return sendJson(res, 200, s.settings);
  }
  if (what === "foreign-apps" && method === "POST" && typeof b.name === "string") {
    s.foreign.add(b.name);
    return sendJson(res, 200, { foreign: [...s.foreign] });
  }
  if (what === "calls") {
    return sendJson(res, 200, callSummary(s, Number(url.searchParams.get("since") ?? 0), url.searchParams.get("app")));
  }
  if (what === "apps" && name === undefined) {
    return sendJson(res, 200, { apps: [...s.apps.values()].map((a) => ({ name: a.name, org: a.org, secretsVersion: a.secretsVersion, ips: a.ips.length, machines: [...a.machines.values()].map((m) => ({ id: m.id, name: m.name, state: m.state })) })) });
  }
  const app = what === "apps" && name ? s.apps.get(name) : undefined;
  if (!app) return sendJson(res, 404, { error: `no app ${name ?? ""}` });
  if (sub === undefined && method === "GET") return sendJson(res, 200, inspect(app));
  if (sub === undefined && method === "DELETE") {
    removeApp(s, app);
    return sendJson(res, 200, { ok: true });
  }
  if (sub === "health" && method === "POST") {
    app.healthFailures = typeof b.failTimes === "number" ? b.failTimes : 0;
    return sendJson(res, 200, { failTimes: app.healthFailures });
  }
  if (sub === "container" && method === "POST") {
    const next: ContainerBehaviour = {};
    for (const key of ["wakeDelayMs", "failAfterPieces", "pieceDelayMs"] as const) if (typeof b[key] === "number") next[key] = b[key] as number;
    if (b.refuseWhileWaking === true) next.refuseWhileWaking = true;
    app.behaviour = next;
    return sendJson(res, 200, { behaviour: app.behaviour });
  }
  if (sub === "requests") return sendJson(res, 200, { requests: app.requests });
  if (sub === "drift" && method === "POST") {
    drift(app, b);
    return sendJson(res, 200, inspect(app));
  }
  if (sub === "machines" && id && action === "stop" && method === "POST") {
    const m = app.machines.get(id);
    if (!m) return sendJson(res, 404, { error: `no machine ${id}` });
    stopMachine(s, app, m, b.suspend === true);
    return sendJson(res, 200, { ok: true });
  }
  if (sub === "write-back" && method === "POST") return sendJson(res, 200, await writeBack(s, app, b));
  return sendJson(res, 404, { error: "unknown control route" });
}

function inspect(app: App): Obj {
  return {
    name: app.name, org: app.org, network: app.network, secretsVersion: app.secretsVersion,
    secrets: Object.fromEntries([...app.secrets].map(([n, s]) => [n, s.value])),
    ips: app.ips,
    machines: [...app.machines.values()].map((m) => ({
      id: m.id, name: m.name, state: m.state, region: m.region, instanceId: m.instanceId, config: m.config,
      minSecretsVersion: m.minSecretsVersion, bootSecretsVersion: m.bootSecretsVersion, failure: m.failure,
    })),
  };
}

function drift(app: App, b: Obj): void {
  const list = [...app.machines.values()];
  if (typeof b.image === "string") for (const m of list) m.config = { ...m.config, image: b.image };
  if (typeof b.deleteMachine === "string") {
    for (const m of list) if (b.deleteMachine === "*" || m.id === b.deleteMachine || m.name === b.deleteMachine) { clearTimers(m); app.machines.delete(m.id); }
  }
  if (typeof b.unsetSecret === "string") {
    app.secrets.delete(b.unsetSecret);
    app.secretsVersion++;
  }
  if (b.releaseIps === true) app.ips = [];
}

async function writeBack(s: FlyState, app: App, b: Obj): Promise<Obj> {
  const m = await routeToMachine(s, app);
  const env = m?.bootEnv ?? {};
  const base = env.SOULPRINT_CALLBACK_URL;
  if (!base || typeof b.name !== "string" || typeof b.content !== "string") return { error: "needs a running machine with SOULPRINT_CALLBACK_URL, and {name, content}" };
  const res = await fetch(`${base.replace(/\/+$/, "")}/api/container/workspace/${encodeURIComponent(b.name)}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${env.GATEWAY_TOKEN ?? ""}`, "x-soulprint-user": env.SOULPRINT_USER_ID ?? "", "content-type": "text/markdown; charset=utf-8" },
    body: b.content,
  });
  return { status: res.status, body: safeJson(Buffer.from(await res.arrayBuffer())) };
}

/** Everything back to empty (apps, foreign names, hung answers, faults, settings, the call log); the call numbers keep counting. */
export function reset(s: FlyState, newSeed: number): void {
  for (const app of s.apps.values()) removeApp(s, app);
  s.foreign.clear();
  for (const res of s.hung) res.destroy();
  s.hung.clear();
  s.rules = [];
  s.random = noRandomFaults();
  s.settings = { ...DEFAULT_SETTINGS };
  armIdleStop(s);
  s.seed = newSeed;
  s.rand = rng(s.seed);
  s.calls = [];
}
