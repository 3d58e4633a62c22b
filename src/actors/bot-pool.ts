/**
 * BotPool: the operator's pool of Telegram bots, one object for the whole deployment so that no two
 * users can ever be handed the same bot. A claim is a read and a write with no `await` between
 * them, so it runs to the end before the object takes the next event: two users claiming at once
 * get two different bots (or one gets 409). The seed kept the pool in one KV key, which two claims
 * could both read before either wrote.
 */
import { DurableObject } from "cloudflare:workers";
import type { UserFromGetMe } from "grammy/types";
import { Sql } from "../lib/sql.ts";
import { migrate, type Migration } from "../lib/schema.ts";
import { capture, type RpcResult } from "../lib/rpc.ts";
import { HttpError } from "../lib/errors.ts";
import { loadConfig, requireSecret } from "../lib/config.ts";
import { decryptSecret, encryptSecret } from "../lib/crypto.ts";
import { createApi, fetchBotInfo } from "../lib/telegram/bot.ts";
import { logSafe } from "../lib/errors.ts";
import type { BotPoolStub, PoolBot, PoolEntry } from "../lib/telegram/pool.ts";

/** Tokens one request may add (each is checked with getMe). */
export const MAX_TOKENS_PER_ADD = 50;

const POOL_MIGRATIONS: Migration[] = [
  {
    version: 1,
    statements: [
      `CREATE TABLE IF NOT EXISTS pool_bots (
        bot_id INTEGER PRIMARY KEY,
        username TEXT NOT NULL,
        token_sealed TEXT NOT NULL,
        bot_info TEXT NOT NULL,
        claimed_by TEXT,
        claimed_at INTEGER,
        added_at INTEGER NOT NULL
      )`,
      "CREATE UNIQUE INDEX IF NOT EXISTS pool_bots_claimed_by ON pool_bots (claimed_by) WHERE claimed_by IS NOT NULL",
    ],
  },
  {
    // Users' own bots, by bot id: one holder each, so a second user's claim of the same token is 409.
    version: 2,
    statements: ["CREATE TABLE IF NOT EXISTS own_bots (bot_id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, claimed_at INTEGER NOT NULL)"],
  },
];

interface PoolRow {
  bot_id: number;
  username: string;
  token_sealed: string;
  bot_info: string;
  claimed_by: string | null;
  claimed_at: number | null;
  added_at: number;
}

export class BotPool extends DurableObject<Env> implements BotPoolStub {
  private readonly sql: Sql;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = new Sql(ctx.storage.sql);
    ctx.blockConcurrencyWhile(async () => {
      migrate(this.sql, ctx.storage, POOL_MIGRATIONS);
    });
  }

  /**
   * Adds bots: every token is checked with getMe first, and either all are added or none (a 400
   * names the one Telegram rejected). A bot already in the pool gets its new token and keeps its claim.
   */
  async add(tokens: string[]): Promise<RpcResult<{ added: { botId: number; username: string }[]; bots: PoolEntry[] }>> {
    return capture(async () => {
      if (tokens.length === 0 || tokens.length > MAX_TOKENS_PER_ADD) {
        throw new HttpError(400, "invalid_bot_tokens", `Send 1 to ${MAX_TOKENS_PER_ADD} bot tokens in botTokens.`);
      }
      const key = requireSecret(this.env, "ENCRYPTION_KEY");
      const config = loadConfig(this.env);
      const checked: { info: UserFromGetMe; sealed: string }[] = [];
      for (const [index, token] of tokens.entries()) {
        const info = await fetchBotInfo(config, token).catch((error: unknown) => {
          if (error instanceof HttpError) throw new HttpError(error.status, error.code, `botTokens[${index}]: ${error.message}`);
          throw error;
        });
        checked.push({ info, sealed: await encryptSecret(key, token) });
      }
      const now = Date.now();
      this.ctx.storage.transactionSync(() => {
        for (const { info, sealed } of checked) {
          this.sql.run(
            `INSERT INTO pool_bots (bot_id, username, token_sealed, bot_info, added_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT(bot_id) DO UPDATE SET username = excluded.username, token_sealed = excluded.token_sealed, bot_info = excluded.bot_info`,
            info.id, info.username, sealed, JSON.stringify(info), now,
          );
        }
      });
      console.log(JSON.stringify({ event: "pool_add", bots: checked.map((c) => c.info.username) }));
      return { added: checked.map((c) => ({ botId: c.info.id, username: c.info.username })), bots: this.entries() };
    });
  }

  async list(): Promise<RpcResult<{ bots: PoolEntry[]; free: number; claimed: number }>> {
    return capture(() => {
      const bots = this.entries();
      const claimed = bots.filter((b) => b.claimed).length;
      return { bots, free: bots.length - claimed, claimed };
    });
  }

  /**
   * Hands a free bot to `userId`, or the one it already holds (a retried claim must not take a
   * second bot). 409 `pool_empty` when none is free.
   */
  async claim(userId: string): Promise<RpcResult<PoolBot>> {
    return capture(() => {
      const held = this.sql.one<PoolRow>("SELECT * FROM pool_bots WHERE claimed_by = ?", userId);
      if (held) return toPoolBot(held);
      const free = this.sql.one<PoolRow>("SELECT * FROM pool_bots WHERE claimed_by IS NULL ORDER BY added_at, bot_id LIMIT 1");
      if (!free) {
        throw new HttpError(409, "pool_empty", "No shared bot is free right now. Create your own with @BotFather and send its token as botToken.");
      }
      this.sql.run("UPDATE pool_bots SET claimed_by = ?, claimed_at = ? WHERE bot_id = ? AND claimed_by IS NULL", userId, Date.now(), free.bot_id);
      console.log(JSON.stringify({ event: "pool_claim", bot: free.username }));
      return toPoolBot(free);
    });
  }

  /** Returns a bot to the pool; only its holder can. Returns whether it was released. */
  async release(userId: string, botId: number): Promise<RpcResult<{ released: boolean }>> {
    return capture(() => {
      const released = this.sql.run("UPDATE pool_bots SET claimed_by = NULL, claimed_at = NULL WHERE bot_id = ? AND claimed_by = ?", botId, userId) > 0;
      if (released) console.log(JSON.stringify({ event: "pool_release", botId }));
      return { released };
    });
  }

  /**
   * Records that `userId` holds its own bot `botId`: 409 when another user holds it, or when it is
   * one of the pool's bots (claiming it by token would move a webhook out from under its holder).
   */
  async reserveOwn(userId: string, botId: number): Promise<RpcResult<null>> {
    return capture(() => {
      if (this.sql.one("SELECT bot_id FROM pool_bots WHERE bot_id = ?", botId)) {
        throw new HttpError(409, "bot_taken", "This bot belongs to the operator's pool. Claim without a token to get a pool bot, or create your own with @BotFather.");
      }
      const holder = this.sql.one<{ user_id: string }>("SELECT user_id FROM own_bots WHERE bot_id = ?", botId);
      if (holder && holder.user_id !== userId) {
        throw new HttpError(409, "bot_taken", "Another account already uses this bot. Create a new bot with @BotFather, or release it from the other account first.");
      }
      this.sql.run("INSERT INTO own_bots (bot_id, user_id, claimed_at) VALUES (?, ?, ?) ON CONFLICT(bot_id) DO NOTHING", botId, userId, Date.now());
      return null;
    });
  }

  /** Forgets a user's own bot (only its holder can). */
  async releaseOwn(userId: string, botId: number): Promise<RpcResult<null>> {
    return capture(() => {
      this.sql.run("DELETE FROM own_bots WHERE bot_id = ? AND user_id = ?", botId, userId);
      return null;
    });
  }

  /** A pool bot by username, with its holder (for the operator's removal). */
  async find(username: string): Promise<RpcResult<{ botId: number; username: string; claimedBy: string | null }>> {
    return capture(() => {
      const row = this.sql.one<PoolRow>("SELECT * FROM pool_bots WHERE lower(username) = lower(?)", username.replace(/^@/, ""));
      if (!row) throw new HttpError(404, "bot_not_found", `There is no pool bot @${username.replace(/^@/, "").slice(0, 64)}.`);
      return { botId: row.bot_id, username: row.username, claimedBy: row.claimed_by };
    });
  }

  /** Removes an unclaimed pool bot: its webhook deleted, then its row. 409 while a user holds it. */
  async remove(botId: number): Promise<RpcResult<{ removed: string }>> {
    return capture(async () => {
      const row = this.sql.one<PoolRow>("SELECT * FROM pool_bots WHERE bot_id = ?", botId);
      if (!row) throw new HttpError(404, "bot_not_found", "There is no such pool bot.");
      if (row.claimed_by) throw new HttpError(409, "bot_claimed", `@${row.username} is held by a user; release it first.`);
      const token = await decryptSecret(requireSecret(this.env, "ENCRYPTION_KEY"), row.token_sealed);
      await createApi(loadConfig(this.env), token).deleteWebhook({ drop_pending_updates: true }).catch((error: unknown) => {
        console.warn(JSON.stringify({ event: "pool_remove_webhook_failed", bot: row.username, error: logSafe(error) }));
      });
      this.sql.run("DELETE FROM pool_bots WHERE bot_id = ? AND claimed_by IS NULL", botId);
      console.log(JSON.stringify({ event: "pool_remove", bot: row.username }));
      return { removed: row.username };
    });
  }

  private entries(): PoolEntry[] {
    return this.sql
      .all<PoolRow>("SELECT bot_id, username, claimed_by, claimed_at, added_at FROM pool_bots ORDER BY added_at, bot_id")
      .map((row) => ({
        botId: row.bot_id,
        username: row.username,
        claimed: row.claimed_by !== null,
        claimedBy: row.claimed_by,
        claimedAt: row.claimed_at === null ? null : new Date(row.claimed_at).toISOString(),
        addedAt: new Date(row.added_at).toISOString(),
      }));
  }
}

function toPoolBot(row: PoolRow): PoolBot {
  return { botId: row.bot_id, username: row.username, tokenSealed: row.token_sealed, botInfo: JSON.parse(row.bot_info) as UserFromGetMe };
}
