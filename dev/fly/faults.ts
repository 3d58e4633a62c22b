/**
 * Fault injection on the Fly stand-in's Machines API: rules a test sets (`on`: a method, a path
 * pattern, an app, n times) and a seeded random rate of 429s, 5xx answers and hangs. A fault in
 * phase "before" refuses the call before any work; in phase "after" the call takes effect and then
 * its answer is lost, which is what a client's retry logic must survive. Set through
 * `/__control/faults` (dev/fly/control.ts).
 */
import type { ServerResponse } from "node:http";
import { isObject, sendJson } from "../standin-util.ts";
import type { FlyState } from "./state.ts";
import { rng, type Obj } from "./util.ts";

export interface FaultRule {
  method?: string; pathPattern?: string; status?: number; hang?: boolean; phase: "before" | "after";
  times: number; retryAfterS: number; app?: string;
}
export interface RandomFaults { rate: number; kinds: string[]; phase: "before" | "after" | "mixed"; retryAfterS: number; appPattern?: string }
export interface Fault { status?: number; hang?: boolean; phase: "before" | "after"; retryAfterS: number; label: string }

export const noRandomFaults = (): RandomFaults => ({ rate: 0, kinds: ["429", "5xx"], phase: "before", retryAfterS: 1 });

/** The fault for this call, if any: the first matching rule with uses left, else a random draw. */
export function pickFault(s: FlyState, method: string, path: string, app: string | null): Fault | null {
  for (const rule of s.rules) {
    if (rule.times <= 0) continue;
    if (rule.method && rule.method.toUpperCase() !== method) continue;
    if (rule.pathPattern && !new RegExp(rule.pathPattern).test(path)) continue;
    if (rule.app && rule.app !== app) continue;
    rule.times--;
    return { status: rule.status, hang: rule.hang, phase: rule.phase, retryAfterS: rule.retryAfterS, label: rule.hang ? `hang:${rule.phase}` : `${rule.status}:${rule.phase}` };
  }
  const random = s.random;
  if (random.rate > 0 && (!random.appPattern || new RegExp(random.appPattern).test(app ?? "")) && s.rand() < random.rate) {
    const kind = random.kinds[Math.floor(s.rand() * random.kinds.length)] ?? "5xx";
    const phase = random.phase === "mixed" ? (s.rand() < 0.5 ? "before" : "after") : random.phase;
    // A 429 is refused before any work, as a rate limiter does.
    if (kind === "429") return { status: 429, phase: "before", retryAfterS: random.retryAfterS, label: "429:before" };
    if (kind === "hang") return { hang: true, phase, retryAfterS: 0, label: `hang:${phase}` };
    const status = [500, 502, 503][Math.floor(s.rand() * 3)] ?? 503;
    return { status, phase, retryAfterS: 0, label: `${status}:${phase}` };
  }
  return null;
}

/** Answers a call with its fault: a hang holds the answer open (until the client or a reset drops it). */
export function sendFault(s: FlyState, res: ServerResponse, fault: Fault): void {
  if (fault.hang) {
    s.hung.add(res);
    res.on("close", () => s.hung.delete(res));
    return;
  }
  const status = fault.status ?? 503;
  const headers: Record<string, string> = status === 429 ? { "retry-after": String(fault.retryAfterS) } : {};
  sendJson(res, status, status === 429 ? { error: "rate limit exceeded", status: "rate_limited" } : { error: "internal server error (injected)", status: "unknown" }, headers);
}

/** POST /__control/faults: a new seed, a random rate, and/or one more rule. */
export function addFaults(s: FlyState, b: Obj): void {
  if (typeof b.seed === "number") s.rand = rng((s.seed = b.seed));
  if (typeof b.rate === "number") {
    s.random = {
      rate: b.rate,
      kinds: Array.isArray(b.kinds) ? b.kinds.map(String) : s.random.kinds,
      phase: b.phase === "after" || b.phase === "mixed" ? b.phase : "before",
      retryAfterS: typeof b.retryAfterS === "number" ? b.retryAfterS : 1,
      appPattern: typeof b.appPattern === "string" ? b.appPattern : undefined,
    };
  }
  if (isObject(b.on)) {
    const on = b.on;
    s.rules.push({
      method: typeof on.method === "string" ? on.method : undefined,
      pathPattern: typeof on.pathPattern === "string" ? on.pathPattern : undefined,
      status: typeof on.status === "number" ? on.status : undefined,
      hang: on.hang === true,
      phase: on.phase === "after" ? "after" : "before",
      times: typeof on.times === "number" ? on.times : 1,
      retryAfterS: typeof on.retryAfterS === "number" ? on.retryAfterS : 1,
      app: typeof on.app === "string" ? on.app : undefined,
    });
  }
}

/** DELETE /__control/faults[?app=]: `only` clears that app's rules, so test files sharing the stand-in stay apart. */
export function clearFaults(s: FlyState, only: string | null): void {
  s.rules = only ? s.rules.filter((r) => r.app !== only) : [];
  if (!only) s.random = { ...s.random, rate: 0 };
}
