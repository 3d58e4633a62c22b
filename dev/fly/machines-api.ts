/**
 * The Fly stand-in's Machines API front door: the token check (401), the JSON body (400), fault
 * injection before or after the call (dev/fly/faults.ts), the call log (dev/fly/calls.ts), and the
 * routing of `/v1/apps/...` to the apps and machines routes. Unknown paths are Fly's 404, a wrong
 * method its 405, and a name another org owns its 403.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { isObject, readBody, sendJson } from "../standin-util.ts";
import { createApp, deleteApp, appJson, ipAssignments, listApps, secrets } from "./apps-routes.ts";
import { describeBody, routeOf } from "./calls.ts";
import { pickFault, sendFault } from "./faults.ts";
import { machines } from "./machine-routes.ts";
import { err, type Reply } from "./reply.ts";
import type { FlyState } from "./state.ts";
import type { Obj } from "./util.ts";

async function api(s: FlyState, method: string, path: string, query: URLSearchParams, body: unknown): Promise<Reply & { route: string; app: string | null }> {
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent); // v1, apps, :app, ...
  const appName = parts[2] ?? (method === "POST" && parts.length === 2 && isObject(body) ? String(body.app_name ?? body.name ?? "") || null : null);
  const route = routeOf(path);
  const done = (reply: Reply) => ({ ...reply, route: `${method} ${route}`, app: appName });
  if (parts[0] !== "v1" || parts[1] !== "apps") return done(err(404, "not found"));
  if (parts.length === 2) return done(method === "POST" ? createApp(s, body) : method === "GET" ? listApps(s, query) : err(405, "method not allowed"));
  const name = parts[2]!;
  if (s.foreign.has(name)) return done(err(403, "You are not authorized to access this app", "unauthorized"));
  const app = s.apps.get(name);
  if (!app) return done(err(404, `app not found: ${name}`, "not_found"));
  if (parts.length === 3) {
    if (method === "GET") return done({ status: 200, body: appJson(app) });
    if (method === "DELETE") return done(deleteApp(s, app, query.get("force") === "true"));
    return done(err(405, "method not allowed"));
  }
  switch (parts[3]) {
    case "secrets":
      return done(secrets(app, method, parts[4], body));
    case "ip_assignments":
      return done(ipAssignments(s, app, method, parts[4], body));
    case "machines":
      return done(await machines(s, app, method, parts[4], parts[5], query, body));
    default:
      return done(err(404, "not found"));
  }
}

export async function handleApi(s: FlyState, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const method = req.method ?? "GET";
  const raw = await readBody(req);
  const auth = req.headers.authorization ?? "";
  const presented = auth.replace(/^(Bearer|FlyV1)\s+/i, "");
  const record = (route: string, app: string | null, status: number | "hang", fault?: string) => {
    s.calls.push({ seq: ++s.seq, at: Date.now(), method, path: url.pathname, route, app, status, ...(fault ? { fault } : {}), ...(detail ? { detail } : {}) });
  };
  let detail: Obj | undefined;
  if (!/^(Bearer|FlyV1)\s+\S/i.test(auth) || (s.token !== undefined && presented !== s.token)) {
    record("unauthorized", null, 401);
    return sendJson(res, 401, { error: "unauthorized" });
  }
  let body: unknown;
  try {
    body = raw.length ? JSON.parse(raw.toString("utf8")) : undefined;
  } catch {
    record("bad_json", null, 400);
    return sendJson(res, 400, { error: "invalid JSON body" });
  }
  detail = describeBody(body);
  const parts = url.pathname.split("/").filter(Boolean);
  const appGuess = parts[2] ? decodeURIComponent(parts[2]) : isObject(body) ? String(body.app_name ?? body.name ?? "") || null : null;
  const fault = pickFault(s, method, url.pathname, appGuess);
  const inject = (route: string, app: string | null): void => {
    if (!fault) return;
    record(route, app, fault.hang ? "hang" : (fault.status ?? 503), fault.label);
    sendFault(s, res, fault);
  };
  if (fault?.phase === "before") return inject(`${method} ${routeOf(url.pathname)}`, appGuess);
  const reply = await api(s, method, url.pathname, url.searchParams, body);
  if (fault) return inject(reply.route, reply.app);
  record(reply.route, reply.app, reply.status);
  if (reply.body === undefined) {
    res.writeHead(reply.status, reply.headers ?? {});
    res.end();
  } else sendJson(res, reply.status, reply.body, reply.headers);
}
