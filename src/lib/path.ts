/**
 * The one path decoder. itty-router hands route parameters over still percent-encoded, and
 * `decodeURIComponent` throws on a malformed escape (`%E0`, `%zz`), which used to surface as a 500.
 * `checkPathEncoding` runs before any route (so every route, present and future, answers 400), and
 * `pathParam` is how handlers read a parameter.
 */
import type { IRequest } from "itty-router";
import { HttpError } from "./errors.ts";

const badEncoding = () => new HttpError(400, "invalid_path", "The path is not valid URL encoding (a % must start a valid UTF-8 escape like %40).");

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw badEncoding();
  }
}

/** Router `before` step: a malformed escape anywhere in the path is 400 before routing or auth. */
export function checkPathEncoding(request: Request): undefined {
  const path = new URL(request.url).pathname;
  if (path.includes("%")) for (const segment of path.split("/")) decodeSegment(segment);
  return undefined;
}

/** A route parameter, decoded (empty when absent). */
export function pathParam(request: IRequest, name: string): string {
  return decodeSegment(request.params[name] ?? "");
}
