/**
 * Anthropic's Messages API on the wire, as the container's client (OpenClaw's `anthropic-messages`
 * provider) expects it: SSE events named by their `type`, and every error as
 * `{ type: "error", error: { type, message } }` with Anthropic's status for that type.
 */
import type { ErrorInfo } from "../errors.ts";

export type AnthropicErrorType =
  /** Ours (API.md): today's budget is spent; sent with status 429 and `retry-after`. */
  | "budget_exceeded"
  | "invalid_request_error"
  | "authentication_error"
  | "permission_error"
  | "not_found_error"
  | "request_too_large"
  | "rate_limit_error"
  | "api_error"
  | "overloaded_error";

/** Anthropic's error type for one of our statuses (API.md errors keep their message). */
export function anthropicErrorType(status: number): AnthropicErrorType {
  if (status === 401) return "authentication_error";
  if (status === 403) return "permission_error";
  if (status === 404) return "not_found_error";
  if (status === 413) return "request_too_large";
  if (status === 429) return "rate_limit_error";
  if (status === 529 || status === 503) return "overloaded_error";
  if (status >= 400 && status < 500) return "invalid_request_error";
  return "api_error";
}

export function anthropicErrorBody(type: AnthropicErrorType, message: string): { type: "error"; error: { type: AnthropicErrorType; message: string } } {
  return { type: "error", error: { type, message } };
}

/** An error response in Anthropic's shape; `retry-after` and the like are kept. */
export function anthropicErrorResponse(info: ErrorInfo): Response {
  // Clients act on the status (429 with retry-after); the type says which kind of 429 it is.
  const type = info.code === "budget_exceeded" ? "budget_exceeded" : anthropicErrorType(info.status);
  return Response.json(anthropicErrorBody(type, info.message), { status: info.status, headers: info.headers ?? {} });
}

const encoder = new TextEncoder();

/** One SSE event as Anthropic sends it: the event name is the payload's `type`. */
export function sseEvent(payload: { type: string }): Uint8Array {
  return encoder.encode(`event: ${payload.type}\ndata: ${JSON.stringify(payload)}\n\n`);
}
