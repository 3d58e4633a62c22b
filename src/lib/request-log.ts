/**
 * One structured JSON log line per request: id, route, status, duration and a hash of the user id
 * (never the id, email, token or body). The request id is returned as `x-request-id` too.
 */
import type { IRequest } from "itty-router";
import { sha256Hex } from "./crypto.ts";

interface RequestMeta {
  requestId: string;
  startedAt: number;
  userId?: string;
}

const meta = new WeakMap<object, RequestMeta>();

/** The user as logs name them: a short keyed hash, so log lines of one user can be grouped but not traced back. */
export async function userLogHash(userId: string): Promise<string> {
  return (await sha256Hex(`log:${userId}`)).slice(0, 12);
}

export function startRequest(request: Request): void {
  meta.set(request, { requestId: request.headers.get("cf-ray") ?? crypto.randomUUID(), startedAt: Date.now() });
}

/** Remembers who made the request, for the log line (called by authentication). */
export function noteUser(request: Request, userId: string): void {
  const entry = meta.get(request);
  if (entry) entry.userId = userId;
}

export async function logRequest(request: IRequest, response: Response): Promise<Response> {
  const entry = meta.get(request);
  if (!entry) return response;
  const line = {
    event: "request",
    requestId: entry.requestId,
    method: request.method,
    route: request.route ?? "(none)",
    status: response.status,
    ms: Date.now() - entry.startedAt,
    user: entry.userId ? await userLogHash(entry.userId) : undefined,
  };
  console.log(JSON.stringify(line));
  if (response.status === 101 || response.webSocket) return response;
  response.headers.set("x-request-id", entry.requestId);
  return response;
}
