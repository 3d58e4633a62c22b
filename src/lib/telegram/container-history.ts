/**
 * The Telegram conversation a container answers, in the user's one history (API.md: messages the
 * container sends are stored "next to the update they answer", channel `telegram`, via `container`),
 * so the web app shows it too.
 *
 * - An update forwarded to the container is stored as the user's message (`tg-<update_id>`, the id
 *   the direct path uses too, so a forward that fails and is answered directly reuses it) before it
 *   is forwarded: the container may answer before the forward call returns. It becomes the chat's
 *   "last forwarded update".
 * - What the container then sends to that chat joins ONE assistant reply to that update: a reply
 *   split over several Telegram messages reads as one answer, as every other reply does (the web
 *   app pairs one reply with each message). Each Telegram message is a part of it
 *   (`telegram_container_sent`), so an edit (editMessageText, editMessageCaption) rewrites its part
 *   and the reply's text, and never adds a message. A message sent with no forwarded update before
 *   it stands alone.
 *
 * Open sockets see it as chat does: a `user` frame for the update; for each change of the reply, a
 * `delta` with its whole text followed by `done` (a web tab shows a `delta` after `done` as the
 * reply started over, so each pair replaces the text shown).
 */
import type { Sql } from "../sql.ts";
import type { ChatHistory, StoredImage } from "../chat/history.ts";
import type { ChatFrame } from "../chat/frames.ts";

export const CONTAINER_TELEGRAM_SCHEMA: string[] = [
  `CREATE TABLE IF NOT EXISTS telegram_forwarded (
    chat_id INTEGER PRIMARY KEY,
    client_id TEXT NOT NULL,
    at INTEGER NOT NULL
  )`,
  `CREATE TABLE IF NOT EXISTS telegram_container_sent (
    chat_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    reply_id TEXT NOT NULL,
    text TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (chat_id, message_id)
  )`,
  "CREATE INDEX IF NOT EXISTS telegram_container_sent_reply ON telegram_container_sent (reply_id, at)",
];

/** The fields of a sent Telegram Message this history uses. */
export interface SentMessage {
  message_id: number;
  chat: { id: number };
  text?: string;
  caption?: string;
  photo?: unknown[];
  document?: { file_name?: string };
}

const ZERO_USAGE = { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: 0 };

export class ContainerTelegramHistory {
  constructor(
    private readonly sql: Sql,
    private readonly history: ChatHistory,
    private readonly broadcast: (frame: ChatFrame) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Stores a forwarded update as the user's message (once), with the photo it carried (already kept
   * in R2), and makes it the one the chat's next replies answer.
   */
  recordForwarded(updateId: number, chatId: number, text: string, images: StoredImage[] = []): string {
    const clientId = `tg-${updateId}`;
    const at = this.now();
    if (!this.history.findUserMessage(clientId)) {
      this.history.insertUserMessage(clientId, text, "telegram", at, images);
      this.broadcast({ type: "user", id: clientId, text, at: new Date(at).toISOString(), channel: "telegram", ...(images.length ? { images } : {}) });
    }
    this.sql.run(
      "INSERT INTO telegram_forwarded (chat_id, client_id, at) VALUES (?, ?, ?) ON CONFLICT(chat_id) DO UPDATE SET client_id = excluded.client_id, at = excluded.at",
      chatId, clientId, at,
    );
    return clientId;
  }

  /** Whether the container has sent anything in answer to the user's message `clientId`. */
  answered(clientId: string): boolean {
    return this.sql.one("SELECT 1 AS yes FROM telegram_container_sent WHERE reply_id = ? LIMIT 1", replyIdFor(clientId)) !== null;
  }

  /** A message the container sent (sendMessage, sendPhoto, sendDocument): a new part of the reply to the chat's last forwarded update. */
  recordSent(message: SentMessage): void {
    const chatId = message.chat.id;
    const forwarded = this.sql.one<{ client_id: string }>("SELECT client_id FROM telegram_forwarded WHERE chat_id = ?", chatId);
    const replyTo = forwarded?.client_id ?? null;
    const replyId = replyTo ? replyIdFor(replyTo) : `tgc-${chatId}-${message.message_id}`;
    this.sql.run(
      "INSERT INTO telegram_container_sent (chat_id, message_id, reply_id, text, at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(chat_id, message_id) DO UPDATE SET text = excluded.text",
      chatId, message.message_id, replyId, describe(message), this.now(),
    );
    this.refresh(replyId, replyTo);
  }

  /** An edit of a message the container sent: its part changes; an edit of any other message is not ours to store. */
  recordEdited(message: SentMessage): void {
    const part = this.sql.one<{ reply_id: string }>("SELECT reply_id FROM telegram_container_sent WHERE chat_id = ? AND message_id = ?", message.chat.id, message.message_id);
    if (!part) return;
    this.sql.run("UPDATE telegram_container_sent SET text = ? WHERE chat_id = ? AND message_id = ?", describe(message), message.chat.id, message.message_id);
    const replyTo = this.sql.one<{ reply_to: string | null }>("SELECT reply_to FROM messages WHERE role = 'assistant' AND id = ?", part.reply_id)?.reply_to ?? null;
    this.refresh(part.reply_id, replyTo);
  }

  /** Rewrites the reply from its parts and shows it to open sockets. */
  private refresh(replyId: string, replyTo: string | null): void {
    const parts = this.sql.all<{ text: string }>("SELECT text FROM telegram_container_sent WHERE reply_id = ? ORDER BY at, message_id", replyId);
    const text = parts.map((p) => p.text).filter((t) => t !== "").join("\n\n");
    this.history.saveContainerReply({ id: replyId, replyTo, channel: "telegram", text, at: this.now() });
    // A reply with no update before it is keyed by its own id, as the web app keys a reply without a message.
    const id = replyTo ?? replyId;
    this.broadcast({ type: "delta", id, text });
    this.broadcast({ type: "done", id, messageId: replyId, via: "container", usage: ZERO_USAGE });
  }
}

/** The one reply the container's messages to a forwarded update make up. */
function replyIdFor(clientId: string): string {
  return `tgc-${clientId}`;
}

/** The text a sent message stands for in history: its text, or its caption after what it carried. */
function describe(message: SentMessage): string {
  if (typeof message.text === "string") return message.text;
  const caption = typeof message.caption === "string" ? message.caption : "";
  const carried = message.photo ? "[photo]" : message.document ? `[document${message.document.file_name ? `: ${message.document.file_name}` : ""}]` : "";
  return [carried, caption].filter((s) => s !== "").join(" ");
}
