/**
 * One structured JSON log line per request: id, route, status, duration and a hash of the user id
 * (never the id, email, token or body). The request id is returned as `x-request-id` too.
 */
import type { IRequest } from "itty-router";
import { hmacSha256Hex } from "./crypto.ts";
import { derivedKey } from "./keys.ts";

interface RequestMeta {
  requestId: string;
  startedAt: number;
  userId?: string;
}

const meta = new WeakMap<object, RequestMeta>();

/**
 * The user as logs name them: a short HMAC under a key derived from AUTH_SECRET. User ids are
 * public (Fly app names, webhook URLs), so a plain hash of one could be recomputed by anyone who
 * reads the logs; without the key, lines of one user can be grouped but not traced back.
 */
export async function userLogHash(env: Env, userId: string): Promise<string> {
  return (await hmacSha256Hex(await derivedKey(env, "log-hash"), `log:${userId}`)).slice(0, 12);
}

export function startRequest(request: Request): void {
  meta.set(request, { requestId: request.headers.get("cf-ray") ?? crypto.randomUUID(), startedAt: Date.now() });
}

/** Remembers who made the request, for the log line (called by authentication). */
export function noteUser(request: Request, userId: string): void {
  const entry = meta.get(request);
  if (entry) entry.userId = userId;
}

export async function logRequest(request: IRequest, response: Response, env: Env): Promise<Response> {
  const entry = meta.get(request);
  if (!entry) return response;
  const line = {
    event: "request",
    requestId: entry.requestId,
    method: request.method,
    route: request.route ?? "(none)",
    status: response.status,
    ms: Date.now() - entry.startedAt,
    user: entry.userId ? await userLogHash(env, entry.userId).catch(() => "unkeyed") : undefined,
  };
  console.log(JSON.stringify(line));
  if (response.status === 101 || response.webSocket) return response;
  response.headers.set("x-request-id", entry.requestId);
  return response;
}
