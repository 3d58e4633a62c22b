/**
 * One chat engine for every channel (web, HTTP, Telegram). It stores the user message first, runs
 * one turn at a time (a message that arrives meanwhile is stored as queued and answered after, in
 * arrival order), streams the reply's pieces to every open socket and to the channel's own
 * listener, and stores the reply and its usage even when every listener has gone. A repeated client
 * id gets the stored (or running, or waiting) reply, never a second model call.
 *
 * The queue is durable: a waiting message is a reply row with status `queued`, so an object evicted
 * with messages waiting picks them up again (`resumeQueued`, from the alarm or the next message).
 */
import { describeError, HttpError } from "../errors.ts";
import { randomToken } from "../crypto.ts";
import type { Workspace } from "../workspace.ts";
import type { ObjectContext } from "../object-context.ts";
import { ZERO_USAGE, addUsage, assertWithinBudget, costUsd, dailyBudget, recordUsage, subtractUsage, type Usage } from "../usage.ts";
import type { ChatHistory, Channel, ReplyStatus, StoredImage, Via } from "./history.ts";
import type { ChatFrame, FrameListener } from "./frames.ts";
import { StreamInterruptedError } from "./bedrock.ts";
import { replyWithBedrock } from "./bedrock-reply.ts";
import type { ReplyContext, ReplyProducer } from "./reply-context.ts";
import { doneFrame, replayFrames, usageSummary, type ReplyResult } from "./reply-frames.ts";
import { resolveImageIds } from "../images/user-images.ts";
import { imageIdsOf } from "./history.ts";

export type { ReplyContext, ReplyProducer } from "./reply-context.ts";
export type { ReplyResult } from "./reply-frames.ts";

export const MAX_MESSAGE_CHARS = 32_000;
/** The job that answers messages an evicted object left waiting. */
export const CHAT_QUEUE_JOB = "chat_queue";
/** Messages that may wait behind the running reply; one more is refused with 429 too_many_pending. */
export const MAX_QUEUED = 8;
const CLIENT_ID_PATTERN = /^[\x21-\x7e]{1,64}$/;
/** How often a streaming reply's text is written to storage (a crash loses at most this much). */
const FLUSH_INTERVAL_MS = 300;

/** A message's turn: waiting in the queue, then running, then gone from memory (stored). */
interface Turn {
  clientId: string;
  replyId: string;
  channel: Channel;
  userText: string;
  userImageIds: string[];
  started: boolean;
  text: string;
  images: StoredImage[];
  via: Via;
  usage: Usage;
  /** The part of `usage` already charged to today's budget (charged between tool rounds). */
  charged: Usage;
  abort: AbortController;
  listeners: Set<FrameListener>;
  finished: PromiseWithResolvers<ReplyResult>;
  lastFlushAt: number;
}

/** What the chat engine needs beyond the object's context. */
export interface ChatDeps {
  history: ChatHistory;
  workspace: Workspace;
  /** The container route, when hybrid routing picks it for this message (lib/container). */
  container?: { producer(): ReplyProducer | null };
}

/** How often the alarm looks at a queue that is still being worked through. */
const QUEUE_CHECK_MS = 60_000;

export class ChatEngine {
  /** Waiting and running turns, in arrival order (a Map keeps insertion order). */
  private readonly turns = new Map<string, Turn>();
  private running: Turn | null = null;
  private restored = false;

  constructor(
    private readonly ctx: ObjectContext,
    private readonly host: ChatDeps,
  ) {
    ctx.events.on("containerUsage", (usage) => this.absorbContainerUsage(usage));
  }

  /**
   * The queue's safety net: messages left waiting by an instance that was evicted are answered from
   * the alarm, which stays open until they are (keeping the object alive); a live queue is only
   * looked at again later.
   */
  defineJobs(): void {
    this.ctx.jobs.define(CHAT_QUEUE_JOB, {
      run: async () => {
        if (this.resumeQueued()) await this.drain();
        else if (this.busy()) return { rerunInMs: QUEUE_CHECK_MS };
      },
    });
  }

  /** A new instance whose storage holds waiting messages answers them from the alarm, now. */
  async armQueue(): Promise<void> {
    if (this.hasQueued()) await this.ctx.jobs.schedule(CHAT_QUEUE_JOB);
  }

  /** Replies in progress or waiting, with their text so far (the WebSocket `hello.pending`). */
  pending(): { id: string; text: string; status: "queued" | "streaming" }[] {
    return [...this.turns.values()].map((t) => ({ id: t.clientId, text: t.text, status: t.started ? "streaming" : "queued" }));
  }

  /** Whether stored messages wait for a reply (an evicted object's queue). */
  hasQueued(): boolean {
    return this.turns.size > 0 || this.host.history.queuedReplies().length > 0;
  }

  /**
   * Stores the message and queues its turn (or, for a known client id, replays its reply). Resolves
   * once the message is stored; `result` settles when its reply is finished and stored.
   */
  async send(
    /** `images`: ids of images the sender stored first (`POST /api/images`, a Telegram photo). */
    input: { clientId?: unknown; text: unknown; channel: Channel; images?: unknown },
    options: {
      /** Gets every frame of this reply (an HTTP stream, a Telegram collector). */
      listener?: FrameListener;
      /** Gets only a replay for a repeated id (a socket, which already receives every broadcast). */
      replayTo?: FrameListener;
    } = {},
  ): Promise<{ clientId: string; replayed: boolean; result: Promise<ReplyResult> }> {
    const { listener, replayTo } = options;
    const clientId = input.clientId === undefined ? `${input.channel}_${randomToken(12)}` : validateClientId(input.clientId);
    // Resolved first: the only wait before the message is stored, so nothing interleaves after the checks below.
    const images = await resolveImageIds(this.ctx.env.IMAGES, this.ctx.owner().userId, input.images);
    const text = validateText(images.length > 0 && input.text === undefined ? "" : input.text, images.length > 0);
    this.resumeQueued();

    const known = this.turns.get(clientId);
    if (known) {
      if (listener) known.listeners.add(listener);
      const catchUp = listener ?? replayTo;
      if (catchUp && !known.started) catchUp({ type: "status", id: clientId, status: "queued" });
      if (catchUp && known.text) catchUp({ type: "delta", id: clientId, text: known.text });
      return { clientId, replayed: true, result: known.finished.promise };
    }
    const existing = this.host.history.findUserMessage(clientId);
    const stored = existing ? this.host.history.findReplyTo(clientId) : null;
    // A reply that produced nothing (failed, or cut off before its first piece) is generated again.
    const producedNothing = stored !== null && stored.text === "" && stored.images.length === 0 && (stored.status === "error" || stored.status === "interrupted");
    if (existing && stored && !producedNothing) {
      const result: ReplyResult = { id: clientId, messageId: stored.id, text: stored.text, via: stored.via ?? "bedrock", status: stored.status, usage: usageSummary(stored.usage, stored.usage.costUsd), images: stored.images };
      const target = listener ?? replayTo;
      if (target) for (const frame of replayFrames(result)) target(frame);
      return { clientId, replayed: true, result: Promise.resolve(result) };
    }

    // Refusals come before anything is stored, so a refused message changes nothing.
    this.assertWithinBudget();
    if (this.turns.size > MAX_QUEUED) {
      throw new HttpError(429, "too_many_pending", `${MAX_QUEUED} messages are already waiting for a reply. Wait for them to be answered, then send this again.`, { "retry-after": "10" });
    }
    const now = Date.now();
    if (!existing) {
      this.host.history.insertUserMessage(clientId, text, input.channel, now, images);
      const userFrame: ChatFrame = { type: "user", id: clientId, text, at: new Date(now).toISOString(), channel: input.channel, ...(images.length ? { images } : {}) };
      this.ctx.broadcast(userFrame);
      listener?.(userFrame);
    } else if (listener) {
      listener({ type: "user", id: clientId, text: existing.text, at: new Date(existing.at).toISOString(), ...(existing.images.length ? { images: existing.images } : {}) });
    }
    const queued = this.turns.size > 0;
    const replyId = `a_${randomToken(12)}`;
    this.host.history.insertReply(replyId, clientId, input.channel, now, queued ? "queued" : "streaming");
    const userImageIds = imageIdsOf(existing ? existing.images : images);
    const turn = this.enqueue({ clientId, replyId, channel: input.channel, userText: existing?.text ?? text, userImageIds }, listener);
    if (queued) {
      this.emit(turn, { type: "status", id: clientId, status: "queued" });
      // A safety net: if this instance is evicted while messages wait, the alarm takes them up.
      this.ctx.waitUntil(this.ctx.jobs.schedule(CHAT_QUEUE_JOB, QUEUE_CHECK_MS));
    }
    this.pump();
    return { clientId, replayed: false, result: turn.finished.promise };
  }

  /** Stops a running reply (what was produced is kept) or drops a waiting one. */
  cancel(clientId: string): boolean {
    const turn = this.turns.get(clientId);
    if (!turn) return false;
    if (turn.started) {
      turn.abort.abort();
      return true;
    }
    this.turns.delete(clientId);
    turn.finished.resolve(this.finish(turn, "cancelled", null));
    return true;
  }

  /**
   * Takes up the messages an evicted object left waiting, in their order, once per instance.
   * Returns whether it found any.
   */
  resumeQueued(): boolean {
    if (this.restored) return false;
    this.restored = true;
    const rows = this.host.history.queuedReplies().filter((row) => !this.turns.has(row.clientId));
    for (const row of rows) this.enqueue({ clientId: row.clientId, replyId: row.replyId, channel: row.channel, userText: row.text, userImageIds: row.imageIds });
    this.pump();
    return rows.length > 0;
  }

  /** Whether a turn runs or waits in this instance. */
  busy(): boolean {
    return this.turns.size > 0;
  }

  /** Resolves once no turn runs or waits. */
  async drain(): Promise<void> {
    while (this.turns.size > 0) await Promise.allSettled([...this.turns.values()].map((t) => t.finished.promise));
  }

  private enqueue(fields: Pick<Turn, "clientId" | "replyId" | "channel" | "userText" | "userImageIds">, listener?: FrameListener): Turn {
    const turn: Turn = {
      ...fields, started: false, text: "", images: [], via: "bedrock", usage: { ...ZERO_USAGE }, charged: { ...ZERO_USAGE },
      abort: new AbortController(), listeners: new Set(listener ? [listener] : []),
      // Exists before the run starts, so a repeat of this id while it waits or runs can wait on it.
      finished: Promise.withResolvers<ReplyResult>(), lastFlushAt: Date.now(),
    };
    this.turns.set(turn.clientId, turn);
    return turn;
  }

  /** Starts the oldest waiting turn when none runs; each finished turn starts the next. */
  private pump(): void {
    if (this.running) return;
    const next = this.turns.values().next().value;
    if (!next) return;
    this.running = next;
    next.started = true;
    this.host.history.startReply(next.replyId);
    this.run(next)
      .then(next.finished.resolve, next.finished.reject)
      .finally(() => {
        this.turns.delete(next.clientId);
        this.running = null;
        this.pump();
      });
  }

  private async run(turn: Turn): Promise<ReplyResult> {
    const started = Date.now();
    const calls = this.ctx.meter.snapshot();
    let status: ReplyStatus = "done";
    let failure: { code: string; message: string } | null = null;
    const context = this.contextFor(turn);
    try {
      // Checked again when the turn starts: turns before it may have spent the day's budget.
      this.assertWithinBudget();
      this.emit(turn, { type: "status", id: turn.clientId, status: "thinking" });
      const container = this.host.container?.producer();
      const handled = container ? await container.produce(context) : false;
      if (!handled) {
        turn.via = "bedrock";
        await replyWithBedrock(this.ctx, this.host.workspace, context);
      }
    } catch (error) {
      if (turn.abort.signal.aborted) {
        status = "cancelled";
      } else {
        // Text already shown is kept, never re-asked: the reply is marked interrupted instead.
        const partial = error instanceof StreamInterruptedError || turn.text.length > 0;
        status = partial ? "interrupted" : "error";
        failure = isBudgetRefusal(error) || !partial
          ? pick(describeError(error, "reply"))
          : { code: "interrupted", message: "The reply was cut off. What arrived is kept; send your message again to continue." };
        if (error instanceof StreamInterruptedError) turn.usage = addUsage(turn.usage, error.partial.usage);
      }
    }
    if (status === "done" && turn.abort.signal.aborted) status = "cancelled";
    const result = this.finish(turn, status, failure);
    // One line per reply: what it cost and which upstreams it touched (never its text).
    console.log(JSON.stringify({
      event: "reply", ...this.ctx.logContext(), channel: turn.channel, via: turn.via, status, ms: Date.now() - started,
      ...(failure ? { code: failure.code } : {}), tokens: result.usage.inputTokens + result.usage.outputTokens, costUsd: result.usage.costUsd,
      upstream: this.ctx.meter.since(calls),
    }));
    return result;
  }

  private contextFor(turn: Turn): ReplyContext {
    return {
      clientId: turn.clientId,
      userText: turn.userText,
      userImageIds: turn.userImageIds,
      signal: turn.abort.signal,
      emitText: (piece) => this.appendText(turn, piece),
      emitStatus: (status, detail) => this.emit(turn, { type: "status", id: turn.clientId, status, ...(detail ? { detail } : {}) }),
      addUsage: (usage) => {
        turn.usage = addUsage(turn.usage, usage);
      },
      addImage: (image) => {
        turn.images.push(image);
        this.emit(turn, { type: "image", id: turn.clientId, url: image.url, alt: image.alt });
      },
      setVia: (via) => {
        turn.via = via;
      },
      textSoFar: () => turn.text,
      history: (maxChars) => this.host.history.turnsBefore(turn.clientId, maxChars),
      checkBudget: () => {
        this.charge(turn);
        this.assertWithinBudget();
      },
    };
  }

  private assertWithinBudget(): void {
    assertWithinBudget(this.ctx.sql, dailyBudget(this.ctx.owner().tier, this.ctx.config));
  }

  /** Adds what the turn spent since the last charge to today's usage. */
  private charge(turn: Turn): void {
    const delta = subtractUsage(turn.usage, turn.charged);
    if (delta.inputTokens + delta.outputTokens + delta.cacheReadTokens + delta.cacheWriteTokens + delta.images === 0) return;
    recordUsage(this.ctx.sql, delta, costUsd(delta, this.ctx.config.prices), { via: turn.via });
    turn.charged = { ...turn.usage };
  }

  /**
   * What the user's container spent through the model gateway while it answers the running turn:
   * already charged to today by the gateway, and part of that turn's reply (its `usage`).
   */
  absorbContainerUsage(usage: Usage): void {
    const turn = this.running;
    if (!turn || turn.via !== "container") return;
    turn.usage = addUsage(turn.usage, usage);
    turn.charged = addUsage(turn.charged, usage);
  }

  private appendText(turn: Turn, piece: string): void {
    if (!piece) return;
    turn.text += piece;
    this.emit(turn, { type: "delta", id: turn.clientId, text: piece });
    const now = Date.now();
    if (now - turn.lastFlushAt >= FLUSH_INTERVAL_MS) {
      turn.lastFlushAt = now;
      this.host.history.saveReplyText(turn.replyId, turn.text);
    }
  }

  private finish(turn: Turn, status: ReplyStatus, failure: { code: string; message: string } | null): ReplyResult {
    const cost = costUsd(turn.usage, this.ctx.config.prices);
    this.host.history.finishReply(turn.replyId, { text: turn.text, status, via: turn.via, images: turn.images, usage: turn.usage, costUsd: cost });
    this.charge(turn);
    const result: ReplyResult = {
      id: turn.clientId, messageId: turn.replyId, text: turn.text, via: turn.via, status, images: turn.images,
      usage: usageSummary(turn.usage, cost), ...(failure ? { error: failure } : {}),
    };
    if (failure) this.emit(turn, { type: "error", id: turn.clientId, messageId: turn.replyId, ...failure });
    else this.emit(turn, doneFrame(result));
    return result;
  }

  private emit(turn: Turn, frame: ChatFrame): void {
    this.ctx.broadcast(frame);
    for (const listener of turn.listeners) {
      try {
        listener(frame);
      } catch {
        // A listener that has gone (closed HTTP stream) must not stop the reply.
        turn.listeners.delete(listener);
      }
    }
  }
}

function isBudgetRefusal(error: unknown): boolean {
  return error instanceof HttpError && error.code === "budget_exceeded";
}

function validateClientId(value: unknown): string {
  if (typeof value !== "string" || !CLIENT_ID_PATTERN.test(value)) {
    throw new HttpError(400, "invalid_id", "The message id must be 1 to 64 printable ASCII characters without spaces.");
  }
  return value;
}

/** With images attached, the text may be empty (a photo without a caption). */
function validateText(value: unknown, withImages = false): string {
  if (typeof value !== "string" || (value.trim() === "" && !withImages)) throw new HttpError(400, "invalid_text", "Write a message: text must be a non-empty string.");
  if (value.length > MAX_MESSAGE_CHARS) throw new HttpError(413, "message_too_long", `A message may be at most ${MAX_MESSAGE_CHARS} characters.`);
  return value;
}

/** What a failed reply tells the person (the status and headers are for HTTP responses only). */
function pick({ code, message }: { code: string; message: string }): { code: string; message: string } {
  return { code, message };
}
