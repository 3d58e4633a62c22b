/** Request parsing with limits, and JSON responses. */
import { HttpError } from "./errors.ts";

export const MAX_JSON_BYTES = 256 * 1024;

export function json(data: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(data), { status, headers: { "content-type": "application/json; charset=utf-8", ...headers } });
}

/**
 * Reads a request body as bytes, refusing more than `maxBytes` without buffering all of it
 * (a lying or absent Content-Length is caught while streaming).
 */
export async function readText(request: Request, maxBytes: number): Promise<string> {
  const bytes = await readBytes(request, maxBytes);
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new HttpError(400, "invalid_encoding", "The body must be UTF-8 text.");
  }
}

/** Reads a body as bytes, refusing more than `maxBytes` (with `tooBig`, or 413 `body_too_large`) while streaming. */
export async function readBytes(request: Pick<Request, "headers" | "body">, maxBytes: number, tooBig: () => Error = () => tooLarge(maxBytes)): Promise<Uint8Array> {
  const declared = Number(request.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > maxBytes) throw tooBig();
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw tooBig();
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/** Reads a JSON object body: 415 for another content type, 400 for malformed JSON or a non-object. */
export async function readJsonObject(request: Request, maxBytes = MAX_JSON_BYTES): Promise<Record<string, unknown>> {
  const type = request.headers.get("content-type") ?? "";
  if (!/^application\/json\b/i.test(type.trim())) {
    throw new HttpError(415, "unsupported_media_type", "Send a JSON body with Content-Type: application/json.");
  }
  const text = await readText(request, maxBytes);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HttpError(400, "invalid_json", "The body is not valid JSON.");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new HttpError(400, "invalid_json", "The body must be a JSON object.");
  }
  return value as Record<string, unknown>;
}

/** An optional body: empty is `{}`, otherwise it must be a JSON object. */
export async function readOptionalJsonObject(request: Request, maxBytes = MAX_JSON_BYTES): Promise<Record<string, unknown>> {
  const length = request.headers.get("content-length");
  if (!request.body || length === "0") return {};
  if (!request.headers.get("content-type")) {
    const text = await readText(request, maxBytes);
    if (text.trim() === "") return {};
    throw new HttpError(415, "unsupported_media_type", "Send a JSON body with Content-Type: application/json.");
  }
  return readJsonObject(request, maxBytes);
}

function tooLarge(maxBytes: number): HttpError {
  return new HttpError(413, "body_too_large", `The body may be at most ${Math.floor(maxBytes / 1024)} KiB.`);
}
