/** The server → client frames of API.md, shared by WebSocket, SSE and Telegram sinks. */
import type { HistoryMessage, StoredImage, Via } from "./history.ts";

export interface UsageSummary {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  costUsd: number;
}

export type ChatFrame =
  | { type: "hello"; userId: string; tier: string; mode: "direct" | "container"; fly: { state: string }; pending: { id: string; text: string; status?: "queued" | "streaming" }[] }
  | { type: "user"; id: string; text: string; at: string; channel?: string; images?: StoredImage[] }
  | { type: "status"; id: string; status: "queued" | "thinking" | "waking_container" | "tool"; detail?: string }
  | { type: "delta"; id: string; text: string }
  | { type: "image"; id: string; url: string; alt: string }
  | { type: "done"; id: string; messageId: string; via: Via; usage: UsageSummary; status?: "cancelled" }
  | { type: "error"; id?: string; messageId?: string; code: string; message: string }
  | { type: "history"; messages: HistoryMessage[]; hasMore: boolean }
  | { type: "fly"; state: string; step: string | null; detail?: string }
  | { type: "workspace"; name: string; sha256: string | null; version: number; conflict?: boolean };

export type FrameListener = (frame: ChatFrame) => void;
