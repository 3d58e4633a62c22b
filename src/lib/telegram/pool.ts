/** How the Worker and the user objects reach the operator's bot pool, and what a claim hands over. */
import type { UserFromGetMe } from "grammy/types";
import type { BotPool } from "../../actors/bot-pool.ts";

/** A pool bot handed to one user: the token stays sealed with ENCRYPTION_KEY across the RPC. */
export interface PoolBot {
  botId: number;
  username: string;
  tokenSealed: string;
  botInfo: UserFromGetMe;
}

/** A pool bot as the operator sees it: never its token. */
export interface PoolEntry {
  botId: number;
  username: string;
  claimed: boolean;
  claimedBy: string | null;
  claimedAt: string | null;
  addedAt: string;
}

export type BotPoolStub = DurableObjectStub<BotPool>;

/** The one BotPool object of the deployment (a single object serialises every claim). */
export function botPool(env: Env): BotPoolStub {
  return env.BOT_POOL.get(env.BOT_POOL.idFromName("pool"));
}
