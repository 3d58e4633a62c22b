/**
 * Fly's proxy in front of each app's container, under `/_apps/<app>/...` (FLY_APP_URL =
 * `http://HOST:PORT/_apps/{app}`): an app without public IPs does not resolve (the connection is
 * dropped), a request to an app whose machines are stopped or suspended wakes one first after a
 * wake delay (`autostart`), and every request is logged for `/__control/apps/:app/requests`. The
 * container's routes, with the secrets its machine booted with: `GET /health`,
 * `POST /v1/chat/completions` (Bearer GATEWAY_TOKEN) and `POST /telegram-webhook`
 * (X-Telegram-Bot-Api-Secret-Token); what they answer is dev/fly/container.ts.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { readBody, sendJson, sleep } from "../standin-util.ts";
import { answerTelegram, chat } from "./container.ts";
import { startMachine } from "./lifecycle.ts";
import type { App, FlyState, Machine } from "./state.ts";
import { safeJson, type Obj } from "./util.ts";

export async function handleProxy(s: FlyState, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const parts = url.pathname.split("/");
  const name = decodeURIComponent(parts[2] ?? "");
  const path = `/${parts.slice(3).join("/")}`;
  const app = s.apps.get(name);
  const raw = await readBody(req);
  // No app, or an app without public IPs: `<app>.fly.dev` does not resolve. A connection error is the honest answer.
  if (!app || !app.ips.some((i) => i.type === "shared_v4" || i.type === "v6" || i.type === "v4")) {
    res.destroy();
    return;
  }
  if (app.behaviour.refuseWhileWaking && ![...app.machines.values()].some((x) => x.state === "started")) {
    void routeToMachine(s, app); // starts it, as the proxy would, but this request is refused meanwhile
    return sendJson(res, 502, { error: `${name} is starting` });
  }
  const m = await routeToMachine(s, app);
  if (!m) return sendJson(res, 503, { error: `no machine of ${name} could take the request` });
  m.lastRequestAt = Date.now();
  const env = m.bootEnv ?? {};
  const entry: Obj = { at: Date.now(), method: req.method, path, machine: m.id, authorized: false };
  const workspaceVersion = req.headers["x-soulprint-workspace-version"];
  if (typeof workspaceVersion === "string") entry.workspaceVersion = workspaceVersion;
  app.requests.push(entry);
  if (app.requests.length > 200) app.requests.shift();
  if (req.method === "GET" && path === "/health") {
    if (app.healthFailures > 0) {
      app.healthFailures--;
      return sendJson(res, 503, { ok: false, error: "starting" });
    }
    return sendJson(res, 200, { ok: true, app: name, machine: m.id });
  }
  if (req.method === "POST" && path === "/v1/chat/completions") {
    if (!env.GATEWAY_TOKEN || req.headers.authorization !== `Bearer ${env.GATEWAY_TOKEN}`) {
      return sendJson(res, 401, { error: { message: "Invalid gateway token", type: "invalid_request_error", code: "invalid_api_key" } });
    }
    entry.authorized = true;
    return chat(res, app, m, env, raw, entry);
  }
  if (req.method === "POST" && path === "/telegram-webhook") {
    const secret = req.headers["x-telegram-bot-api-secret-token"];
    if (!env.TELEGRAM_WEBHOOK_SECRET || secret !== env.TELEGRAM_WEBHOOK_SECRET) return sendJson(res, 401, { ok: false, error: "bad secret" });
    entry.authorized = true;
    entry.body = safeJson(raw);
    sendJson(res, 200, { ok: true });
    // Like the real image: answer the chat through the Worker's Bot API route (npm run dev; under
    // vitest the Worker has no port and the stand-in stays silent).
    void answerTelegram(env, entry.body);
    return;
  }
  return sendJson(res, 404, { error: "not found" });
}

/** Fly's proxy: a started machine, or one woken (`autostart`) after the wake delay. */
export async function routeToMachine(s: FlyState, app: App): Promise<Machine | null> {
  const all = [...app.machines.values()].sort((a, b) => a.name.localeCompare(b.name));
  const up = all.find((m) => m.state === "started");
  if (up) return up;
  const booting = all.find((m) => m.state === "starting" || m.state === "replacing");
  const sleeping = all.find((m) => ["stopped", "suspended", "created"].includes(m.state) && autostartOn(m));
  const target = booting ?? sleeping;
  if (!target) return null;
  if (target === sleeping) startMachine(s, app, target, target.state === "suspended" ? s.settings.resumeDelayMs : (app.behaviour.wakeDelayMs ?? s.settings.wakeDelayMs));
  const until = Date.now() + 30_000;
  while (Date.now() < until && target.state !== "started" && target.state !== "failed" && target.state !== "destroyed") await sleep(5);
  return target.state === "started" ? target : null;
}

function autostartOn(m: Machine): boolean {
  const services = Array.isArray(m.config.services) ? (m.config.services as Obj[]) : [];
  return services.some((s) => s.autostart === true);
}
