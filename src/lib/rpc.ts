/**
 * Errors across the Durable Object RPC boundary. workerd serialises a thrown error to its name and
 * message only, so an HttpError's status and code would be lost; the object returns this tagged
 * result instead, and the Worker turns a failure back into the same HttpError.
 */
import { HttpError, errorInfo, type ErrorInfo } from "./errors.ts";

export type RpcResult<T> = { ok: true; value: T } | { ok: false; error: ErrorInfo };

/** Runs an actor method body, capturing any error as data. Unknown errors are logged here, once. */
export async function capture<T>(fn: () => T | Promise<T>): Promise<RpcResult<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (error) {
    const info = errorInfo(error);
    if (info.status >= 500) console.error(JSON.stringify({ event: "actor_error", code: info.code, error: error instanceof Error ? `${error.name}: ${error.message}`.slice(0, 300) : "unknown" }));
    return { ok: false, error: info };
  }
}

/** The success value of an RPC call, whatever promise wrapping the stub's types add. */
type RpcValue<P> = Awaited<P> extends infer R ? (R extends { ok: true; value: infer V } ? V : never) : never;

/** Unwraps an actor's result in the Worker, rethrowing a failure as the HttpError it was. */
export async function unwrap<P>(result: P): Promise<RpcValue<P>> {
  const settled = (await result) as unknown as RpcResult<RpcValue<P>>;
  if (settled.ok) return settled.value;
  const { status, code, message, headers } = settled.error;
  throw new HttpError(status, code, message, headers ?? {});
}
