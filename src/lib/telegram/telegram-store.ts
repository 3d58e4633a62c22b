/** SQL access to the Telegram tables of `telegram-schema.ts`: the claimed bot, the inbox, strangers told. */
import type { UserFromGetMe } from "grammy/types";
import type { Sql } from "../sql.ts";
import type { Plan } from "./reply-plan.ts";

/** How long a handled update's id is remembered (Telegram keeps an undelivered update ≤ 24 h). */
export const HANDLED_RETENTION_MS = 48 * 3600_000;
/** A stranger is told "this companion is private" at most once in this window. */
export const STRANGER_WINDOW_MS = 24 * 3600_000;

export interface BotRecord {
  botId: number;
  username: string;
  tokenSealed: string;
  webhookSecret: string;
  botInfo: UserFromGetMe;
  fromPool: boolean;
  ownerChatId: number | null;
  linkCode: string | null;
  lastUpdateId: number | null;
  claimedAt: number;
}

export interface InboxRow {
  updateId: number;
  botId: number;
  body: string;
  plan: Plan | null;
  sent: number;
  attempts: number;
  /** The message this reply streamed into by edits, if any. */
  streamMessageId: number | null;
}

interface BotRow {
  bot_id: number;
  username: string;
  token_sealed: string;
  webhook_secret: string;
  bot_info: string;
  from_pool: number;
  owner_chat_id: number | null;
  link_code: string | null;
  last_update_id: number | null;
  claimed_at: number;
}

interface InboxDbRow {
  update_id: number;
  bot_id: number;
  body: string;
  plan: string | null;
  sent: number;
  attempts: number;
  stream_message_id: number | null;
}

/** The claimed bot's webhook secret (a Fly app needs it to take forwarded updates), or null. Never its token. */
export function webhookSecretOf(sql: Sql): string | null {
  return new TelegramStore(sql).bot()?.webhookSecret ?? null;
}

export class TelegramStore {
  constructor(
    private readonly sql: Sql,
    private readonly now: () => number = Date.now,
  ) {}

  bot(): BotRecord | null {
    const row = this.sql.one<BotRow>("SELECT * FROM telegram_bot WHERE id = 1");
    if (!row) return null;
    return {
      botId: row.bot_id,
      username: row.username,
      tokenSealed: row.token_sealed,
      webhookSecret: row.webhook_secret,
      botInfo: JSON.parse(row.bot_info) as UserFromGetMe,
      fromPool: row.from_pool === 1,
      ownerChatId: row.owner_chat_id,
      linkCode: row.link_code,
      lastUpdateId: row.last_update_id,
      claimedAt: row.claimed_at,
    };
  }

  /**
   * Stores a (re)claimed bot. The same bot claimed again keeps its owner chat and inbox (a new link
   * code can still move it); another bot starts clean: its update ids and chats are unrelated.
   */
  saveBot(bot: { botId: number; tokenSealed: string; webhookSecret: string; botInfo: UserFromGetMe; fromPool: boolean; linkCode: string }): void {
    const previous = this.bot();
    const sameBot = previous?.botId === bot.botId;
    if (!sameBot) this.clearUpdates();
    this.sql.run(
      `INSERT INTO telegram_bot (id, bot_id, username, token_sealed, webhook_secret, bot_info, from_pool, owner_chat_id, link_code, last_update_id, claimed_at)
       VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET bot_id = excluded.bot_id, username = excluded.username, token_sealed = excluded.token_sealed,
         webhook_secret = excluded.webhook_secret, bot_info = excluded.bot_info, from_pool = excluded.from_pool,
         owner_chat_id = excluded.owner_chat_id, link_code = excluded.link_code, last_update_id = excluded.last_update_id, claimed_at = excluded.claimed_at`,
      bot.botId, bot.botInfo.username, bot.tokenSealed, bot.webhookSecret, JSON.stringify(bot.botInfo), bot.fromPool ? 1 : 0,
      sameBot ? previous.ownerChatId : null, bot.linkCode, sameBot ? previous.lastUpdateId : null, this.now(),
    );
  }

  /** Forgets the bot and everything received through it. */
  clearBot(): void {
    this.sql.run("DELETE FROM telegram_bot");
    this.clearUpdates();
  }

  /** Redeems the link code: this chat is the owner's from now on, and the code is spent. */
  bindOwner(chatId: number): void {
    this.sql.run("UPDATE telegram_bot SET owner_chat_id = ?, link_code = NULL WHERE id = 1", chatId);
  }

  /** Stores an update; false when its id was seen before (a redelivery). */
  insertUpdate(updateId: number, botId: number, body: string): boolean {
    return this.sql.run("INSERT INTO telegram_inbox (update_id, bot_id, body, received_at) VALUES (?, ?, ?, ?) ON CONFLICT(update_id) DO NOTHING", updateId, botId, body, this.now()) > 0;
  }

  /** The oldest pending update by id: updates are handled in Telegram's order, whatever their arrival. */
  nextPending(): InboxRow | null {
    const row = this.sql.one<InboxDbRow>("SELECT update_id, bot_id, body, plan, sent, attempts, stream_message_id FROM telegram_inbox WHERE state = 'pending' ORDER BY update_id LIMIT 1");
    if (!row) return null;
    return {
      updateId: row.update_id, botId: row.bot_id, body: row.body, plan: row.plan === null ? null : (JSON.parse(row.plan) as Plan),
      sent: row.sent, attempts: row.attempts, streamMessageId: row.stream_message_id,
    };
  }

  pendingCount(): number {
    return this.sql.one<{ n: number }>("SELECT COUNT(*) AS n FROM telegram_inbox WHERE state = 'pending'")?.n ?? 0;
  }

  savePlan(updateId: number, plan: Plan): void {
    this.sql.run("UPDATE telegram_inbox SET plan = ?, sent = 0 WHERE update_id = ? AND state = 'pending'", JSON.stringify(plan), updateId);
  }

  /** The message a reply is streaming into (edit mode), recorded before it is edited again. */
  markStreamMessage(updateId: number, messageId: number): void {
    this.sql.run("UPDATE telegram_inbox SET stream_message_id = ? WHERE update_id = ?", messageId, updateId);
  }

  markSent(updateId: number, sent: number): void {
    this.sql.run("UPDATE telegram_inbox SET sent = ? WHERE update_id = ?", sent, updateId);
  }

  /** The update is answered: keep only its id (for deduplication), and note it as the last handled. */
  markDone(updateId: number): void {
    this.sql.run("UPDATE telegram_inbox SET state = 'done', body = '', plan = NULL, last_error = NULL, handled_at = ? WHERE update_id = ?", this.now(), updateId);
    this.sql.run("UPDATE telegram_bot SET last_update_id = MAX(COALESCE(last_update_id, 0), ?) WHERE id = 1", updateId);
  }

  /** Counts a failed attempt at an update; returns the attempts so far. */
  recordFailure(updateId: number, error: string): number {
    this.sql.run("UPDATE telegram_inbox SET attempts = attempts + 1, last_error = ? WHERE update_id = ?", error.slice(0, 300), updateId);
    return this.sql.one<{ attempts: number }>("SELECT attempts FROM telegram_inbox WHERE update_id = ?", updateId)?.attempts ?? 0;
  }

  /** Forgets handled ids older than the retention, and strangers told long ago. */
  prune(): void {
    const now = this.now();
    this.sql.run("DELETE FROM telegram_inbox WHERE state = 'done' AND handled_at < ?", now - HANDLED_RETENTION_MS);
    this.sql.run("DELETE FROM telegram_strangers WHERE told_at < ?", now - STRANGER_WINDOW_MS);
  }

  /** True when this chat should be told it is talking to a private companion (and records that it was). */
  shouldTellStranger(chatId: number): boolean {
    const now = this.now();
    const told = this.sql.one<{ told_at: number }>("SELECT told_at FROM telegram_strangers WHERE chat_id = ?", chatId);
    if (told && now - told.told_at < STRANGER_WINDOW_MS) return false;
    this.sql.run("INSERT INTO telegram_strangers (chat_id, told_at) VALUES (?, ?) ON CONFLICT(chat_id) DO UPDATE SET told_at = excluded.told_at", chatId, now);
    return true;
  }

  /** Forgets what came through a bot: message ids are per bot, so another bot's could collide with these. */
  private clearUpdates(): void {
    this.sql.run("DELETE FROM telegram_inbox");
    this.sql.run("DELETE FROM telegram_strangers");
    this.sql.run("DELETE FROM telegram_forwarded");
    this.sql.run("DELETE FROM telegram_container_sent");
  }
}
