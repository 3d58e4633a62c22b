/**
 * Telegram for one user object: claiming a bot (the user's own or one from the operator's pool),
 * releasing it, taking webhook updates into the inbox, and the status `/api/me` shows. The inbox
 * job (`inbox.ts`) does the answering.
 *
 * Claims and releases run one at a time per object: each spans several Bot API calls, and two
 * interleaved claims could otherwise leave a webhook pointing at a secret that was overwritten.
 */
import type { UserFromGetMe } from "grammy/types";
import { requirePublicUrl, requireSecret } from "../config.ts";
import type { ChatEngine } from "../chat/chat-engine.ts";
import type { ChatHistory } from "../chat/history.ts";
import { HttpError, logSafe } from "../errors.ts";
import type { ObjectContext } from "../object-context.ts";
import { SerialQueue } from "../serial-queue.ts";
import { decryptSecret, encryptSecret, randomToken, timingSafeEqualStr } from "../crypto.ts";
import { newWebhookSecret } from "./webhook-secret.ts";
import { unwrap } from "../rpc.ts";
import { TelegramStore, type BotRecord } from "./telegram-store.ts";
import { INBOX_JOB, TelegramInbox } from "./inbox.ts";
import { createApi, fetchBotInfo, toServiceError } from "./bot.ts";
import { linkUrl, webhookUrl } from "./links.ts";
import type { BotPoolStub } from "./pool.ts";
import { ContainerTelegramHistory, type SentMessage } from "./container-history.ts";
import { allowedContainerMethod, assertBoundChat, callBotApi, parseBotCall, type BotApiAnswer, type ContainerBotCall } from "./container-bot-api.ts";
import { checkFilePath, downloadBotFile, type DownloadedFile } from "./container-bot-file.ts";
import { ChatPaces } from "./chat-pace.ts";
import { ContainerPreviewPacer } from "./container-pacing.ts";

export { TELEGRAM_SCHEMA } from "./telegram-schema.ts";
export { INBOX_JOB } from "./inbox.ts";
export type { BotPoolStub } from "./pool.ts";

/** The services Telegram uses: the chat, its history, and the container route (which answers itself). */
export interface TelegramDeps {
  chat: ChatEngine;
  history: ChatHistory;
  /**
   * The hybrid route: true when the update went to the user's container, which answers itself. It
   * calls `beforeForward` once it is sending the update there.
   */
  container?: { forwardTelegram(update: unknown, beforeForward: () => void): Promise<boolean> };
}

export interface TelegramStatus {
  claimed: boolean;
  botUsername?: string;
  linkUrl?: string;
  ownerBound?: boolean;
  fromPool?: boolean;
}

/** Container calls whose answer is a message to store: sent ones become reply parts, edits rewrite their part. */
const SENDS = new Set(["sendMessage", "sendPhoto", "sendDocument"]);
const EDITS = new Set(["editMessageText", "editMessageCaption"]);

function isSentMessage(value: unknown): value is SentMessage {
  const v = value as { message_id?: unknown; chat?: { id?: unknown } } | null;
  return typeof v === "object" && v !== null && typeof v.message_id === "number" && typeof v.chat?.id === "number";
}

/** Only message updates are asked for: the companion answers messages and nothing else. */
export const ALLOWED_UPDATES = ["message"] as const;

/** Room for a Telegram update in the inbox (a text message is a few KiB at most). */
export const MAX_UPDATE_BYTES = 256 * 1024;

interface Candidate {
  token: string;
  tokenSealed: string;
  botInfo: UserFromGetMe;
  fromPool: boolean;
}

export class TelegramService {
  readonly store: TelegramStore;
  readonly containerHistory: ContainerTelegramHistory;
  private readonly inbox: TelegramInbox;
  private readonly queue = new SerialQueue();
  /** One preview pace per chat, for the direct route's streams and the container's previews alike. */
  private readonly paces = new ChatPaces();
  private readonly pacers = new Map<number, ContainerPreviewPacer>();

  /** Bot API calls go through the object's meter, so job and reply log lines count them. */
  private readonly fetch: typeof fetch;

  constructor(
    private readonly ctx: ObjectContext,
    deps: TelegramDeps,
  ) {
    this.store = new TelegramStore(ctx.sql);
    this.fetch = ctx.meter.fetch("telegram");
    this.containerHistory = new ContainerTelegramHistory(ctx.sql, deps.history, (frame) => ctx.broadcast(frame));
    const container = deps.container;
    this.inbox = new TelegramInbox({
      env: ctx.env,
      config: ctx.config,
      store: this.store,
      chat: deps.chat,
      history: deps.history,
      userId: () => ctx.owner().userId,
      token: (bot) => this.unseal(bot.tokenSealed),
      fetch: this.fetch,
      ...(container ? { forwardToContainer: (update: unknown, beforeForward: () => void) => container.forwardTelegram(update, beforeForward) } : {}),
      containerHistory: this.containerHistory,
      pace: (chatId: number) => this.paces.of(chatId),
    });
  }

  defineJobs(): void {
    this.ctx.jobs.define(INBOX_JOB, {
      run: () => this.inbox.run(),
      // Failures of single updates are handled inside the run; this only covers the unexpected.
      maxAttempts: 8,
      onGiveUp: async () => {
        if (this.store.pendingCount() > 0) await this.ctx.jobs.schedule(INBOX_JOB, 15 * 60_000);
      },
    });
  }

  /**
   * Claims a bot: the user's own (`botToken`, checked with getMe) or a free one from the pool. Sets
   * the webhook with a fresh secret, then retires the previous bot (webhook deleted, a pool bot
   * returned). `origin` is this Worker's origin, used when PUBLIC_URL is not set.
   */
  claim(botToken: string | undefined, pool: BotPoolStub, origin?: string): Promise<{ botUsername: string; linkUrl: string }> {
    return this.serially(async () => {
      const userId = this.ctx.owner().userId;
      const base = requirePublicUrl(this.ctx.env, origin ?? "http://127.0.0.1:8787");
      const previous = this.store.bot();
      const candidate = botToken === undefined ? await this.fromPool(pool, userId) : await this.ownBot(botToken);
      const botId = candidate.botInfo.id;
      // One holder per bot: another user's bot is 409, never a silently moved webhook.
      if (!candidate.fromPool) await unwrap(pool.reserveOwn(userId, botId));
      const secret = await newWebhookSecret(requireSecret(this.ctx.env, "ENCRYPTION_KEY"), userId);
      try {
        await createApi(this.ctx.config, candidate.token, this.fetch).setWebhook(webhookUrl(base, userId), {
          secret_token: secret,
          allowed_updates: [...ALLOWED_UPDATES],
          drop_pending_updates: true,
        });
      } catch (error) {
        if (previous?.botId !== botId) {
          if (candidate.fromPool) await this.returnToPool(pool, userId, botId);
          else await unwrap(pool.releaseOwn(userId, botId)).catch(() => undefined);
        }
        console.warn(JSON.stringify({ event: "telegram_set_webhook_failed", error: logSafe(error) }));
        throw toServiceError(error);
      }
      const linkCode = randomToken(18);
      this.store.saveBot({ botId, tokenSealed: candidate.tokenSealed, webhookSecret: secret, botInfo: candidate.botInfo, fromPool: candidate.fromPool, linkCode });
      if (previous && previous.botId !== botId) await this.retire(previous, pool, { strict: false });
      console.log(JSON.stringify({ event: "telegram_claim", bot: candidate.botInfo.username, fromPool: candidate.fromPool }));
      await this.ctx.events.emit("claimChanged", undefined);
      return { botUsername: candidate.botInfo.username, linkUrl: linkUrl(candidate.botInfo.username, linkCode) };
    });
  }

  /** Releases the bot: webhook deleted, a pool bot returned, its inbox forgotten. Idempotent. `onlyBotId`: only if it is that bot. */
  release(pool: BotPoolStub, onlyBotId?: number): Promise<void> {
    return this.serially(async () => {
      const previous = this.store.bot();
      if (!previous || (onlyBotId !== undefined && previous.botId !== onlyBotId)) return;
      await this.retire(previous, pool, { strict: true });
      this.store.clearBot();
      this.ctx.jobs.cancel(INBOX_JOB);
      console.log(JSON.stringify({ event: "telegram_release", bot: previous.username, fromPool: previous.fromPool }));
      await this.ctx.events.emit("claimChanged", undefined);
    });
  }

  /**
   * A webhook delivery: 401 unless the secret matches (constant time); a seen update_id is dropped;
   * a new one is stored and the inbox job scheduled. Returns at once: the answer comes from the job.
   */
  async receiveUpdate(secret: string, update: unknown): Promise<void> {
    const bot = this.store.bot();
    if (!bot || !timingSafeEqualStr(secret, bot.webhookSecret)) {
      throw new HttpError(401, "unauthorized", "The secret token does not match this webhook.");
    }
    const updateId = (update as { update_id?: unknown } | null)?.update_id;
    if (typeof updateId !== "number" || !Number.isSafeInteger(updateId) || updateId < 0) {
      throw new HttpError(400, "invalid_update", "A Telegram update needs a numeric update_id.");
    }
    if (this.store.insertUpdate(updateId, bot.botId, JSON.stringify(update))) await this.ctx.jobs.schedule(INBOX_JOB, 0);
  }

  status(): TelegramStatus {
    const bot = this.store.bot();
    if (!bot) return { claimed: false };
    return { claimed: true, botUsername: bot.username, linkUrl: linkUrl(bot.username, bot.linkCode), ownerBound: bot.ownerChatId !== null, fromPool: bot.fromPool };
  }

  /**
   * A Bot API call from the user's container (its gateway token checked by the caller), made with
   * the claimed bot: 409 without one, 403 unless every chat it names is the bound chat. Telegram's
   * answer comes back unchanged; what it sent or edited is stored in history.
   */
  async containerCall(call: ContainerBotCall): Promise<BotApiAnswer> {
    const bot = this.store.bot();
    if (!bot) throw new HttpError(409, "no_bot", "Conflict: this user has no Telegram bot claimed.");
    // The Worker checked the method already; checked again here, where the token is.
    const parsed = await parseBotCall({ ...call, method: allowedContainerMethod(call.method) });
    assertBoundChat(parsed, bot.ownerChatId);
    const token = await this.unseal(bot.tokenSealed);
    const make = async () => {
      const answer = await callBotApi(this.ctx.config.telegramApiRoot, token, parsed, this.fetch);
      // Stored once Telegram took it, from Telegram's own Message (what the person actually sees).
      if (answer.body.ok && isSentMessage(answer.body.result) && answer.body.result.chat.id === bot.ownerChatId) {
        if (SENDS.has(parsed.method)) this.containerHistory.recordSent(answer.body.result);
        else if (EDITS.has(parsed.method)) this.containerHistory.recordEdited(answer.body.result);
      }
      return answer;
    };
    // Calls in the bound chat keep its pace; previews are held and coalesced (container-pacing.ts).
    return bot.ownerChatId === null ? make() : this.pacerFor(bot.ownerChatId).call(parsed, make);
  }

  /** The container's preview pacer for the chat (the chat's pace shared with the direct route). */
  private pacerFor(chatId: number): ContainerPreviewPacer {
    let pacer = this.pacers.get(chatId);
    if (!pacer) {
      pacer = new ContainerPreviewPacer(this.paces.of(chatId));
      this.pacers.set(chatId, pacer);
    }
    return pacer;
  }

  /**
   * A file of the claimed bot for the container (`getFile`'s path), downloaded with the bot's token
   * (container-bot-file.ts): 409 without a bot, 404 for a path this bot has no file at.
   */
  async containerFile(encodedPath: string): Promise<DownloadedFile> {
    const path = checkFilePath(encodedPath);
    const bot = this.store.bot();
    if (!bot) throw new HttpError(409, "no_bot", "Conflict: this user has no Telegram bot claimed.");
    return downloadBotFile(this.ctx.config.telegramApiRoot, await this.unseal(bot.tokenSealed), path, this.fetch);
  }

  private async ownBot(botToken: string): Promise<Candidate> {
    const botInfo = await fetchBotInfo(this.ctx.config, botToken, this.fetch);
    return { token: botToken, tokenSealed: await encryptSecret(requireSecret(this.ctx.env, "ENCRYPTION_KEY"), botToken), botInfo, fromPool: false };
  }

  private async fromPool(pool: BotPoolStub, userId: string): Promise<Candidate> {
    const pooled = await unwrap(pool.claim(userId));
    return { token: await this.unseal(pooled.tokenSealed), tokenSealed: pooled.tokenSealed, botInfo: pooled.botInfo, fromPool: true };
  }

  /**
   * Stops a bot answering for this user: its webhook is deleted first, so a pool bot is never
   * returned while still pointing here (the next user's setWebhook must not be undone by ours).
   * `strict`: a failure to return a pool bot fails the release (so it can be retried); during a
   * claim the new bot already works, so it is logged instead.
   */
  private async retire(bot: BotRecord, pool: BotPoolStub, options: { strict: boolean }): Promise<void> {
    try {
      await createApi(this.ctx.config, await this.unseal(bot.tokenSealed), this.fetch).deleteWebhook({ drop_pending_updates: true });
    } catch (error) {
      // A revoked token or an unreachable Telegram: the webhook secret is gone from here, so any
      // delivery that still arrives gets 401, and a pool bot's next holder sets its own webhook.
      console.warn(JSON.stringify({ event: "telegram_delete_webhook_failed", bot: bot.username, error: logSafe(error) }));
    }
    try {
      await unwrap(bot.fromPool ? pool.release(this.ctx.owner().userId, bot.botId) : pool.releaseOwn(this.ctx.owner().userId, bot.botId));
    } catch (error) {
      console.error(JSON.stringify({ event: "telegram_pool_release_failed", bot: bot.username, error: logSafe(error) }));
      if (options.strict) throw error;
    }
  }

  private async returnToPool(pool: BotPoolStub, userId: string, botId: number): Promise<void> {
    await unwrap(pool.release(userId, botId)).catch((error: unknown) => {
      console.error(JSON.stringify({ event: "telegram_pool_release_failed", botId, error: logSafe(error) }));
    });
  }

  private async unseal(sealed: string): Promise<string> {
    return decryptSecret(requireSecret(this.ctx.env, "ENCRYPTION_KEY"), sealed);
  }

  private serially<T>(fn: () => Promise<T>): Promise<T> {
    return this.queue.run(fn);
  }
}
