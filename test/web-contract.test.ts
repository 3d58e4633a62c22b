/**
 * The web app's copy of the server's types (web/types.ts) checked against the server's own: every
 * frame the Worker sends must be one the page's types describe (a compile error otherwise, in
 * `npm run typecheck`), and the page's parser must accept each kind of frame the server builds.
 */
import { describe, expect, it } from "vitest";
import type { ChatFrame } from "../src/lib/chat/frames.ts";
import type { HistoryMessage as ServerHistoryMessage } from "../src/lib/chat/history.ts";
import type { DayUsage } from "../src/lib/usage.ts";
import { parseServerFrame, type HistoryMessage, type ServerFrame, type UsageDay } from "../web/types.ts";

// Compile-time: each server shape is assignable to the page's.
const asPageFrame = (frame: ChatFrame): ServerFrame => frame;
const asPageMessage = (message: ServerHistoryMessage): HistoryMessage => message;
const asPageUsageDay = (day: DayUsage): UsageDay => day;

describe("the web app's types against the server's", () => {
  it("parses every kind of frame the server sends", () => {
    const message: ServerHistoryMessage = { id: "a", role: "user", text: "hi", at: new Date(0).toISOString(), channel: "web" };
    const usage = { inputTokens: 1, outputTokens: 2, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: 0.0001 };
    const frames: ChatFrame[] = [
      { type: "hello", userId: "u", tier: "free", mode: "direct", fly: { state: "none" }, pending: [{ id: "a", text: "", status: "queued" }] },
      { type: "user", id: "a", text: "hi", at: new Date(0).toISOString(), channel: "web" },
      { type: "status", id: "a", status: "queued" },
      { type: "delta", id: "a", text: "Hel" },
      { type: "image", id: "a", url: "/api/images/img_x", alt: "a cat" },
      { type: "done", id: "a", messageId: "m", via: "bedrock", usage },
      { type: "error", id: "a", code: "budget_exceeded", message: "Later." },
      { type: "history", messages: [message], hasMore: false },
      { type: "fly", state: "provisioning", step: "create_app" },
      { type: "workspace", name: "SOUL.md", sha256: "x", version: 2 },
    ];
    for (const frame of frames) {
      const parsed = parseServerFrame(JSON.stringify(asPageFrame(frame)));
      expect(parsed, frame.type).not.toBeNull();
      expect(parsed!.type).toBe(frame.type);
    }
    expect(asPageMessage(message).text).toBe("hi");
    expect(asPageUsageDay).toBeTypeOf("function");
  });
});
