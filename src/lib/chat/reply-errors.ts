/** How a failed reply is described to the person, on every channel. */
import { HttpError } from "../errors.ts";

export function describeForUser(error: unknown): { code: string; message: string } {
  const info = error as { status?: number; code?: string; message?: string; name?: string };
  if (error instanceof HttpError) return { code: error.code, message: error.message };
  if (info?.name === "UpstreamError" || info?.name === "UnreachableError") {
    return { code: info.name === "UpstreamError" ? "model_unavailable" : "model_unreachable", message: `${info.message ?? "The model service failed."} Try again in a moment.` };
  }
  return { code: "reply_failed", message: "The reply failed on our side. Try again." };
}
