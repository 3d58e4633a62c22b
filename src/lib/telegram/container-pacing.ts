/**
 * The container's streamed previews, paced by the Worker (issue 18). OpenClaw's Telegram channel
 * streams an answer by editing one preview message (`editMessageText`, about once a second) and
 * could send drafts (`sendMessageDraft`); here those calls follow the same rules as the direct
 * route's `TelegramReplyStream`, with the chat's shared `ChatPace`:
 *
 * - at most one preview call in flight per chat, the next one an interval after Telegram answered;
 * - a 429 is honoured here: the call waits out `retry_after` and goes again, so the container never
 *   sees a flood it would have to back off from (it stops previewing after three), as long as the
 *   total wait stays within MAX_HOLD_MS; a longer wait is passed back to the container as it came;
 * - while a call waits, a newer call for the same message (the same `message_id`, or the same
 *   `draft_id`) supersedes it: each edit carries the whole text so far, so only the newest goes to
 *   Telegram, and every superseded caller gets that call's answer. The final text is the newest
 *   call, so it is never the one dropped.
 *
 * Every other call (sendMessage, sendPhoto, ...) goes at once and is never coalesced (each is a
 * message of its own), and its 429 is passed back as it came; its answer still moves the chat's
 * pace, and its 429 pauses the previews.
 */
import type { ChatPace } from "./chat-pace.ts";
import type { BotApiAnswer, ParsedBotCall } from "./container-bot-api.ts";

/** The longest a preview call is held for Telegram's `retry_after` (the shim gives a call 120 s). */
export const MAX_HOLD_MS = 30_000;

/** The container's preview calls: what may be paced and coalesced. */
const PREVIEW_METHODS = new Set(["editMessageText", "sendMessageDraft"]);

interface Waiting {
  key: string;
  make: () => Promise<BotApiAnswer>;
  waiters: ((answer: BotApiAnswer) => void)[];
  failers: ((error: unknown) => void)[];
  /** How long it has waited for retry_after so far. */
  heldMs: number;
}

export interface PacerStats {
  /** Preview calls the container made. */
  asked: number;
  /** Calls that reached Telegram. */
  sent: number;
  /** Calls superseded by a newer one for the same message. */
  coalesced: number;
  /** 429s honoured here (waited out and sent again). */
  retried: number;
}

export class ContainerPreviewPacer {
  private readonly queue: Waiting[] = [];
  private draining = false;
  readonly stats: PacerStats = { asked: 0, sent: 0, coalesced: 0, retried: 0 };

  constructor(
    private readonly pace: ChatPace,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  ) {}

  /** Makes the call (`make` reaches Telegram once), paced and coalesced when it is a preview. */
  async call(call: ParsedBotCall, make: () => Promise<BotApiAnswer>): Promise<BotApiAnswer> {
    const key = previewKey(call);
    if (key === null) {
      const answer = await make();
      // getMe and getFile name no chat; a typing indicator is no message (its 429 still counts).
      if (call.params.chat_id !== undefined) this.observe(answer, call.method !== "sendChatAction");
      return answer;
    }
    this.stats.asked++;
    return new Promise<BotApiAnswer>((resolve, reject) => {
      const queued = this.queue.find((w) => w.key === key);
      if (queued) {
        // Superseded: the newer text goes instead, and this caller hears what Telegram said to it.
        this.stats.coalesced++;
        queued.make = make;
        queued.waiters.push(resolve);
        queued.failers.push(reject);
      } else {
        this.queue.push({ key, make, waiters: [resolve], failers: [reject], heldMs: 0 });
      }
      void this.drain();
    });
  }

  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        const wait = this.pace.waitMs();
        // Waiting with the call still queued: a newer one for its message may replace it meanwhile.
        if (wait > 0) await this.sleep(wait);
        const next = this.queue.shift()!;
        let answer: BotApiAnswer;
        try {
          this.stats.sent++;
          answer = await next.make();
        } catch (error) {
          for (const fail of next.failers) fail(error);
          continue;
        }
        const retryAfter = this.observe(answer);
        if (retryAfter !== null && next.heldMs + retryAfter <= MAX_HOLD_MS) {
          this.stats.retried++;
          next.heldMs += retryAfter;
          this.requeue(next);
          continue;
        }
        for (const done of next.waiters) done(answer);
      }
    } finally {
      this.draining = false;
    }
  }

  /** A refused call goes first again, joined with any newer call for its message that came meanwhile. */
  private requeue(refused: Waiting): void {
    const newer = this.queue.findIndex((w) => w.key === refused.key);
    if (newer === -1) {
      this.queue.unshift(refused);
      return;
    }
    const [later] = this.queue.splice(newer, 1);
    this.stats.coalesced += refused.waiters.length;
    this.queue.unshift({ ...later!, waiters: [...refused.waiters, ...later!.waiters], failers: [...refused.failers, ...later!.failers], heldMs: refused.heldMs });
  }

  /** Moves the chat's pace by Telegram's answer; the wait it asked for, when it is a 429. */
  private observe(answer: BotApiAnswer, counts = true): number | null {
    if (!answer.body.ok && answer.body.error_code === 429) {
      const wait = Math.max(1, answer.body.parameters?.retry_after ?? 1) * 1000;
      this.pace.rateLimited(wait);
      return wait;
    }
    if (counts) this.pace.answered();
    return null;
  }
}

/** `edit:<message_id>` or `draft:<draft_id>` for a preview call; null for any other call. */
function previewKey(call: ParsedBotCall): string | null {
  if (!PREVIEW_METHODS.has(call.method)) return null;
  const id = call.method === "editMessageText" ? call.params.message_id : call.params.draft_id;
  return typeof id === "number" || (typeof id === "string" && id !== "") ? `${call.method === "editMessageText" ? "edit" : "draft"}:${String(id)}` : null;
}
