/** How the Worker and the user objects reach the operator's bot pool, and what a claim hands over. */
import type { UserFromGetMe } from "grammy/types";
import type { RpcResult } from "../rpc.ts";

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

/**
 * What a user's object asks of the pool (the BotPool actor implements it). Declared here, so lib
 * code depends on this contract and never on the actor.
 */
export interface BotPoolStub {
  claim(userId: string): Promise<RpcResult<PoolBot>>;
  release(userId: string, botId: number): Promise<RpcResult<{ released: boolean }>>;
  reserveOwn(userId: string, botId: number): Promise<RpcResult<null>>;
  releaseOwn(userId: string, botId: number): Promise<RpcResult<null>>;
}

/** The one BotPool object of the deployment (a single object serialises every claim). */
export function botPool(env: Env) {
  return env.BOT_POOL.get(env.BOT_POOL.idFromName("pool"));
}
