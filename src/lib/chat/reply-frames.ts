/** A finished reply as every channel sees it: the result, its `done` frame, and a replay of it. */
import type { Usage } from "../usage.ts";
import type { ReplyStatus, StoredImage, Via } from "./history.ts";
import type { ChatFrame, UsageSummary } from "./frames.ts";

export interface ReplyResult {
  id: string;
  messageId: string;
  text: string;
  via: Via;
  status: ReplyStatus;
  usage: UsageSummary;
  images: StoredImage[];
  /** Why the reply failed (status `error` or `interrupted`), as told to the person. */
  error?: { code: string; message: string };
}

export function doneFrame(result: ReplyResult): ChatFrame {
  return { type: "done", id: result.id, messageId: result.messageId, via: result.via, usage: result.usage, ...(result.status === "cancelled" ? { status: "cancelled" as const } : {}) };
}

/** The frames that show a finished reply again to a client that repeated its id. */
export function replayFrames(result: ReplyResult): ChatFrame[] {
  const frames: ChatFrame[] = [];
  if (result.text) frames.push({ type: "delta", id: result.id, text: result.text });
  for (const image of result.images) frames.push({ type: "image", id: result.id, url: image.url, alt: image.alt });
  if (result.status === "interrupted" || result.status === "error") {
    frames.push({ type: "error", id: result.id, messageId: result.messageId, code: result.status === "error" ? "reply_failed" : "interrupted", message: "This reply did not finish; what arrived is shown." });
  } else {
    frames.push(doneFrame(result));
  }
  return frames;
}

export function usageSummary(usage: Usage, cost: number): UsageSummary {
  return { inputTokens: usage.inputTokens, outputTokens: usage.outputTokens, cacheReadTokens: usage.cacheReadTokens, cacheWriteTokens: usage.cacheWriteTokens, costUsd: cost };
}
