/**
 * The Fly stand-in's log of Machines API calls, so tests and benchmarks can count what a client
 * cost (`GET /__control/calls?since=&app=`): one entry per call, with its route pattern, app,
 * status (or "hang"), injected fault, and what the body said without secret values.
 */
import { isObject } from "../standin-util.ts";
import type { FlyState } from "./state.ts";
import type { Obj } from "./util.ts";

export interface Call { seq: number; at: number; method: string; path: string; route: string; app: string | null; status: number | "hang"; fault?: string; detail?: Obj }

/** `/v1/apps/sp-x/machines/abc/wait` → `/v1/apps/:app/machines/:id/wait`, for counts per route. */
export function routeOf(path: string): string {
  const p = path.split("/").filter(Boolean);
  const named = p[3] === "machines" ? ":id" : p[3] === "ip_assignments" ? ":ip" : ":name";
  return "/" + [p[0], p[1], p[2] && ":app", p[3], p[4] && named, p[5]].filter((x) => x).join("/");
}

/** What a test may want to know of a request without its secret values: names, flags, versions. */
export function describeBody(body: unknown): Obj | undefined {
  if (!isObject(body)) return undefined;
  const out: Obj = {};
  if (isObject(body.values)) {
    out.set = Object.entries(body.values).filter(([, v]) => v !== null).map(([k]) => k).sort();
    out.unset = Object.entries(body.values).filter(([, v]) => v === null).map(([k]) => k).sort();
  }
  for (const key of ["skip_launch", "min_secrets_version", "name", "type"]) if (key in body) out[key] = body[key];
  return Object.keys(out).length > 0 ? out : undefined;
}

/** The calls after `since` (of one app, if given): counts per app and per route, and the last 500. */
export function callSummary(s: FlyState, since: number, app: string | null): Obj {
  const window = s.calls.filter((c) => c.seq > since && (!app || c.app === app));
  const byApp: Record<string, number> = {};
  const byRoute: Record<string, number> = {};
  for (const c of window) {
    const a = c.app ?? "-";
    byApp[a] = (byApp[a] ?? 0) + 1;
    byRoute[c.route] = (byRoute[c.route] ?? 0) + 1;
  }
  return { seq: s.seq, total: window.length, byApp, byRoute, calls: window.slice(-500) };
}
