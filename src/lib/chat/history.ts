/**
 * The conversation as stored: user messages keyed by the client's id (so a repeated id is found),
 * assistant replies linked to the message they answer. One history for every channel.
 */
import type { Sql } from "../sql.ts";
import type { Usage } from "../usage.ts";
import type { PromptTurn } from "./prompt.ts";

export type Channel = "web" | "http" | "telegram";
export type Via = "bedrock" | "container";
export type ReplyStatus = "queued" | "streaming" | "done" | "interrupted" | "cancelled" | "error";

export interface StoredImage {
  url: string;
  alt: string;
}

export interface HistoryMessage {
  id: string;
  role: "user" | "assistant";
  text: string;
  at: string;
  channel: Channel;
  via?: Via;
  images?: StoredImage[];
  replyTo?: string;
  status?: ReplyStatus;
}

export const CHAT_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    text TEXT NOT NULL DEFAULT '',
    at INTEGER NOT NULL,
    channel TEXT NOT NULL,
    conversation INTEGER NOT NULL DEFAULT 0,
    reply_to TEXT,
    via TEXT,
    status TEXT,
    images TEXT,
    input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens INTEGER NOT NULL DEFAULT 0, cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    image_count INTEGER NOT NULL DEFAULT 0, cost_usd REAL NOT NULL DEFAULT 0
  )`,
  "CREATE UNIQUE INDEX IF NOT EXISTS messages_id ON messages (role, id)",
  "CREATE INDEX IF NOT EXISTS messages_reply_to ON messages (reply_to)",
  `CREATE TABLE IF NOT EXISTS chat_state (id INTEGER PRIMARY KEY CHECK (id = 1), conversation INTEGER NOT NULL DEFAULT 0)`,
];

interface MessageRow {
  seq: number;
  id: string;
  role: "user" | "assistant";
  text: string;
  at: number;
  channel: Channel;
  conversation: number;
  reply_to: string | null;
  via: Via | null;
  status: ReplyStatus | null;
  images: string | null;
}

export interface StoredReply {
  id: string;
  replyTo: string;
  text: string;
  status: ReplyStatus;
  via: Via | null;
  images: StoredImage[];
  usage: Usage & { costUsd: number };
}

export class ChatHistory {
  constructor(private readonly sql: Sql) {}

  conversation(): number {
    return this.sql.one<{ conversation: number }>("SELECT conversation FROM chat_state WHERE id = 1")?.conversation ?? 0;
  }

  /** Starts a fresh conversation (Telegram /new): older messages stay in history but leave the model's context. */
  startNewConversation(): number {
    const next = this.conversation() + 1;
    this.sql.run("INSERT INTO chat_state (id, conversation) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET conversation = excluded.conversation", next);
    return next;
  }

  findUserMessage(clientId: string): { text: string; at: number; images: StoredImage[] } | null {
    const row = this.sql.one<{ text: string; at: number; images: string | null }>("SELECT text, at, images FROM messages WHERE role = 'user' AND id = ?", clientId);
    return row ? { text: row.text, at: row.at, images: parseImages(row.images) } : null;
  }

  /** `images`: what the person attached (photos, uploads), shown in history and sent to the model. */
  insertUserMessage(clientId: string, text: string, channel: Channel, at: number, images: StoredImage[] = []): void {
    this.sql.run(
      "INSERT INTO messages (id, role, text, at, channel, conversation, images) VALUES (?, 'user', ?, ?, ?, ?, ?)",
      clientId, text, at, channel, this.conversation(), images.length ? JSON.stringify(images) : null,
    );
  }

  insertReply(replyId: string, replyTo: string, channel: Channel, at: number, status: "queued" | "streaming"): void {
    this.sql.run(
      "INSERT INTO messages (id, role, text, at, channel, conversation, reply_to, status) VALUES (?, 'assistant', '', ?, ?, ?, ?, ?)",
      replyId, at, channel, this.conversation(), replyTo, status,
    );
  }

  saveReplyText(replyId: string, text: string): void {
    this.sql.run("UPDATE messages SET text = ? WHERE role = 'assistant' AND id = ?", text, replyId);
  }

  finishReply(replyId: string, fields: { text: string; status: ReplyStatus; via: Via | null; images: StoredImage[]; usage: Usage; costUsd: number }): void {
    const u = fields.usage;
    this.sql.run(
      `UPDATE messages SET text = ?, status = ?, via = ?, images = ?, input_tokens = ?, output_tokens = ?,
        cache_read_tokens = ?, cache_write_tokens = ?, image_count = ?, cost_usd = ? WHERE role = 'assistant' AND id = ?`,
      fields.text, fields.status, fields.via, fields.images.length ? JSON.stringify(fields.images) : null,
      u.inputTokens, u.outputTokens, u.cacheReadTokens, u.cacheWriteTokens, u.images, fields.costUsd, replyId,
    );
  }

  /**
   * A finished reply the container sent on its own (Telegram through the Worker): created on its
   * first part, its text replaced on each later part or edit; its place and time stay the first's.
   */
  saveContainerReply(fields: { id: string; replyTo: string | null; channel: Channel; text: string; at: number }): void {
    this.sql.run(
      `INSERT INTO messages (id, role, text, at, channel, conversation, reply_to, via, status) VALUES (?, 'assistant', ?, ?, ?, ?, ?, 'container', 'done')
       ON CONFLICT(role, id) DO UPDATE SET text = excluded.text`,
      fields.id, fields.text, fields.at, fields.channel, this.conversation(), fields.replyTo,
    );
  }

  findReplyTo(clientId: string): StoredReply | null {
    const row = this.sql.one<MessageRow & { input_tokens: number; output_tokens: number; cache_read_tokens: number; cache_write_tokens: number; image_count: number; cost_usd: number }>(
      "SELECT * FROM messages WHERE role = 'assistant' AND reply_to = ? ORDER BY seq DESC LIMIT 1",
      clientId,
    );
    if (!row) return null;
    return {
      id: row.id,
      replyTo: clientId,
      text: row.text,
      status: row.status ?? "done",
      via: row.via,
      images: parseImages(row.images),
      usage: {
        inputTokens: row.input_tokens,
        outputTokens: row.output_tokens,
        cacheReadTokens: row.cache_read_tokens,
        cacheWriteTokens: row.cache_write_tokens,
        images: row.image_count,
        costUsd: row.cost_usd,
      },
    };
  }

  /** Replies left "streaming" by an object that stopped mid-reply: keep their text, mark them interrupted. */
  markOrphansInterrupted(activeIds: Set<string>): number {
    const orphans = this.sql.all<{ id: string }>("SELECT id FROM messages WHERE role = 'assistant' AND status = 'streaming'").filter((r) => !activeIds.has(r.id));
    for (const { id } of orphans) this.sql.run("UPDATE messages SET status = 'interrupted' WHERE role = 'assistant' AND id = ?", id);
    return orphans.length;
  }

  /** A page of history, oldest first, ending before `before` (a message id) when given. */
  page(limit: number, before?: string): { messages: HistoryMessage[]; hasMore: boolean } {
    let beforeSeq = Number.MAX_SAFE_INTEGER;
    if (before) {
      const anchor = this.sql.one<{ seq: number }>("SELECT seq FROM messages WHERE id = ? ORDER BY role = 'assistant' DESC LIMIT 1", before);
      if (anchor) beforeSeq = anchor.seq;
    }
    const rows = this.sql.all<MessageRow>("SELECT * FROM messages WHERE seq < ? ORDER BY seq DESC LIMIT ?", beforeSeq, limit + 1);
    const hasMore = rows.length > limit;
    return { messages: rows.slice(0, limit).reverse().map(toHistoryMessage), hasMore };
  }

  /** Every message, oldest first (the user's data export). */
  all(): HistoryMessage[] {
    return this.sql.all<MessageRow>("SELECT * FROM messages ORDER BY seq").map(toHistoryMessage);
  }

  /**
   * The current conversation for the model up to (not including) the message `clientId`, oldest
   * first: messages queued after it are not part of its turn. Reads newest first and stops once
   * `maxChars` is used, so a 3,000-turn history costs one bounded query. Blank replies (failed,
   * cancelled before their first piece) come back too; `buildConversation` decides what they become.
   */
  turnsBefore(clientId: string, maxChars: number): PromptTurn[] {
    const anchor = this.sql.one<{ seq: number }>("SELECT seq FROM messages WHERE role = 'user' AND id = ?", clientId)?.seq ?? Number.MAX_SAFE_INTEGER;
    const rows = this.sql.all<PromptTurn & { images: string | null }>(
      "SELECT id, role, text, status, reply_to AS replyTo, images FROM messages WHERE conversation = ? AND seq < ? ORDER BY seq DESC LIMIT 2000",
      this.conversation(), anchor,
    );
    const picked: PromptTurn[] = [];
    let used = 0;
    for (const { images, ...row } of rows) {
      if (used + row.text.length > maxChars) break;
      used += row.text.length;
      const imageIds = row.role === "user" ? imageIdsOf(parseImages(images)) : [];
      picked.push(imageIds.length ? { ...row, imageIds } : row);
    }
    return picked.reverse();
  }

  /** Replies waiting for their turn, oldest first: the queue left behind by an evicted object. */
  queuedReplies(): { replyId: string; clientId: string; channel: Channel; text: string; imageIds: string[] }[] {
    return this.sql.all<{ replyId: string; clientId: string; channel: Channel; text: string; images: string | null }>(
      `SELECT a.id AS replyId, a.reply_to AS clientId, a.channel AS channel, u.text AS text, u.images AS images
         FROM messages a JOIN messages u ON u.role = 'user' AND u.id = a.reply_to
        WHERE a.role = 'assistant' AND a.status = 'queued' ORDER BY a.seq`,
    ).map(({ images, ...row }) => ({ ...row, imageIds: imageIdsOf(parseImages(images)) }));
  }

  /**
   * A note from the service itself (a scheduled job skipped over budget): shown in history like a
   * reply, but it answers no message (no reply_to), so the prompt builder never sends it to a model.
   */
  insertNote(id: string, text: string, at: number): void {
    this.sql.run("INSERT INTO messages (id, role, text, at, channel, conversation, status) VALUES (?, 'assistant', ?, ?, 'web', ?, 'done')", id, text, at, this.conversation());
  }

  /** Marks a queued reply as started. */
  startReply(replyId: string): void {
    this.sql.run("UPDATE messages SET status = 'streaming' WHERE role = 'assistant' AND id = ?", replyId);
  }
}

function toHistoryMessage(row: MessageRow): HistoryMessage {
  const message: HistoryMessage = { id: row.id, role: row.role, text: row.text, at: new Date(row.at).toISOString(), channel: row.channel };
  if (row.role === "assistant") {
    if (row.via) message.via = row.via;
    if (row.reply_to) message.replyTo = row.reply_to;
    message.status = row.status ?? "done";
  }
  if (row.images) message.images = parseImages(row.images);
  return message;
}

function parseImages(json: string | null): StoredImage[] {
  return json ? (JSON.parse(json) as StoredImage[]) : [];
}

/** The R2 ids of stored images (`/api/images/<id>`). */
export function imageIdsOf(images: StoredImage[]): string[] {
  return images.flatMap((image) => {
    const id = /\/api\/images\/([A-Za-z0-9_-]+)$/.exec(image.url)?.[1];
    return id ? [id] : [];
  });
}
