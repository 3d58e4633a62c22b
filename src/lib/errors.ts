/**
 * Error classes by where a failure came from (grammY's GrammyError / HttpError split is the model),
 * and the one place that turns any of them into the JSON body of API.md.
 */

/**
 * The base of every error this project throws on purpose: each subclass names where the failure
 * came from, carries its cause, and keeps its fields readonly. `describeError` below turns any of
 * them into what a person or a log line may see.
 */
export class AppError extends Error {}

/** Our own checks failed: bad input, no credentials, not allowed, not found, conflict, too large. */
export class HttpError extends AppError {
  override readonly name = "HttpError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** An upstream service (Bedrock, Fly, Telegram, a container) answered with an error. */
export class UpstreamError extends AppError {
  override readonly name = "UpstreamError";
  constructor(
    readonly service: string,
    readonly status: number,
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** An upstream could not be reached at all: connection refused, reset, or timed out. */
export class UnreachableError extends AppError {
  override readonly name = "UnreachableError";
  constructor(
    readonly service: string,
    message: string,
    readonly timedOut = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
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

/** Maps any thrown value to a status, code and message that are safe to show to a client. */
export function describeError(err: unknown): ErrorInfo {
  if (err instanceof HttpError) {
    return { status: err.status, code: err.code, message: err.message, headers: err.headers };
  }
  if (err instanceof UpstreamError) {
    // An upstream fault is never our 500: 429 and 5xx upstream mean "try again later".
    const status = err.status === 429 || err.status >= 500 ? 503 : 502;
    return { status, code: `${err.service}_error`, message: `${err.message} Try again in a moment.` };
  }
  if (err instanceof UnreachableError) {
    return {
      status: err.timedOut ? 504 : 502,
      code: `${err.service}_unreachable`,
      message: `${err.message} Try again in a moment.`,
    };
  }
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

/** A short, secret-free description of an error for a log line. */
export function logSafe(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`.slice(0, 300);
  return String(err).slice(0, 300);
}
