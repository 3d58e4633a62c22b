/**
 * The `telegram_inbox` job: answers stored updates one at a time, in update_id order.
 *
 * Each update goes through two steps, each durable before the next: decide (bind a chat, refuse a
 * stranger, or ask the chat engine, whose client id `tg-<update_id>` makes a retried update reuse
 * the stored reply instead of calling the model again) and store the plan; then send its parts,
 * counting each one sent. A crash anywhere leaves the update pending with what is already done
 * recorded, so the next run sends only what is missing: one reply per update.
 *
 * While the model writes, the reply is previewed (`reply-stream.ts`): drafts leave nothing behind,
 * and a message streamed by edits is recorded on the update first, so the plan's first part edits
 * it into the final text, on this run or a retry, instead of posting a second message.
 */
import { InputFile, type Bot } from "grammy/web";
import type { Config } from "../config.ts";
import type { ChatEngine } from "../chat/chat-engine.ts";
import { imageIdsOf, type ChatHistory, type StoredImage } from "../chat/history.ts";
import { imageKey } from "../chat/tools.ts";
import { HttpError, logSafe } from "../errors.ts";
import { timingSafeEqualStr } from "../crypto.ts";
import type { JobOutcome } from "../jobs.ts";
import { backoffDelay } from "../backoff.ts";
import type { BotRecord, InboxRow, TelegramStore } from "./telegram-store.ts";
import { createBot, GrammyError, isPermanentBotError, retryAfterMs } from "./bot.ts";
import { routeUpdate, type Decision } from "./update-route.ts";
import { planReply, textPlan, type Plan, type PlanPart } from "./reply-plan.ts";
import { isEntityParseError, markdownToTelegramHtml } from "./format.ts";
import { ALREADY_CONNECTED, CONNECTED, HELP, NEW_CONVERSATION, PHOTO_TOO_LARGE, PHOTO_UNREADABLE, PRIVATE, RATE_LIMITED, TEXT_ONLY } from "./messages.ts";
import { enforceLimit } from "../rate-limit.ts";
import type { ContainerTelegramHistory } from "./container-history.ts";
import type { ChatFrame } from "../chat/frames.ts";
import { MAX_IMAGE_BYTES } from "../images/image-bytes.ts";
import { receivePhoto } from "./photo-in.ts";
import type { ChatPace } from "./chat-pace.ts";
import { draftIdFor, grammyTransport, TelegramReplyStream } from "./reply-stream.ts";
import { createStreamApi } from "./bot.ts";

export const INBOX_JOB = "telegram_inbox";
/** Attempts at one update before it is given up (so one bad update cannot block the ones after it). */
export const MAX_UPDATE_ATTEMPTS = 5;
/** Telegram shows "typing…" for up to 5 s, so it is re-sent a little sooner while a reply is written. */
export const TYPING_EVERY_MS = 4_000;
/** How often a chat over the message limit is told so. */
export const RATE_NOTICE_EVERY_MS = 60_000;

export interface InboxHost {
  env: Env;
  config: Config;
  store: TelegramStore;
  chat: ChatEngine;
  history: ChatHistory;
  userId(): string;
  /** The claimed bot's token, unsealed. */
  token(bot: BotRecord): Promise<string>;
  /**
   * The hybrid route: true when the update went to the user's container, which answers itself.
   * `beforeForward` runs once the update is going there, before it is sent (the container may
   * answer before the forward returns).
   */
  forwardToContainer?(update: unknown, beforeForward: () => void): Promise<boolean>;
  /** Where a forwarded update is stored as the user's message. */
  containerHistory?: ContainerTelegramHistory;
  /** The chat's preview pace, shared with the container's previews to the same chat. */
  pace?(chatId: number): ChatPace;
  fetch?: typeof fetch;
}

export class TelegramInbox {
  /** Alarms do not overlap, but a test or a manual run may call in while one is running. */
  private running = false;
  private rateNoticeAt = 0;
  /** Telegram refused a draft for this bot: later replies stream by edits from the start. */
  private draftsRefused = false;

  constructor(private readonly host: InboxHost) {}

  async run(): Promise<JobOutcome> {
    if (this.running) return { rerunInMs: 1_000 };
    this.running = true;
    try {
      return await this.drain();
    } finally {
      this.running = false;
    }
  }

  private async drain(): Promise<JobOutcome> {
    const { store } = this.host;
    store.prune();
    for (;;) {
      // Read again each time: a release or a new claim may have happened during the last reply.
      const record = store.bot();
      const row = store.nextPending();
      if (!row) return;
      if (!record || row.botId !== record.botId) {
        store.markDone(row.updateId);
        continue;
      }
      try {
        const bot = createBot(this.host.config, await this.host.token(record), record.botInfo, undefined, this.host.fetch);
        await this.handle(bot, record, row);
      } catch (error) {
        const wait = retryAfterMs(error);
        if (wait !== null) {
          console.warn(JSON.stringify({ event: "telegram_retry_later", updateId: row.updateId, ms: wait }));
          return { rerunInMs: wait };
        }
        const attempts = store.recordFailure(row.updateId, logSafe(error));
        const permanent = isPermanentBotError(error);
        console.warn(JSON.stringify({ event: "telegram_update_failed", updateId: row.updateId, attempts, permanent, error: logSafe(error) }));
        if (permanent || attempts >= MAX_UPDATE_ATTEMPTS) {
          store.markDone(row.updateId);
          continue;
        }
        return { rerunInMs: backoffDelay(attempts - 1, { baseMs: 1_000, capMs: 60_000, jitter: "spread" }) };
      }
    }
  }

  private async handle(bot: Bot, record: BotRecord, row: InboxRow): Promise<void> {
    const { store } = this.host;
    let plan = row.plan;
    let sent = row.sent;
    if (!plan) {
      plan = await this.decide(bot, record, row);
      if (store.bot()?.botId !== record.botId) return; // released while the reply was written
      store.savePlan(row.updateId, plan);
      sent = 0;
    }
    for (; sent < plan.parts.length; sent++) {
      await this.sendPart(bot, plan.chatId, plan.parts[sent]!);
      store.markSent(row.updateId, sent + 1);
    }
    store.markDone(row.updateId);
  }

  private async decide(bot: Bot, record: BotRecord, row: InboxRow): Promise<Plan> {
    const { store } = this.host;
    const update: unknown = JSON.parse(row.body);
    const decision = routeUpdate(update, { ownerChatId: record.ownerChatId, linkCode: record.linkCode, botUsername: record.username }, timingSafeEqualStr, MAX_IMAGE_BYTES);
    console.log(JSON.stringify({ event: "telegram_update", updateId: row.updateId, kind: decision.kind }));
    if (decision.kind === "ignore") return { chatId: 0, parts: [] };
    const reply = (parts: PlanPart[]): Plan => ({ chatId: decision.chatId, parts });
    switch (decision.kind) {
      case "bind":
        store.bindOwner(decision.chatId);
        return reply(textPlan(CONNECTED));
      case "stranger":
        return reply(store.shouldTellStranger(decision.chatId) ? textPlan(PRIVATE) : []);
      case "start":
        return reply(textPlan(ALREADY_CONNECTED));
      case "new":
        this.host.history.startNewConversation();
        return reply(textPlan(NEW_CONVERSATION));
      case "help":
        return reply(textPlan(HELP));
      case "text_only":
        return reply(textPlan(TEXT_ONLY));
      case "chat": {
        if (!(await this.withinRateLimit())) return reply(this.shouldSayRateLimited() ? textPlan(RATE_LIMITED) : []);
        // A photo is kept first, whichever route answers, so history shows it either way (the
        // container downloads its own copy through the Worker's file route).
        let photo: StoredImage | undefined;
        if (decision.photo) {
          const received = await receivePhoto({ config: this.host.config, bucket: this.host.env.IMAGES, userId: this.host.userId(), fetch: this.host.fetch }, bot, decision.photo, row.updateId);
          if (received.kind === "too_large") return reply(textPlan(PHOTO_TOO_LARGE));
          if (received.kind === "unreadable") return reply(textPlan(PHOTO_UNREADABLE));
          photo = received.image;
        }
        const images = photo ? [photo] : [];
        if (await this.host.forwardToContainer?.(update, () => this.host.containerHistory?.recordForwarded(row.updateId, decision.chatId, decision.text, images))) return reply([]);
        // A forward that looked failed (it timed out) may still have reached the container, which
        // answered: one reply per update, so the direct path stays silent then.
        if (this.host.containerHistory?.answered(`tg-${row.updateId}`)) return reply([]);
        return reply(await this.answer(bot, decision, row, images));
      }
    }
  }

  /** The per-user message limit every channel shares (POST /api/chat, WebSocket, Telegram). */
  private async withinRateLimit(): Promise<boolean> {
    try {
      await enforceLimit(this.host.env.RATE_LIMIT_USER, `chat:${this.host.userId()}`, "messages");
      return true;
    } catch (error) {
      if (error instanceof HttpError && error.status === 429) return false;
      throw error;
    }
  }

  /**
   * At most one "slow down" a minute, so a flood is not answered by a flood. Kept in memory: an
   * object is evicted only after minutes without events, longer than the minute this spans.
   */
  private shouldSayRateLimited(now = Date.now()): boolean {
    if (now - this.rateNoticeAt < RATE_NOTICE_EVERY_MS) return false;
    this.rateNoticeAt = now;
    return true;
  }

  /**
   * The companion's answer through the chat engine: "typing…" until the first words show, then the
   * reply previewed as it is written; the returned parts finish it.
   */
  private async answer(bot: Bot, decision: Extract<Decision, { kind: "chat" }>, row: InboxRow, photos: StoredImage[]): Promise<PlanPart[]> {
    const { store, config } = this.host;
    const images = imageIdsOf(photos);
    const stopTyping = keepTyping(bot, decision.chatId);
    const stream = new TelegramReplyStream(grammyTransport(createStreamApi(config, bot.token, this.host.fetch)), {
      chatId: decision.chatId,
      draftId: draftIdFor(row.updateId),
      mode: row.streamMessageId !== null || this.draftsRefused ? "edit" : "draft",
      messageId: row.streamMessageId,
      ...(this.host.pace ? { pace: this.host.pace(decision.chatId) } : {}),
      onMessage: (messageId) => store.markStreamMessage(row.updateId, messageId),
      onVisible: stopTyping,
      onDraftsRefused: () => {
        this.draftsRefused = true;
      },
    });
    let written = "";
    const listener = (frame: ChatFrame) => {
      if (frame.type !== "delta") return;
      written += frame.text;
      stream.update(written);
    };
    let parts: PlanPart[];
    let streamedInto: number | null = null;
    try {
      const started = await this.host.chat.send({ clientId: `tg-${row.updateId}`, text: decision.text, channel: "telegram", images }, { listener });
      parts = planReply(await started.result);
    } catch (error) {
      // Our own refusals (over today's budget, ...) are the answer; anything else is retried.
      if (!(error instanceof HttpError && error.status < 500)) throw error;
      parts = textPlan(error.message);
    } finally {
      stopTyping();
      const stats = await stream.finish();
      if (stats.calls > 0) console.log(JSON.stringify({ event: "telegram_stream", updateId: row.updateId, ...stats }));
      streamedInto = stats.messageId;
    }
    const first = parts[0];
    if (streamedInto !== null && first?.type === "text") parts[0] = { ...first, editMessageId: streamedInto };
    return parts;
  }

  private async sendPart(bot: Bot, chatId: number, part: PlanPart): Promise<void> {
    if (part.type === "text") {
      if (part.editMessageId !== undefined && (await this.editInto(bot, chatId, part.editMessageId, part))) return;
      await sendFormatted(part, (text, html) => bot.api.sendMessage(chatId, text, html ? { parse_mode: "HTML" } : {}));
      return;
    }
    const object = await this.host.env.IMAGES.get(imageKey(this.host.userId(), part.imageId));
    if (!object) {
      console.warn(JSON.stringify({ event: "telegram_image_missing", imageId: part.imageId }));
      return;
    }
    const bytes = new Uint8Array(await object.arrayBuffer());
    await bot.api.sendPhoto(chatId, new InputFile(bytes, `${part.imageId}.png`), part.caption ? { caption: part.caption } : {});
  }

  /** Edits the streamed message into its final text; false when it cannot be edited (then it is sent anew). */
  private async editInto(bot: Bot, chatId: number, messageId: number, part: Extract<PlanPart, { type: "text" }>): Promise<boolean> {
    try {
      await sendFormatted(part, (text, html) => bot.api.editMessageText(chatId, messageId, text, html ? { parse_mode: "HTML" } : {}));
      return true;
    } catch (error) {
      if (error instanceof GrammyError && error.error_code === 400) {
        if (/not modified/i.test(error.description)) return true;
        console.warn(JSON.stringify({ event: "telegram_stream_edit_failed", error: logSafe(error) }));
        return false;
      }
      throw error;
    }
  }
}

/** A text part as Telegram HTML, or as plain text when Telegram refuses the markup. */
async function sendFormatted(part: Extract<PlanPart, { type: "text" }>, send: (text: string, html: boolean) => Promise<unknown>): Promise<void> {
  if (part.markdown) {
    try {
      await send(markdownToTelegramHtml(part.text), true);
      return;
    } catch (error) {
      if (!(error instanceof GrammyError && error.error_code === 400 && isEntityParseError(error.description))) throw error;
      console.warn(JSON.stringify({ event: "telegram_plain_fallback", error: logSafe(error) }));
    }
  }
  await send(part.text, false);
}

/** Sends "typing…" now and every TYPING_EVERY_MS until the returned function is called. */
function keepTyping(bot: Bot, chatId: number): () => void {
  let warned = false;
  const tick = () => {
    bot.api.sendChatAction(chatId, "typing").catch((error: unknown) => {
      if (!warned) console.warn(JSON.stringify({ event: "telegram_typing_failed", error: logSafe(error) }));
      warned = true;
    });
  };
  tick();
  const timer = setInterval(tick, TYPING_EVERY_MS);
  return () => clearInterval(timer);
}
