/**
 * Error classes by where a failure came from (grammY's GrammyError / HttpError split is the model),
 * and the one describer that turns any thrown value into what a client, a person reading a failed
 * reply (web, SSE, Telegram) or a log line may see.
 */

/**
 * The base of every error this project throws on purpose: each subclass names where the failure
 * came from, carries its cause, and keeps its fields readonly. `describeError` below turns any of
 * them into what a person or a log line may see. Fields are declared, not parameter properties, so
 * Node's type stripping can load this module (the container's tests import lib code that uses it).
 */
export class AppError extends Error {}

/** Our own checks failed: bad input, no credentials, not allowed, not found, conflict, too large. */
export class HttpError extends AppError {
  override readonly name = "HttpError";
  readonly status: number;
  readonly code: string;
  readonly headers: Record<string, string>;
  constructor(status: number, code: string, message: string, headers: Record<string, string> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

/** An upstream service (Bedrock, Fly, Telegram, a container) answered with an error. */
export class UpstreamError extends AppError {
  override readonly name = "UpstreamError";
  readonly service: string;
  readonly status: number;
  readonly code: string;
  constructor(service: string, status: number, code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.service = service;
    this.status = status;
    this.code = code;
  }
}

/**
 * A step that cannot finish yet (Fly still deleting an app, a machine that did not wake): the job
 * running it tries again with its backoff. Never shown to a person as such.
 */
export class RetryLaterError extends AppError {
  override readonly name = "RetryLaterError";
}

/** A state the code never expects (a bug, or storage written by something else): a 500, logged. */
export class InvariantError extends AppError {
  override readonly name = "InvariantError";
}

/** An upstream could not be reached at all: connection refused, reset, or timed out. */
export class UnreachableError extends AppError {
  override readonly name = "UnreachableError";
  readonly service: string;
  readonly timedOut: boolean;
  constructor(service: string, message: string, timedOut = false, options?: { cause?: unknown }) {
    super(message, options);
    this.service = service;
    this.timedOut = timedOut;
  }
}

/** The JSON error shape of API.md. */
export interface ErrorBody {
  error: { code: string; message: string };
}

export interface ErrorInfo {
  status: number;
  code: string;
  message: string;
  headers?: Record<string, string>;
}

/**
 * Who reads the description: `api` is a response of API.md; `reply` is a failed reply as the person
 * sees it on every channel (an upstream there is always the model, possibly through the container).
 */
export type Audience = "api" | "reply";

/** Maps any thrown value to a status, code and message that are safe to show. */
export function describeError(err: unknown, audience: Audience = "api"): ErrorInfo {
  if (err instanceof HttpError) {
    return { status: err.status, code: err.code, message: err.message, headers: err.headers };
  }
  if (err instanceof UpstreamError) {
    // An upstream fault is never our 500: 429 and 5xx upstream mean "try again later".
    const status = err.status === 429 || err.status >= 500 ? 503 : 502;
    return { status, code: audience === "reply" ? "model_unavailable" : `${err.service}_error`, message: `${err.message} Try again in a moment.` };
  }
  if (err instanceof UnreachableError) {
    return {
      status: err.timedOut ? 504 : 502,
      code: audience === "reply" ? "model_unreachable" : `${err.service}_unreachable`,
      message: `${err.message} Try again in a moment.`,
    };
  }
  if (audience === "reply") return { status: 500, code: "reply_failed", message: "The reply failed on our side. Try again." };
  return { status: 500, code: "internal_error", message: "Something went wrong on our side. Try again; if it keeps failing, tell us." };
}

/** The error as plain data, so it survives a Durable Object RPC boundary (which drops class fields). */
export function errorInfo(err: unknown): ErrorInfo {
  const info = describeError(err);
  return { status: info.status, code: info.code, message: info.message, headers: info.headers ?? {} };
}

/** The JSON error response of API.md. */
export function errorResponse(err: unknown): Response {
  const info = describeError(err);
  const body: ErrorBody = { error: { code: info.code, message: info.message } };
  return new Response(JSON.stringify(body), {
    status: info.status,
    headers: { "content-type": "application/json; charset=utf-8", ...info.headers },
  });
}

/** The fields of grammY's GrammyError, matched by shape so this module needs no Telegram import. */
interface BotApiFailure {
  method: string;
  error_code: number;
  description: string;
}

function isBotApiFailure(err: unknown): err is BotApiFailure {
  const e = err as Partial<BotApiFailure> | null;
  return typeof e === "object" && e !== null && typeof e.method === "string" && typeof e.error_code === "number" && typeof e.description === "string";
}

/** A short, secret-free description of an error for a log line (a Bot API failure as method, code, text). */
export function logSafe(err: unknown): string {
  let text: string;
  if (isBotApiFailure(err)) text = `${err.method} ${err.error_code}: ${err.description}`;
  else if (err instanceof Error) text = `${err.name}: ${err.message}`;
  else text = String(err);
  return redactTokens(text).slice(0, 300);
}

/** Replaces anything shaped like a bot token (alone or in a `/bot<token>/` URL) with a placeholder. */
export function redactTokens(text: string): string {
  return text.replace(/\d{1,20}:[A-Za-z0-9_-]{30,80}/g, "<bot-token>");
}
