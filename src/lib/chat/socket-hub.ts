/**
 * The WebSocket side of web chat, on the hibernation API: the object may leave memory between
 * frames while sockets stay open. Parses client frames, enforces per-socket size and rate limits,
 * and fans server frames out to every tab of the user.
 */
import { describeError } from "../errors.ts";
import type { ChatFrame } from "./frames.ts";

export const MAX_FRAME_BYTES = 160 * 1024;
/** Token bucket per socket: bursts of 20 frames, then 2 per second. */
const RATE_BURST = 20;
const RATE_PER_SECOND = 2;

export type ClientFrame =
  | { type: "chat"; id: unknown; text: unknown; images?: unknown }
  | { type: "history"; before?: unknown; limit?: unknown }
  | { type: "cancel"; id: unknown };

export interface SocketHandlers {
  onFrame(ws: WebSocket, frame: ClientFrame): Promise<void>;
}

export class SocketHub {
  // In memory only: after hibernation every socket simply starts with a full bucket.
  private readonly buckets = new WeakMap<WebSocket, { tokens: number; at: number }>();

  constructor(private readonly ctx: DurableObjectState) {}

  /** Accepts an upgrade: returns the client end, already registered for hibernation. */
  accept(firstFrame: ChatFrame): Response {
    const pair = new WebSocketPair();
    const [client, server] = Object.values(pair) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server);
    server.send(JSON.stringify(firstFrame));
    return new Response(null, { status: 101, webSocket: client });
  }

  broadcast(frame: ChatFrame): void {
    const sockets = this.ctx.getWebSockets();
    if (sockets.length === 0) return;
    const data = JSON.stringify(frame);
    for (const ws of sockets) safeSend(ws, data);
  }

  send(ws: WebSocket, frame: ChatFrame): void {
    safeSend(ws, JSON.stringify(frame));
  }

  async onMessage(ws: WebSocket, message: string | ArrayBuffer, handlers: SocketHandlers): Promise<void> {
    const size = typeof message === "string" ? message.length * 3 : message.byteLength;
    if (size > MAX_FRAME_BYTES && (typeof message !== "string" || new TextEncoder().encode(message).byteLength > MAX_FRAME_BYTES)) {
      return this.sendError(ws, "frame_too_large", `A frame may be at most ${MAX_FRAME_BYTES / 1024} KiB.`);
    }
    if (!this.take(ws)) return this.sendError(ws, "rate_limited", "Too many frames; slow down and try again in a few seconds.");
    if (typeof message !== "string") return this.sendError(ws, "invalid_frame", "Frames are JSON text, not binary.");
    const frame = parseClientFrame(message);
    if (typeof frame === "string") return this.sendError(ws, "invalid_frame", frame);
    try {
      await handlers.onFrame(ws, frame);
    } catch (error) {
      const info = describeError(error);
      const id = "id" in frame && typeof frame.id === "string" ? frame.id : undefined;
      this.send(ws, { type: "error", ...(id ? { id } : {}), code: info.code, message: info.message });
    }
  }

  private sendError(ws: WebSocket, code: string, message: string): void {
    this.send(ws, { type: "error", code, message });
  }

  private take(ws: WebSocket): boolean {
    const now = Date.now();
    const bucket = this.buckets.get(ws) ?? { tokens: RATE_BURST, at: now };
    bucket.tokens = Math.min(RATE_BURST, bucket.tokens + ((now - bucket.at) / 1000) * RATE_PER_SECOND);
    bucket.at = now;
    this.buckets.set(ws, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}

/** A client frame, or a message saying what is wrong with it. */
export function parseClientFrame(text: string): ClientFrame | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return "A frame must be a JSON object, like {\"type\":\"chat\",\"id\":\"1\",\"text\":\"hi\"}.";
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "A frame must be a JSON object.";
  const frame = value as Record<string, unknown>;
  switch (frame.type) {
    case "chat":
      return { type: "chat", id: frame.id, text: frame.text, images: frame.images };
    case "history":
      return { type: "history", before: frame.before, limit: frame.limit };
    case "cancel":
      return { type: "cancel", id: frame.id };
    default:
      return `Unknown frame type ${JSON.stringify(String(frame.type ?? "")).slice(0, 40)}: use chat, history or cancel.`;
  }
}

function safeSend(ws: WebSocket, data: string): void {
  try {
    ws.send(data);
  } catch {
    // The socket closed between listing and sending; its close handler cleans up.
  }
}
