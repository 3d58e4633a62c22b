/** How a failed reply is described to the person, on every channel. */
import { HttpError, UnreachableError, UpstreamError } from "../errors.ts";

export function describeForUser(error: unknown): { code: string; message: string } {
  if (error instanceof HttpError) return { code: error.code, message: error.message };
  if (error instanceof UpstreamError) return { code: "model_unavailable", message: `${error.message} Try again in a moment.` };
  if (error instanceof UnreachableError) return { code: "model_unreachable", message: `${error.message} Try again in a moment.` };
  return { code: "reply_failed", message: "The reply failed on our side. Try again." };
}
