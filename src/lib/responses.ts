/** Responses every route shares: JSON 404 / 405, and security headers. */
import type { IRequest } from "itty-router";
import { errorResponse, HttpError } from "./errors.ts";
import type { AppRouter } from "../routes/types.ts";

/** 405 with Allow when the path exists under another method, else 404 (itty-router only knows "no match"). */
export function notFoundOrNotAllowed(router: AppRouter, request: IRequest): Response {
  const path = new URL(request.url).pathname;
  const allowed = new Set<string>();
  for (const [method, pattern] of router.routes) {
    if (method && method !== "ALL" && pattern.test(path)) allowed.add(method);
  }
  if (allowed.size > 0) {
    if (allowed.has("GET")) allowed.add("HEAD");
    return errorResponse(new HttpError(405, "method_not_allowed", `${request.method} is not allowed here. Use ${[...allowed].join(", ")}.`, { allow: [...allowed].join(", ") }));
  }
  return errorResponse(new HttpError(404, "not_found", `Nothing at ${request.method} ${path.slice(0, 200)}. See the API in README.md.`));
}

/** API responses are data, never a page: forbid sniffing, framing and caching of personal data. */
export function withSecurityHeaders(response: Response): Response {
  if (response.status === 101 || response.webSocket) return response;
  const headers = new Headers(response.headers);
  headers.set("x-content-type-options", "nosniff");
  headers.set("x-frame-options", "DENY");
  headers.set("referrer-policy", "no-referrer");
  if (!headers.has("cache-control")) headers.set("cache-control", "no-store");
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}
