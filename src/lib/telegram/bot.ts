/**
 * grammY for the Bot API: `new Bot(token, { botInfo, client: { apiRoot } })` with the stored getMe
 * answer (no getMe per update), a bounded 429 retry, and errors described without the token.
 *
 * The 429 retry is bounded on purpose (reference §2.3): an unbounded `retry_after` of minutes would
 * hold the object's alarm. A longer wait surfaces as the 429 itself (`retryAfterMs`), which the
 * inbox turns into a rescheduled job instead of a sleeping one.
 */
import { Api, Bot, GrammyError, HttpError as GrammyHttpError } from "grammy/web";
import type { Transformer } from "grammy/web";
import type { UserFromGetMe } from "grammy/types";
import type { Config } from "../config.ts";
import { HttpError, UnreachableError, UpstreamError } from "../errors.ts";

/** A bot token: `<bot id>:<secret>`. Checked before use so nothing else ever lands in a Bot API URL. */
export const BOT_TOKEN_PATTERN = /^\d{1,20}:[A-Za-z0-9_-]{30,80}$/;

/** Bot API requests time out after this (grammY's default is 500 s). */
const REQUEST_TIMEOUT_SECONDS = 30;
/** At most this many in-place retries of a 429, each waiting at most MAX_INLINE_WAIT_SECONDS. */
const MAX_INLINE_RETRIES = 3;
const MAX_INLINE_WAIT_SECONDS = 10;

/** The client options every Bot and Api here share; `fetch` may count calls (upstream-meter.ts). */
function clientOptions(config: Config, fetcher?: typeof fetch) {
  return { apiRoot: config.telegramApiRoot, timeoutSeconds: REQUEST_TIMEOUT_SECONDS, ...(fetcher ? { fetch: fetcher } : {}) };
}

/** A Bot for a claimed bot, with its stored getMe answer. */
export function createBot(config: Config, token: string, botInfo: UserFromGetMe, sleep?: Sleep, fetcher?: typeof fetch): Bot {
  const bot = new Bot(token, { botInfo, client: clientOptions(config, fetcher) });
  bot.api.config.use(retryRateLimited({ sleep }));
  return bot;
}

/** A bare Api, for a token that is not claimed yet (getMe, setWebhook during a claim). */
export function createApi(config: Config, token: string, fetcher?: typeof fetch): Api {
  const api = new Api(token, clientOptions(config, fetcher));
  api.config.use(retryRateLimited({}));
  return api;
}

/**
 * An Api without the in-place 429 retry, for streamed previews: a preview that waited would go out
 * stale, so the stream honours `retry_after` itself and sends the newest text instead.
 */
export function createStreamApi(config: Config, token: string, fetcher?: typeof fetch): Api {
  return new Api(token, clientOptions(config, fetcher));
}

type Sleep = (ms: number) => Promise<void>;

const defaultSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Retries a 429 after its `retry_after`, a few times and only for short waits; typing indicators
 * are never retried (they are stale by the time the wait is over).
 */
export function retryRateLimited(options: { maxRetries?: number; maxWaitSeconds?: number; sleep?: Sleep }): Transformer {
  const maxRetries = options.maxRetries ?? MAX_INLINE_RETRIES;
  const maxWait = options.maxWaitSeconds ?? MAX_INLINE_WAIT_SECONDS;
  const sleep = options.sleep ?? defaultSleep;
  return async (prev, method, payload, signal) => {
    for (let attempt = 0; ; attempt++) {
      const response = await prev(method, payload, signal);
      if (response.ok || response.error_code !== 429 || method === "sendChatAction") return response;
      const wait = Math.max(1, response.parameters?.retry_after ?? 1);
      if (attempt >= maxRetries || wait > maxWait) return response;
      console.warn(JSON.stringify({ event: "telegram_rate_limited", method, retryAfter: wait, attempt: attempt + 1 }));
      await sleep(wait * 1000);
    }
  };
}

/** Checks a token with getMe: a clear 400 when Telegram rejects it, an upstream error otherwise. */
export async function fetchBotInfo(config: Config, token: string, fetcher?: typeof fetch): Promise<UserFromGetMe> {
  if (!BOT_TOKEN_PATTERN.test(token)) {
    throw new HttpError(400, "invalid_bot_token", "That is not a bot token. Create a bot with @BotFather and paste the token it gives you (it looks like 123456789:AAH...).");
  }
  try {
    const me = await createApi(config, token, fetcher).getMe();
    if (!me.is_bot || !me.username) throw new HttpError(400, "invalid_bot_token", "This token does not belong to a bot.");
    return me;
  } catch (error) {
    if (error instanceof GrammyError && (error.error_code === 401 || error.error_code === 404)) {
      throw new HttpError(400, "invalid_bot_token", "Telegram rejected this bot token. Copy it again from @BotFather (or /revoke there and use the new one).");
    }
    throw toServiceError(error);
  }
}

/** A grammY failure as one of our error classes (API.md: 502/503/504, never a bare 500). */
export function toServiceError(error: unknown): unknown {
  if (error instanceof GrammyError) {
    return new UpstreamError("telegram", error.error_code, `bot_api_${error.error_code}`, `Telegram refused ${error.method}: ${error.description}.`);
  }
  if (error instanceof GrammyHttpError) return new UnreachableError("telegram", "Telegram could not be reached.");
  return error;
}

/** A Bot API error that retrying will not fix: the chat is gone, the bot was blocked, the token revoked. */
export function isPermanentBotError(error: unknown): boolean {
  return error instanceof GrammyError && [400, 401, 403, 404].includes(error.error_code);
}

/** The wait Telegram asked for, when `error` is a 429. */
export function retryAfterMs(error: unknown): number | null {
  if (error instanceof GrammyError && error.error_code === 429) return Math.max(1, error.parameters?.retry_after ?? 1) * 1000;
  return null;
}

export { GrammyError };
