/**
 * The user's own container as a chat route: `POST {FLY_APP_URL}/v1/chat/completions` (OpenAI shape,
 * streamed), bearer GATEWAY_TOKEN, the session key in `user`. A stopped machine is started by Fly's
 * proxy on the first request; while it wakes, connection errors and 502/503/504 are retried within
 * the wake budget. The wake budget covers only the time until the container answers: an agent's
 * reply with tool use may then run for minutes, bounded by the silence allowed between pieces
 * (`idleTimeoutMs`) and an overall cap. Failing before the first piece hands the message to direct
 * Bedrock (the engine does that when `produce` returns false); failing after it keeps the text and
 * reports an interruption.
 */
import type { ContainerTuning } from "../tuning.ts";
import { AppError, UpstreamError } from "../errors.ts";
import type { ReplyContext, ReplyProducer } from "../chat/reply-context.ts";
import { readCompletionStream } from "./openai-sse.ts";
import { requestWhileWaking } from "./wake-request.ts";
import { userContent } from "./container-message.ts";
import type { PromptImage } from "../chat/prompt.ts";

export interface ContainerTarget {
  appUrl: string;
  gatewayToken: string;
  userId: string;
  /** The workspace's version (its ETag); the container re-reads the workspace when it moved on. */
  workspaceVersion?: string;
  /** The images the message carries, read from R2 (none for text alone). */
  images?(ids: string[]): Promise<PromptImage[]>;
}

/** The header that tells the container which workspace version the Worker has (issue 15). */
export const WORKSPACE_VERSION_HEADER = "x-soulprint-workspace-version";

function versionHeader(version: string | undefined): Record<string, string> {
  return version ? { [WORKSPACE_VERSION_HEADER]: version } : {};
}


/** Why a started reply was stopped by us rather than by the container. */
class ReplyTimeout extends AppError {
  override readonly name = "ReplyTimeout";
  constructor(
    readonly kind: "idle" | "cap",
    message: string,
  ) {
    super(message);
  }
}

/** Thrown when the container failed after pieces were shown: they are kept, nothing is re-asked. */
export class ContainerInterruptedError extends AppError {
  override readonly name = "ContainerInterruptedError";
}

export class ContainerProducer implements ReplyProducer {
  constructor(
    private readonly target: ContainerTarget,
    private readonly tuning: ContainerTuning,
    /** Called once when the container failed before its first piece (opens the circuit). */
    private readonly onUnavailable: (reason: string) => void,
    // Wrapped: workerd's fetch throws "Illegal invocation" when called as a method of another object.
    private readonly fetcher: typeof fetch = (input, init) => fetch(input, init),
  ) {}

  async produce(reply: ReplyContext): Promise<boolean> {
    const stop = new AbortController();
    const response = await this.connect(reply, stop.signal);
    if (!response) return false;
    reply.setVia("container");
    let received = false;
    // Idle and overall limits abort the body read through `stop`, the signal the fetch was made with.
    const cap = setTimeout(() => stop.abort(new ReplyTimeout("cap", `the reply ran longer than ${this.tuning.replyCapMs} ms`)), this.tuning.replyCapMs);
    let idle: ReturnType<typeof setTimeout> | null = null;
    const awaitNextPiece = () => {
      if (idle) clearTimeout(idle);
      idle = setTimeout(() => stop.abort(new ReplyTimeout("idle", `the container was silent for ${this.tuning.idleTimeoutMs} ms`)), this.tuning.idleTimeoutMs);
    };
    try {
      awaitNextPiece();
      for await (const chunk of readCompletionStream(response.body!)) {
        awaitNextPiece();
        if (reply.signal.aborted) throw new DOMException("cancelled", "AbortError");
        if (chunk.error) throw new UpstreamError("container", 502, "container_error", `The container reported: ${chunk.error}`);
        if (chunk.text) {
          received = true;
          reply.emitText(chunk.text);
        }
        // The usage the container reports about itself is not counted: its every model call went
        // through the model gateway, which charged it and added it to this reply.
      }
    } catch (error) {
      if (reply.signal.aborted) throw error;
      const reason = stop.signal.reason instanceof ReplyTimeout ? stop.signal.reason : error;
      // The overall cap is our own limit on a healthy container: it opens no circuit.
      if (!(reason instanceof ReplyTimeout && reason.kind === "cap")) this.onUnavailable(`stream failed: ${(reason as Error).message}`);
      if (!received) {
        reply.setVia("bedrock");
        return false;
      }
      throw new ContainerInterruptedError("The container stopped in the middle of the reply.", { cause: reason });
    } finally {
      if (idle) clearTimeout(idle);
      clearTimeout(cap);
    }
    if (!received) {
      this.onUnavailable("empty reply");
      reply.setVia("bedrock");
      return false;
    }
    return true;
  }

  /** Connects, retrying while the machine wakes; null means "give this message to Bedrock". */
  private async connect(reply: ReplyContext, stop: AbortSignal): Promise<Response | null> {
    // Read once, before the first attempt: a retry while the machine wakes sends the same body.
    const images = reply.userImageIds.length && this.target.images ? await this.target.images(reply.userImageIds) : [];
    const body = JSON.stringify({ model: "openclaw", stream: true, user: `soulprint:${this.target.userId}`, messages: [{ role: "user", content: userContent(reply.userText, images) }] });
    const { response, reason } = await requestWhileWaking(
      this.tuning,
      (wake) => this.fetcher(`${this.target.appUrl}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${this.target.gatewayToken}`, "content-type": "application/json", accept: "text/event-stream", ...versionHeader(this.target.workspaceVersion) },
        body,
        // Once the container answers, the body is bounded by `stop` alone (idle timeout, cap).
        signal: AbortSignal.any([wake, stop]),
      }),
      { signal: reply.signal, onFirstRetry: () => reply.emitStatus("waking_container") },
    );
    if (response?.body) return response;
    this.onUnavailable(response ? "the container answered without a body" : reason);
    return null;
  }
}

/** Forwards a raw Telegram update to the container, which answers the chat itself. */
export async function forwardTelegramUpdate(
  target: { appUrl: string; webhookSecret: string; workspaceVersion?: string },
  update: unknown,
  tuning: ContainerTuning,
  fetcher: typeof fetch = fetch,
): Promise<boolean> {
  const { response } = await requestWhileWaking(tuning, (wake) => fetcher(`${target.appUrl}/telegram-webhook`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-telegram-bot-api-secret-token": target.webhookSecret, ...versionHeader(target.workspaceVersion) },
    body: JSON.stringify(update),
    signal: wake,
  }));
  await response?.body?.cancel();
  return response !== null;
}
