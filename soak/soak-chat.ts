/** The soak's web chat: users on WebSockets, disconnecting mid-reply and recovering the reply. */
import type { LocalStack } from "../dev/local-stack.ts";

export interface ChatTiming {
  firstPieceMs: number;
  doneMs: number;
}

type Frame = Record<string, unknown> & { type: string; id?: string };

export function percentiles(values: number[]): { p50: number; p90: number; p99: number } {
  if (values.length === 0) return { p50: NaN, p90: NaN, p99: NaN };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!);
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99) };
}

/** A socket with frame waiting; Email auth on the upgrade (ALLOW_EMAIL_AUTH in local dev). */
class Socket {
  readonly frames: Frame[] = [];
  private waiters: { test: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  readonly ws: WebSocket;
  readonly opened: Promise<void>;

  /** `clientIp`: real users connect from their own addresses; the per-IP limit applies to each. */
  constructor(base: string, email: string, clientIp: string) {
    this.ws = new WebSocket(`${base.replace(/^http/, "ws")}/api/chat`, { headers: { authorization: `Email ${email}`, "cf-connecting-ip": clientIp } } as unknown as string[]);
    this.opened = new Promise((resolve, reject) => {
      this.ws.addEventListener("open", () => resolve());
      this.ws.addEventListener("error", () => reject(new Error("socket error")));
    });
    this.ws.addEventListener("message", (event) => {
      const frame = JSON.parse(String(event.data)) as Frame;
      this.frames.push(frame);
      this.waiters = this.waiters.filter((w) => (w.test(frame) ? (w.resolve(frame), false) : true));
    });
  }

  next(test: (f: Frame) => boolean, timeoutMs = 60_000): Promise<Frame> {
    const seen = this.frames.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("timed out waiting for a frame")), timeoutMs);
      this.waiters.push({ test, resolve: (f) => (clearTimeout(timer), resolve(f)) });
    });
  }
}

export async function chatOverSocket(stack: LocalStack, options: { users: number; messages: number; disconnectRate: number }) {
  const result = { sent: 0, replies: 0, disconnects: 0, recovered: 0, timings: [] as ChatTiming[], problems: [] as string[] };
  const runUser = async (u: number) => {
    const email = `soak-web-${u}@example.com`;
    const clientIp = `198.18.${Math.floor(u / 250)}.${(u % 250) + 1}`;
    let socket = new Socket(stack.base, email, clientIp);
    await socket.opened;
    await socket.next((f) => f.type === "hello");
    for (let m = 0; m < options.messages; m++) {
      const id = `soak-${u}-${m}`;
      const sentAt = performance.now();
      socket.ws.send(JSON.stringify({ type: "chat", id, text: `message ${m} from user ${u}` }));
      result.sent++;
      const firstPiece = await socket.next((f) => (f.type === "delta" || f.type === "error") && f.id === id);
      const firstPieceMs = performance.now() - sentAt;
      let doneAt: number;
      if (Math.random() < options.disconnectRate) {
        // Drop the connection in the middle of the reply; a new one must recover it.
        result.disconnects++;
        socket.ws.close();
        socket = new Socket(stack.base, email, clientIp);
        await socket.opened;
        const hello = await socket.next((f) => f.type === "hello");
        const pending = (hello.pending as { id: string }[]).some((p) => p.id === id);
        if (pending) {
          result.recovered++;
          await socket.next((f) => (f.type === "done" || f.type === "error") && f.id === id);
        }
        doneAt = performance.now();
      } else {
        await socket.next((f) => (f.type === "done" || f.type === "error") && f.id === id);
        doneAt = performance.now();
      }
      if (firstPiece.type === "error") result.problems.push(`${id}: error ${String(firstPiece.code)}: ${String(firstPiece.message)}`);
      result.timings.push({ firstPieceMs, doneMs: doneAt - sentAt });
    }
    socket.ws.close();
    // Every message has exactly one stored reply, finished, linked to it.
    const history = (await (await fetch(`${stack.base}/api/chat/history?limit=200`, { headers: { authorization: `Email ${email}` } })).json()) as {
      messages: { id: string; role: string; replyTo?: string; status?: string; text: string }[];
    };
    for (let m = 0; m < options.messages; m++) {
      const id = `soak-${u}-${m}`;
      const replies = history.messages.filter((x) => x.role === "assistant" && x.replyTo === id);
      if (replies.length !== 1) result.problems.push(`${id}: ${replies.length} stored replies`);
      else if (replies[0]!.status !== "done" || !replies[0]!.text) result.problems.push(`${id}: reply ${replies[0]!.status}`);
      else result.replies++;
      if (history.messages.filter((x) => x.role === "user" && x.id === id).length !== 1) result.problems.push(`${id}: user message not stored once`);
    }
  };
  await Promise.all(Array.from({ length: options.users }, (_, u) => runUser(u).catch((error: Error) => void result.problems.push(`web user ${u}: ${error.message}`))));
  return result;
}
