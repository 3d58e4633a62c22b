/**
 * Wire pieces shared by the Bedrock stand-in's Converse path (dev/bedrock-standin.ts) and its
 * Claude InvokeModel path (dev/bedrock-anthropic.ts): AWS event-stream frames, restJson1 errors,
 * the in-stream exception table, text splitting, the streaming of a plan's text pieces with its
 * fault, and the stand-in's token estimate. One place, so both paths fail and frame exactly alike.
 */
import { EventStreamCodec } from "@smithy/eventstream-codec";
import { fromUtf8, toUtf8 } from "@smithy/util-utf8";
import { randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import { sendJson, sleep } from "./standin-util.ts";

export type Obj = Record<string, unknown>;

/** Routes a request to its test's scripted replies: the first `[[scenario:KEY]]` in its text. */
export const MARKER = /\[\[scenario:([^\]\s]+)\]\]/;

/** In-stream exception names (frame `:exception-type`) → HTTP equivalent used by non-streaming calls. */
export const STREAM_EXCEPTIONS = {
  throttlingException: [429, "ThrottlingException", "Too many requests, please wait before trying again."],
  modelStreamErrorException: [424, "ModelErrorException", "The model stream was interrupted."],
  internalServerException: [500, "InternalServerException", "The server encountered an internal error."],
  serviceUnavailableException: [503, "ServiceUnavailableException", "Bedrock is unable to process your request."],
  validationException: [400, "ValidationException", "Scripted validation error."],
} as const;
export type StreamExceptionName = keyof typeof STREAM_EXCEPTIONS;

const codec = new EventStreamCodec(toUtf8, fromUtf8);
const PAD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/** Real Bedrock pads event payloads with a random-length `"p"` field (hides token lengths); the SDK drops it. */
export function frame(eventType: string, payload: Obj): Uint8Array {
  const p = PAD.slice(0, 1 + Math.floor(Math.random() * PAD.length));
  return codec.encode({
    headers: {
      ":event-type": { type: "string", value: eventType },
      ":content-type": { type: "string", value: "application/json" },
      ":message-type": { type: "string", value: "event" },
    },
    body: fromUtf8(JSON.stringify({ ...payload, p })),
  });
}

export function exceptionFrame(name: string, body: Obj): Uint8Array {
  return codec.encode({
    headers: {
      ":exception-type": { type: "string", value: name },
      ":content-type": { type: "string", value: "application/json" },
      ":message-type": { type: "string", value: "exception" },
    },
    body: fromUtf8(JSON.stringify(body)),
  });
}

/** The body of an in-stream exception frame, as Bedrock sends it for that exception. */
export function exceptionBody(name: StreamExceptionName, message?: string): Obj {
  const extra = name === "modelStreamErrorException" ? { originalStatusCode: 500, originalMessage: "Internal server error" } : {};
  return { message: message ?? STREAM_EXCEPTIONS[name][2], ...extra };
}

/** restJson1 error: status + `x-amzn-ErrorType` + `{"message"}`, exactly what the SDK parses. */
export function awsError(res: ServerResponse, status: number, type: string, message: string): void {
  sendJson(res, status, { message }, {
    "x-amzn-errortype": `${type}:http://internal.amazon.com/coral/com.amazon.bedrock/`,
    "x-amzn-requestid": randomUUID(),
  });
}

/** Splits text into `n` nearly equal pieces on code point boundaries (never splits a surrogate pair). */
export function split(text: string, n: number): string[] {
  const cps = Array.from(text);
  const count = Math.max(1, Math.min(n, cps.length));
  const size = Math.ceil(cps.length / count);
  const out: string[] = [];
  for (let i = 0; i < cps.length; i += size) out.push(cps.slice(i, i + size).join(""));
  return out.length ? out : [""];
}

/** The stand-in's deterministic token estimate: ceil(chars / 4). */
export const tokens = (chars: number): number => Math.ceil(chars / 4);

/** One prompt unit in cache order (tools → system → messages); a unit with `cachePoint` is a prefix end. */
export interface PromptUnit { id: string; chars: number; cachePoint?: Obj }

/** Prompt-side usage of one call, in Bedrock's terms (input excludes cache reads and writes). */
export interface PromptUsage { input: number; read: number; write: number; writeTtl?: "5m" | "1h" }

/** A successful (or mid-stream failing) answer, as planned from a scripted reply or the default. */
export interface Plan {
  text: string;
  toolUses: { name: string; input: unknown; toolUseId?: string }[];
  useBench: boolean;
  pieces: number;
  delayMs: number;
  stopReason: string;
  /** A stream exception name, "hang", or undefined for a clean end. */
  fault: string | undefined;
  afterPieces: number;
  message: string | undefined;
}

/** A hung answer: nothing more is sent until the client goes away. */
export const hangUntilClosed = (res: ServerResponse) => new Promise<void>((r) => res.once("close", () => r()));

/** How one path frames the text block of a streamed answer (open and close only when there is text). */
export interface TextFrames { open(): void; piece(text: string): void; close(): void }

/**
 * Streams a plan's text in its pieces, `delayMs` apart, with the plan's fault before piece
 * `afterPieces` (or after the last): an exception frame that ends the stream, or a hang. Both paths
 * stream text this way and differ only in their frames. Resolves to the characters sent, or to
 * null when the stream is over (the fault, or the client went away) and nothing more may be sent.
 */
export async function streamText(res: ServerResponse, p: Plan, frames: TextFrames): Promise<number | null> {
  const alive = () => !res.destroyed && !res.writableEnded;
  const pieces = p.useBench ? Array.from({ length: p.pieces }, () => "") : p.text ? split(p.text, p.pieces) : [];
  const fault = async (): Promise<boolean> => {
    if (!p.fault) return false;
    if (p.fault === "hang") { await hangUntilClosed(res); return true; }
    if (alive()) res.write(exceptionFrame(p.fault, exceptionBody(p.fault as StreamExceptionName, p.message)));
    res.end();
    return true;
  };
  let chars = 0;
  if (pieces.length) frames.open();
  for (const [i, piece] of pieces.entries()) {
    if (i === p.afterPieces && (await fault())) return null;
    await sleep(p.delayMs);
    if (!alive()) return null;
    // Benchmark pieces carry their own write time so a client can measure arrival minus write.
    const text = p.useBench ? `⟨t=${(performance.timeOrigin + performance.now()).toFixed(3)}⟩` : piece;
    chars += text.length;
    frames.piece(text);
  }
  if (p.afterPieces >= pieces.length && (await fault())) return null;
  if (pieces.length) frames.close();
  return chars;
}
