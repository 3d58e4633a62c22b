/**
 * The measured pace of streamed previews (drafts, edits) in one Telegram chat, shared by the two
 * paths that stream there: the direct route's `TelegramReplyStream` and the container's previews
 * through the Worker's Bot API route (`ContainerPreviewPacer`). Telegram asks bots to stay near one
 * message a second per chat and answers a flood with 429 and `retry_after`; so:
 *
 * - the first preview goes at once; after each answer the next waits `intervalMs`, counted from
 *   when Telegram answered, so two calls never reach it closer than that;
 * - a 429 pushes the next call past its `retry_after`, whichever call of the chat it came from.
 *
 * One object per chat (`ChatPaces`), kept in the user's Durable Object, so a stream and the
 * container's edits to the same chat keep one pace between them.
 */
export const STREAM_INTERVAL_MS = 1_000;

export class ChatPace {
  private nextAt = 0;

  constructor(
    readonly intervalMs: number = STREAM_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** How long until the next preview may go (0: now). */
  waitMs(): number {
    return Math.max(0, this.nextAt - this.now());
  }

  /** Telegram answered a call in this chat: the next preview waits a full interval from now. */
  answered(): void {
    this.nextAt = Math.max(this.nextAt, this.now() + this.intervalMs);
  }

  /** Telegram refused with 429: nothing goes before its `retry_after` has passed. */
  rateLimited(waitMs: number): void {
    this.nextAt = Math.max(this.nextAt, this.now() + waitMs);
  }
}

/** One pace per chat for one bot (the user's object holds one of these). */
export class ChatPaces {
  private readonly paces = new Map<number, ChatPace>();

  constructor(private readonly intervalMs: number = STREAM_INTERVAL_MS) {}

  of(chatId: number): ChatPace {
    let pace = this.paces.get(chatId);
    if (!pace) {
      pace = new ChatPace(this.intervalMs);
      this.paces.set(chatId, pace);
    }
    return pace;
  }
}
