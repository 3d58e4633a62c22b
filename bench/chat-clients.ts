/**
 * The three clients of the chat benchmark. Each collects, for every benchmark piece of a reply, its
 * arrival time here minus the write time the Bedrock stand-in stamped into it (`⟨t=<ms>⟩`, taken
 * with performance.timeOrigin + performance.now() in this same process, so both ends read one clock).
 *
 * - HTTP SSE: `POST /api/chat` through the Worker and the user's Durable Object.
 * - WebSocket: `GET /api/chat?ticket=...` (Node's WebSocket cannot set headers, so a one-use ticket
 *   from `POST /api/chat/ticket`), then `{type:"chat"}` frames.
 * - Floor: the real AWS SDK (`ConverseStreamCommand`, FetchHttpHandler) straight to the stand-in.
 *
 * A piece counts as arrived when the frame completing its stamp arrives, so a piece split across
 * frames or several pieces in one frame are both measured right (and show up in `frames`).
 */
import { BedrockRuntimeClient, ConverseStreamCommand } from "@aws-sdk/client-bedrock-runtime";
import { FetchHttpHandler } from "@smithy/fetch-http-handler";

export const now = (): number => performance.timeOrigin + performance.now();

export interface ReplySample {
  /** Arrival minus write time, per piece in order (ms). */
  latencies: number[];
  /** Frames (SSE delta events, WebSocket delta frames, SDK contentBlockDelta events) that carried text. */
  frames: number;
  /** Frames whose text held no complete stamp (a piece split across frames). */
  framesWithoutPiece: number;
  /** Frames that completed more than one piece (pieces coalesced). */
  framesWithSeveralPieces: number;
  /** From sending the request to the last frame of the reply (ms). */
  totalMs: number;
  /** The stand-in's write stamp of the first piece (epoch ms). */
  firstWriteAt?: number;
  error?: string;
}

const STAMP = /⟨t=(\d+(?:\.\d+)?)⟩/g;

/** Accumulates a reply's text and turns newly completed stamps into latencies. */
class PieceTracker {
  private text = "";
  private scanned = 0;
  readonly sample: ReplySample = { latencies: [], frames: 0, framesWithoutPiece: 0, framesWithSeveralPieces: 0, totalMs: 0 };

  onText(piece: string, arrival: number): void {
    this.sample.frames++;
    this.text += piece;
    STAMP.lastIndex = this.scanned;
    let found = 0;
    for (let m = STAMP.exec(this.text); m; m = STAMP.exec(this.text)) {
      this.sample.firstWriteAt ??= Number(m[1]);
      this.sample.latencies.push(arrival - Number(m[1]));
      this.scanned = STAMP.lastIndex;
      found++;
    }
    if (found === 0) this.sample.framesWithoutPiece++;
    if (found > 1) this.sample.framesWithSeveralPieces++;
  }
}

export const emailFor = (name: string): string => `bench-${name}@example.com`;
const authFor = (name: string) => ({ authorization: `Email ${emailFor(name)}` });

/** Creates the user (first request to its object) so replies measure a warm object. */
export async function warmUser(base: string, name: string): Promise<void> {
  const res = await fetch(`${base}/api/me`, { headers: authFor(name) });
  if (!res.ok) throw new Error(`GET /api/me for ${name}: ${res.status} ${await res.text()}`);
  await res.arrayBuffer();
}

/** One reply over HTTP SSE. */
export async function sseReply(base: string, user: string, id: string): Promise<ReplySample> {
  const tracker = new PieceTracker();
  const started = now();
  const res = await fetch(`${base}/api/chat`, {
    method: "POST",
    headers: { ...authFor(user), "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify({ id, text: "benchmark" }),
  });
  if (!res.ok || !res.body) {
    tracker.sample.error = `POST /api/chat ${res.status}: ${(await res.text()).slice(0, 200)}`;
    return tracker.sample;
  }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let last = started;
  for (;;) {
    const { done, value } = await reader.read();
    const arrival = now();
    if (done) break;
    last = arrival;
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf("\n\n")) !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (!event || !data) continue;
      if (event === "delta") tracker.onText((JSON.parse(data) as { text: string }).text, arrival);
      else if (event === "error") tracker.sample.error = `error event: ${data.slice(0, 200)}`;
    }
  }
  tracker.sample.totalMs = last - started;
  return tracker.sample;
}

type Frame = { type: string; id?: string; text?: string; code?: string; message?: string };

/** A signed-in WebSocket for one user; replies run one at a time. */
export class BenchSocket {
  private ws!: WebSocket;
  private current: { id: string; tracker: PieceTracker; started: number; resolve: (s: ReplySample) => void } | null = null;
  private closedReason: string | null = null;

  static async open(base: string, user: string): Promise<BenchSocket> {
    const res = await fetch(`${base}/api/chat/ticket`, { method: "POST", headers: authFor(user) });
    if (!res.ok) throw new Error(`POST /api/chat/ticket for ${user}: ${res.status} ${await res.text()}`);
    const { ticket } = (await res.json()) as { ticket: string };
    const socket = new BenchSocket();
    await new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(`${base.replace(/^http/, "ws")}/api/chat?ticket=${encodeURIComponent(ticket)}`);
      socket.ws = ws;
      const timer = setTimeout(() => reject(new Error(`no hello frame for ${user} within 10 s`)), 10_000);
      ws.addEventListener("message", (event) => {
        const arrival = now();
        const frame = JSON.parse(String(event.data)) as Frame;
        if (frame.type === "hello") {
          clearTimeout(timer);
          resolve();
          return;
        }
        socket.onFrame(frame, arrival);
      });
      ws.addEventListener("error", () => {
        clearTimeout(timer);
        reject(new Error(`WebSocket error for ${user}`));
      });
      ws.addEventListener("close", (event) => {
        socket.closedReason = `closed ${event.code} ${event.reason}`;
        socket.finish(socket.closedReason);
      });
    });
    return socket;
  }

  private onFrame(frame: Frame, arrival: number): void {
    const cur = this.current;
    if (!cur) return;
    // An error frame without an id (rate limit, malformed frame) answers the frame just sent.
    if (frame.type === "error" && frame.id === undefined) return this.finish(`error frame ${frame.code}: ${frame.message}`);
    if (frame.id !== cur.id) return;
    if (frame.type === "delta") cur.tracker.onText(frame.text ?? "", arrival);
    else if (frame.type === "error") this.finish(`error frame ${frame.code}: ${frame.message}`);
    else if (frame.type === "done") {
      cur.tracker.sample.totalMs = arrival - cur.started;
      this.finish();
    }
  }

  private finish(error?: string): void {
    const cur = this.current;
    if (!cur) return;
    this.current = null;
    if (error) cur.tracker.sample.error = error;
    cur.resolve(cur.tracker.sample);
  }

  reply(id: string): Promise<ReplySample> {
    if (this.closedReason) return Promise.resolve({ ...new PieceTracker().sample, error: this.closedReason });
    return new Promise((resolve) => {
      this.current = { id, tracker: new PieceTracker(), started: now(), resolve };
      this.ws.send(JSON.stringify({ type: "chat", id, text: "benchmark" }));
    });
  }

  close(): void {
    try {
      this.ws.close(1000, "bench done");
    } catch {
      // already closed
    }
  }
}

/** The floor: the stand-in straight to the AWS SDK in this process, no Worker in between. */
export class FloorClient {
  private client: BedrockRuntimeClient;
  private modelId: string;

  constructor(endpoint: string, modelId: string) {
    this.modelId = modelId;
    this.client = new BedrockRuntimeClient({
      region: "us-east-1",
      endpoint,
      credentials: { accessKeyId: "AKIDBENCHFLOOR", secretAccessKey: "bench-floor-secret" },
      // Without it the SDK in Node speaks HTTP/2 to the HTTP/1.1 stand-in ("Protocol error").
      requestHandler: new FetchHttpHandler(),
      maxAttempts: 1,
    });
  }

  async reply(): Promise<ReplySample> {
    const tracker = new PieceTracker();
    const started = now();
    let last = started;
    try {
      const out = await this.client.send(
        new ConverseStreamCommand({
          modelId: this.modelId,
          system: [{ text: "You are a benchmark." }],
          messages: [{ role: "user", content: [{ text: "benchmark" }] }],
          inferenceConfig: { maxTokens: 1024 },
        }),
      );
      for await (const event of out.stream ?? []) {
        const arrival = now();
        last = arrival;
        const text = event.contentBlockDelta?.delta?.text;
        if (text !== undefined) tracker.onText(text, arrival);
      }
    } catch (err) {
      tracker.sample.error = `floor: ${(err as Error).name}: ${(err as Error).message}`;
    }
    tracker.sample.totalMs = last - started;
    return tracker.sample;
  }

  destroy(): void {
    this.client.destroy();
  }
}
