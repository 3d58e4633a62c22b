/**
 * A reply shown on Telegram while it is written. The companion's text so far goes out at a measured
 * pace: as a draft (`sendMessageDraft`, Bot API 9.5+, private chats: an animated preview that the
 * final `sendMessage` replaces), or, where drafts are refused, as one message edited in place.
 *
 * The pace respects Telegram's limits (chat-pace.ts, shared with the container's previews through
 * the Bot API route): the first text goes out at once, then at most one call per interval per chat,
 * never more than one call in flight, each carrying the whole text so far, so a call skipped or
 * refused loses nothing. A 429 pauses the stream for its `retry_after`. Edited text only grows: once
 * it would pass Telegram's 4,096 characters the message stops changing until the reply is finished.
 *
 * Previews only: the finished reply is sent by the caller (the inbox's stored plan, or the
 * container route), after `finish()` has let the last preview land, so no preview follows it.
 */
import { GrammyError, type Api } from "grammy/web";
import { isEntityParseError, markdownToTelegramHtml } from "./format.ts";
import { retryAfterMs } from "./bot.ts";
import { splitForTelegram, TELEGRAM_TEXT_LIMIT } from "./split.ts";
import { ChatPace } from "./chat-pace.ts";

export type StreamMode = "draft" | "edit";

/** The three Bot API calls a stream makes; `html` false means plain text. */
export interface StreamTransport {
  draft(chatId: number, draftId: number, text: string, html: boolean): Promise<void>;
  send(chatId: number, text: string, html: boolean): Promise<number>;
  edit(chatId: number, messageId: number, text: string, html: boolean): Promise<void>;
}

export interface StreamOptions {
  chatId: number;
  /** Non-zero; one per reply (Telegram animates changes of one draft). */
  draftId: number;
  mode: StreamMode;
  /** Edit mode: the message an earlier attempt at this reply already streamed into. */
  messageId?: number | null;
  /** The chat's pace (shared with the container's previews to the same chat); a fresh one by default. */
  pace?: ChatPace;
  /** Edit mode: the message now being edited (stored, so a retry edits it instead of posting another). */
  onMessage?(messageId: number): void;
  /** The first text is visible (typing can stop). */
  onVisible?(): void;
  /** Drafts were refused: the stream went on by editing a message. */
  onDraftsRefused?(): void;
  now?: () => number;
}

export interface StreamStats {
  mode: StreamMode;
  messageId: number | null;
  /** Bot API calls made for previews (failed ones included). */
  calls: number;
  /** From the first text handed in to the first preview Telegram accepted. */
  firstVisibleMs: number | null;
  rateLimited: number;
}

/** Edited text stops growing this far below the limit, leaving room for the formatting to settle. */
const EDIT_RESERVE = 96;

export class TelegramReplyStream {
  private mode: StreamMode;
  private messageId: number | null;
  private text = "";
  private shown = "";
  private html = true;
  private stopped = false;
  private inFlight: Promise<void> | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private firstTextAt: number | null = null;
  /** The last call failed in a way the next call may fix (429, markup, drafts refused). */
  private retry = false;
  private stats: StreamStats;
  private readonly pace: ChatPace;
  private readonly now: () => number;

  constructor(
    private readonly transport: StreamTransport,
    private readonly options: StreamOptions,
  ) {
    this.mode = options.mode;
    this.messageId = options.messageId ?? null;
    this.now = options.now ?? Date.now;
    this.pace = options.pace ?? new ChatPace(undefined, this.now);
    this.stats = { mode: this.mode, messageId: this.messageId, calls: 0, firstVisibleMs: null, rateLimited: 0 };
  }

  /** The whole reply so far (each call replaces the last). */
  update(text: string): void {
    if (this.stopped || text === this.text) return;
    this.text = text;
    this.firstTextAt ??= this.now();
    this.schedule();
  }

  /** Stops previewing and waits for a call in flight, so the caller's final messages come after it. */
  async finish(): Promise<StreamStats> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.inFlight;
    return { ...this.stats, mode: this.mode, messageId: this.messageId };
  }

  private schedule(): void {
    if (this.stopped || this.inFlight || this.timer) return;
    const wait = this.pace.waitMs();
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.schedule();
      }, wait);
      return;
    }
    const attempted = this.text;
    const flight = this.flush().finally(() => {
      this.inFlight = null;
      // Again only for text written meanwhile, or after a refusal that asked for another try.
      if (this.text !== attempted || this.retry) {
        this.retry = false;
        this.schedule();
      }
    });
    this.inFlight = flight;
  }

  /** What the preview shows now, or null when it should not change. */
  private preview(): string | null {
    const text = this.text.trim();
    if (text === "") return null;
    if (this.mode === "draft") {
      // A draft holds one message: the piece being written (earlier pieces arrive as messages at the end).
      return splitForTelegram(text).at(-1) ?? null;
    }
    if (text.length > TELEGRAM_TEXT_LIMIT - EDIT_RESERVE) return null;
    return text;
  }

  private async flush(): Promise<void> {
    const shown = this.preview();
    if (shown === null || shown === this.shown) return;
    const body = this.html ? markdownToTelegramHtml(shown) : shown;
    this.stats.calls++;
    try {
      if (this.mode === "draft") await this.transport.draft(this.options.chatId, this.options.draftId, body, this.html);
      else if (this.messageId === null) {
        this.messageId = await this.transport.send(this.options.chatId, body, this.html);
        this.options.onMessage?.(this.messageId);
      } else await this.transport.edit(this.options.chatId, this.messageId, body, this.html);
      this.shown = shown;
      if (this.stats.firstVisibleMs === null && this.firstTextAt !== null) {
        this.stats.firstVisibleMs = this.now() - this.firstTextAt;
        this.options.onVisible?.();
      }
    } catch (error) {
      // Another mode or plain text may go at once: Telegram accepted nothing from the last call.
      if (this.onError(error) === "at_once") return;
    }
    // Counted from when Telegram answered, so two calls never reach it closer than the interval.
    this.pace.answered();
  }

  private onError(error: unknown): "at_once" | "later" {
    const wait = retryAfterMs(error);
    if (wait !== null) {
      // Honour Telegram's wait; the next call carries everything written meanwhile.
      this.stats.rateLimited++;
      this.pace.rateLimited(wait);
      this.retry = true;
      return "later";
    }
    // A network hiccup: the next piece of text tries again.
    if (!(error instanceof GrammyError)) return "later";
    if (error.error_code === 400 && isEntityParseError(error.description)) {
      this.html = false;
      this.retry = true;
      return "at_once";
    }
    if (error.error_code === 400 && /not modified/i.test(error.description)) return "later";
    if (this.mode === "draft") {
      // This bot or chat cannot take drafts (an older Bot API, not a private chat): edit a message instead.
      this.mode = "edit";
      this.retry = true;
      this.options.onDraftsRefused?.();
      console.warn(JSON.stringify({ event: "telegram_drafts_refused", code: error.error_code }));
      return "at_once";
    }
    // Edits refused for good (message deleted, chat gone): previews stop; the final reply still goes out.
    this.stopped = true;
    return "later";
  }
}

/** The stream's calls through a grammY Api (the bot's, or one the container route builds). */
export function grammyTransport(api: Api): StreamTransport {
  const mode = (html: boolean) => (html ? { parse_mode: "HTML" as const } : {});
  return {
    draft: async (chatId, draftId, text, html) => {
      await api.sendMessageDraft(chatId, draftId, text, mode(html));
    },
    send: async (chatId, text, html) => (await api.sendMessage(chatId, text, mode(html))).message_id,
    edit: async (chatId, messageId, text, html) => {
      await api.editMessageText(chatId, messageId, text, mode(html));
    },
  };
}

/** A draft id for a reply: non-zero, within 31 bits, the same on every retry of one update. */
export function draftIdFor(updateId: number): number {
  return (Math.abs(Math.trunc(updateId)) % 2_147_483_646) + 1;
}
