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
import { encryptSecret } from "../lib/crypto.ts";
import { fetchBotInfo } from "../lib/telegram/bot.ts";
import type { PoolBot, PoolEntry } from "../lib/telegram/pool.ts";

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

export class BotPool extends DurableObject<Env> {
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
