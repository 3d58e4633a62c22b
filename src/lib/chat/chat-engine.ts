/**
 * One chat engine for every channel (web, HTTP, Telegram). It stores the user message first, streams
 * the reply's pieces to every open socket and to the channel's own listener, and stores the reply and
 * its usage even when every listener has gone. A repeated client id gets the stored (or running)
 * reply, never a second model call.
 */
import type { BedrockRuntimeClient, Message } from "@aws-sdk/client-bedrock-runtime";
import { HttpError } from "../errors.ts";
import { randomToken } from "../crypto.ts";
import type { Config } from "../config.ts";
import type { Sql } from "../sql.ts";
import type { Workspace } from "../workspace.ts";
import type { Profile } from "../profile.ts";
import { ZERO_USAGE, addUsage, assertWithinBudget, costUsd, dailyBudget, recordUsage, type Usage } from "../usage.ts";
import { ChatHistory, type Channel, type ReplyStatus, type StoredImage, type Via } from "./history.ts";
import type { ChatFrame, FrameListener, UsageSummary } from "./frames.ts";
import { HISTORY_CHAR_BUDGET, buildConverseParts, buildSystemPrompt } from "./prompt.ts";
import { StreamInterruptedError, generateImage, streamTurn, type RetryPolicy } from "./bedrock.ts";
import { TOOL_SPECS, runTool } from "./tools.ts";
import type { UpstreamMeter } from "../upstream-meter.ts";

export const MAX_MESSAGE_CHARS = 32_000;
export const MAX_TOOL_ROUNDS = 4;
export const MAX_OUTPUT_TOKENS = 8_192;
const CLIENT_ID_PATTERN = /^[\x21-\x7e]{1,64}$/;
/** How often a streaming reply's text is written to storage (a crash loses at most this much). */
const FLUSH_INTERVAL_MS = 300;

export interface ReplyResult {
  id: string;
  messageId: string;
  text: string;
  via: Via;
  status: ReplyStatus;
  usage: UsageSummary;
  images: StoredImage[];
}

/** A reply being generated: what tabs reconnecting mid-reply need, and how to cancel it. */
interface ActiveReply {
  clientId: string;
  replyId: string;
  channel: Channel;
  text: string;
  images: StoredImage[];
  via: Via;
  usage: Usage;
  abort: AbortController;
  listeners: Set<FrameListener>;
  finished: Promise<ReplyResult>;
  lastFlushAt: number;
}

/** Where a reply is produced: direct Bedrock, or (hybrid routing) the user's container. */
export interface ReplyProducer {
  /** Returns true when it produced the reply; false hands the same message to direct Bedrock. */
  produce(reply: ReplyContext): Promise<boolean>;
}

/** What a producer may do with a reply in progress. */
export interface ReplyContext {
  clientId: string;
  userText: string;
  signal: AbortSignal;
  emitText(piece: string): void;
  emitStatus(status: "thinking" | "waking_container" | "tool", detail?: string): void;
  addUsage(usage: Usage): void;
  setVia(via: Via): void;
  textSoFar(): string;
  history(): { role: "user" | "assistant"; text: string }[];
}

export interface ChatHost {
  env: Env;
  config: Config;
  sql: Sql;
  history: ChatHistory;
  workspace: Workspace;
  profile(): Profile;
  broadcast(frame: ChatFrame): void;
  bedrock(): BedrockRuntimeClient;
  /** The container route, when hybrid routing picks it for this message. */
  containerProducer?(): ReplyProducer | null;
  retryPolicy?: RetryPolicy;
  /** Counts upstream calls for the reply's log line. */
  meter?: UpstreamMeter;
  /** Fields for every reply log line (the owner's log hash). */
  logContext?(): Record<string, string | undefined>;
}

export class ChatEngine {
  private readonly active = new Map<string, ActiveReply>();

  constructor(private readonly host: ChatHost) {}

  /** Replies in progress, with their text so far (the WebSocket `hello.pending`). */
  pending(): { id: string; text: string }[] {
    return [...this.active.values()].map((r) => ({ id: r.clientId, text: r.text }));
  }

  /**
   * Starts (or, for a known client id, replays) a reply. Resolves once the user message is stored;
   * `result` settles when the reply is finished and stored.
   */
  async send(
    input: { clientId?: unknown; text: unknown; channel: Channel },
    options: {
      /** Gets every frame of this reply (an HTTP stream, a Telegram collector). */
      listener?: FrameListener;
      /** Gets only a replay for a repeated id (a socket, which already receives every broadcast). */
      replayTo?: FrameListener;
    } = {},
  ): Promise<{ clientId: string; replayed: boolean; result: Promise<ReplyResult> }> {
    const { listener, replayTo } = options;
    const clientId = input.clientId === undefined ? `${input.channel}_${randomToken(12)}` : validateClientId(input.clientId);
    const text = validateText(input.text);

    const running = this.active.get(clientId);
    if (running) {
      if (listener) running.listeners.add(listener);
      const catchUp = listener ?? replayTo;
      if (catchUp && running.text) catchUp({ type: "delta", id: clientId, text: running.text });
      return { clientId, replayed: true, result: running.finished };
    }
    const existing = this.host.history.findUserMessage(clientId);
    const stored = existing ? this.host.history.findReplyTo(clientId) : null;
    // A reply that produced nothing (failed, or cut off before its first piece) is generated again.
    const producedNothing = stored !== null && stored.text === "" && stored.images.length === 0 && (stored.status === "error" || stored.status === "interrupted");
    if (existing && stored && !producedNothing) {
      const result: ReplyResult = { id: clientId, messageId: stored.id, text: stored.text, via: stored.via ?? "bedrock", status: stored.status, usage: stored.usage, images: stored.images };
      const target = listener ?? replayTo;
      if (target) for (const frame of replayFrames(result)) target(frame);
      return { clientId, replayed: true, result: Promise.resolve(result) };
    }

    const profile = this.host.profile();
    assertWithinBudget(this.host.sql, dailyBudget(profile.tier, this.host.config));
    const now = Date.now();
    if (!existing) {
      this.host.history.insertUserMessage(clientId, text, input.channel, now);
      const userFrame: ChatFrame = { type: "user", id: clientId, text, at: new Date(now).toISOString(), channel: input.channel };
      this.host.broadcast(userFrame);
      listener?.(userFrame);
    }
    const replyId = `a_${randomToken(12)}`;
    this.host.history.insertReply(replyId, clientId, input.channel, now);
    // `finished` exists before the run starts, so a repeat of this id during the run can wait on it.
    const finished = Promise.withResolvers<ReplyResult>();
    const reply: ActiveReply = {
      clientId, replyId, channel: input.channel, text: "", images: [], via: "bedrock", usage: { ...ZERO_USAGE },
      abort: new AbortController(), listeners: new Set(listener ? [listener] : []), finished: finished.promise, lastFlushAt: now,
    };
    if (listener && existing) listener({ type: "user", id: clientId, text: existing.text, at: new Date(existing.at).toISOString() });
    this.active.set(clientId, reply);
    this.run(reply, existing?.text ?? text)
      .finally(() => this.active.delete(clientId))
      .then(finished.resolve, finished.reject);
    return { clientId, replayed: false, result: finished.promise };
  }

  /** Stops a reply; what was produced so far is kept. */
  cancel(clientId: string): boolean {
    const reply = this.active.get(clientId);
    if (!reply) return false;
    reply.abort.abort();
    return true;
  }

  private async run(reply: ActiveReply, userText: string): Promise<ReplyResult> {
    const started = Date.now();
    const calls = this.host.meter?.snapshot();
    let status: ReplyStatus = "done";
    let failure: { code: string; message: string } | null = null;
    const context = this.contextFor(reply, userText);
    try {
      this.emit(reply, { type: "status", id: reply.clientId, status: "thinking" });
      const container = this.host.containerProducer?.();
      const handled = container ? await container.produce(context) : false;
      if (!handled) {
        reply.via = "bedrock";
        await this.runBedrock(reply, context);
      }
    } catch (error) {
      if (reply.abort.signal.aborted) {
        status = "cancelled";
      } else {
        // Text already shown is kept, never re-asked: the reply is marked interrupted instead.
        const partial = error instanceof StreamInterruptedError || reply.text.length > 0;
        status = partial ? "interrupted" : "error";
        failure = partial
          ? { code: "interrupted", message: "The reply was cut off. What arrived is kept; send your message again to continue." }
          : describeForUser(error);
        if (error instanceof StreamInterruptedError) reply.usage = addUsage(reply.usage, error.partial.usage);
      }
    }
    if (status === "done" && reply.abort.signal.aborted) status = "cancelled";
    const result = this.finish(reply, status, failure);
    // One line per reply: what it cost and which upstreams it touched (never its text).
    console.log(JSON.stringify({
      event: "reply", ...this.host.logContext?.(), channel: reply.channel, via: reply.via, status, ms: Date.now() - started,
      ...(failure ? { code: failure.code } : {}), tokens: result.usage.inputTokens + result.usage.outputTokens, costUsd: result.usage.costUsd,
      ...(calls && this.host.meter ? { upstream: this.host.meter.since(calls) } : {}),
    }));
    return result;
  }

  private contextFor(reply: ActiveReply, userText: string): ReplyContext {
    return {
      clientId: reply.clientId,
      userText,
      signal: reply.abort.signal,
      emitText: (piece) => this.appendText(reply, piece),
      emitStatus: (status, detail) => this.emit(reply, { type: "status", id: reply.clientId, status, ...(detail ? { detail } : {}) }),
      addUsage: (usage) => {
        reply.usage = addUsage(reply.usage, usage);
      },
      setVia: (via) => {
        reply.via = via;
      },
      textSoFar: () => reply.text,
      history: () => this.host.history.recentTurns(HISTORY_CHAR_BUDGET, reply.clientId),
    };
  }

  private async runBedrock(reply: ActiveReply, context: ReplyContext): Promise<void> {
    const host = this.host;
    const parts = buildConverseParts({
      systemPrompt: buildSystemPrompt(host.workspace.snapshot()),
      tools: TOOL_SPECS,
      history: context.history(),
      userText: context.userText,
    });
    const messages: Message[] = parts.messages;
    const client = host.bedrock();
    for (let round = 0; round < MAX_TOOL_ROUNDS; round++) {
      // Pieces from a later round start a new paragraph.
      const separator = round > 0 && reply.text && !reply.text.endsWith("\n") ? "\n\n" : "";
      let first = true;
      const turn = await streamTurn(client, host.config, { system: parts.system, messages, tools: parts.tools, maxTokens: MAX_OUTPUT_TOKENS }, (piece) => {
        this.appendText(reply, first ? separator + piece : piece);
        first = false;
      }, reply.abort.signal, host.retryPolicy);
      reply.usage = addUsage(reply.usage, turn.usage);
      if (turn.stopReason !== "tool_use" || turn.toolUses.length === 0 || round === MAX_TOOL_ROUNDS - 1) return;

      messages.push({ role: "assistant", content: [...(turn.text ? [{ text: turn.text }] : []), ...turn.toolUses.map((toolUse) => ({ toolUse }))] });
      const results = [];
      for (const toolUse of turn.toolUses) {
        this.emit(reply, { type: "status", id: reply.clientId, status: "tool", detail: toolUse.name });
        const outcome = await runTool(toolUse.name ?? "", toolUse.input, {
          workspace: host.workspace,
          images: host.env.IMAGES,
          userId: host.profile().userId,
          generateImage: (prompt) => generateImage(client, host.config, prompt, reply.abort.signal),
        }).catch((error: unknown) => ({ ok: false, text: `The tool failed: ${describeForUser(error).message}`, image: undefined }));
        if (outcome.image) {
          reply.images.push(outcome.image);
          reply.usage = addUsage(reply.usage, { ...ZERO_USAGE, images: 1 });
          this.emit(reply, { type: "image", id: reply.clientId, url: outcome.image.url, alt: outcome.image.alt });
        }
        results.push({ toolResult: { toolUseId: toolUse.toolUseId, content: [{ text: outcome.text }], status: outcome.ok ? ("success" as const) : ("error" as const) } });
      }
      messages.push({ role: "user", content: results });
    }
  }

  private appendText(reply: ActiveReply, piece: string): void {
    if (!piece) return;
    reply.text += piece;
    this.emit(reply, { type: "delta", id: reply.clientId, text: piece });
    const now = Date.now();
    if (now - reply.lastFlushAt >= FLUSH_INTERVAL_MS) {
      reply.lastFlushAt = now;
      this.host.history.saveReplyText(reply.replyId, reply.text);
    }
  }

  private finish(reply: ActiveReply, status: ReplyStatus, failure: { code: string; message: string } | null): ReplyResult {
    const cost = costUsd(reply.usage, this.host.config.prices);
    this.host.history.finishReply(reply.replyId, { text: reply.text, status, via: reply.via, images: reply.images, usage: reply.usage, costUsd: cost });
    recordUsage(this.host.sql, reply.usage, cost);
    const result: ReplyResult = {
      id: reply.clientId, messageId: reply.replyId, text: reply.text, via: reply.via, status, images: reply.images,
      usage: summary(reply.usage, cost),
    };
    if (failure) this.emit(reply, { type: "error", id: reply.clientId, messageId: reply.replyId, ...failure });
    else this.emit(reply, doneFrame(result));
    return result;
  }

  private emit(reply: ActiveReply, frame: ChatFrame): void {
    this.host.broadcast(frame);
    for (const listener of reply.listeners) {
      try {
        listener(frame);
      } catch {
        // A listener that has gone (closed HTTP stream) must not stop the reply.
        reply.listeners.delete(listener);
      }
    }
  }
}

function doneFrame(result: ReplyResult): ChatFrame {
  return { type: "done", id: result.id, messageId: result.messageId, via: result.via, usage: result.usage, ...(result.status === "cancelled" ? { status: "cancelled" as const } : {}) };
}

/** The frames that show a finished reply again to a client that repeated its id. */
function replayFrames(result: ReplyResult): ChatFrame[] {
  const frames: ChatFrame[] = [];
  if (result.text) frames.push({ type: "delta", id: result.id, text: result.text });
  for (const image of result.images) frames.push({ type: "image", id: result.id, url: image.url, alt: image.alt });
  if (result.status === "interrupted" || result.status === "error") {
    frames.push({ type: "error", id: result.id, messageId: result.messageId, code: result.status === "error" ? "reply_failed" : "interrupted", message: "This reply did not finish; what arrived is shown." });
  } else {
    frames.push(doneFrame(result));
  }
  return frames;
}

function summary(usage: Usage, cost: number): UsageSummary {
  return { inputTokens: usage.inputTokens, outputTokens: usage.outputTokens, cacheReadTokens: usage.cacheReadTokens, cacheWriteTokens: usage.cacheWriteTokens, costUsd: cost };
}

function validateClientId(value: unknown): string {
  if (typeof value !== "string" || !CLIENT_ID_PATTERN.test(value)) {
    throw new HttpError(400, "invalid_id", "The message id must be 1 to 64 printable ASCII characters without spaces.");
  }
  return value;
}

function validateText(value: unknown): string {
  if (typeof value !== "string" || value.trim() === "") throw new HttpError(400, "invalid_text", "Write a message: text must be a non-empty string.");
  if (value.length > MAX_MESSAGE_CHARS) throw new HttpError(413, "message_too_long", `A message may be at most ${MAX_MESSAGE_CHARS} characters.`);
  return value;
}

function describeForUser(error: unknown): { code: string; message: string } {
  const info = error as { status?: number; code?: string; message?: string; name?: string };
  if (error instanceof HttpError) return { code: error.code, message: error.message };
  if (info?.name === "UpstreamError" || info?.name === "UnreachableError") {
    return { code: info.name === "UpstreamError" ? "model_unavailable" : "model_unreachable", message: `${info.message ?? "The model service failed."} Try again in a moment.` };
  }
  return { code: "reply_failed", message: "The reply failed on our side. Try again." };
}
