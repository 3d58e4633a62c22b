/**
 * What a frame from the web chat's WebSocket does (API.md, "WebSocket"): `chat` sends a message
 * (counted against the same per-user limit as `POST /api/chat`), `history` pages back, `cancel`
 * stops or drops a reply. Answers go to that one socket; the reply itself reaches every socket.
 */
import { enforceLimit } from "../rate-limit.ts";
import type { ObjectContext } from "../object-context.ts";
import type { ChatEngine } from "./chat-engine.ts";
import type { ChatHistory } from "./history.ts";
import type { ChatFrame } from "./frames.ts";
import type { ClientFrame } from "./socket-hub.ts";

export interface SocketFrameDeps {
  chat: ChatEngine;
  history: ChatHistory;
  /** Sends a frame to the socket the client frame came from. */
  reply(frame: ChatFrame): void;
}

export async function handleClientFrame(ctx: ObjectContext, deps: SocketFrameDeps, frame: ClientFrame): Promise<void> {
  switch (frame.type) {
    case "chat":
      // The same per-user limit as POST /api/chat, counted across every channel.
      await enforceLimit(ctx.env.RATE_LIMIT_USER, `chat:${ctx.owner().userId}`, "messages");
      await deps.chat.send({ clientId: frame.id, text: frame.text, channel: "web", images: frame.images }, { replayTo: deps.reply });
      return;
    case "history": {
      const before = typeof frame.before === "string" && frame.before.length <= 64 ? frame.before : undefined;
      deps.reply({ type: "history", ...deps.history.page(clampLimit(frame.limit), before) });
      return;
    }
    case "cancel":
      if (typeof frame.id !== "string" || !deps.chat.cancel(frame.id)) {
        deps.reply({ type: "error", ...(typeof frame.id === "string" ? { id: frame.id } : {}), code: "not_running", message: "There is no reply in progress with that id." });
      }
      return;
  }
}

function clampLimit(value: unknown): number {
  const n = typeof value === "number" && Number.isFinite(value) ? Math.floor(value) : 50;
  return Math.max(1, Math.min(200, n));
}
