/** A WebSocket client for tests: connects through the Worker and waits for frames by predicate. */
import { api, type TestUser } from "./helpers.ts";

export type Frame = Record<string, unknown> & { type: string };

export class TestSocket {
  readonly frames: Frame[] = [];
  readonly raw: string[] = [];
  private waiters: { predicate: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  closed = false;

  constructor(readonly ws: WebSocket) {
    ws.addEventListener("message", (event) => {
      const data = String(event.data);
      this.raw.push(data);
      if (data === "pong") return;
      const frame = JSON.parse(data) as Frame;
      this.frames.push(frame);
      this.waiters = this.waiters.filter((w) => {
        if (!w.predicate(frame)) return true;
        w.resolve(frame);
        return false;
      });
    });
    ws.addEventListener("close", () => {
      this.closed = true;
    });
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /** Resolves with the first frame (already received or arriving) that matches. */
  next(predicate: (f: Frame) => boolean, timeoutMs = 10_000): Promise<Frame> {
    const seen = this.frames.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`No matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames.map((f) => f.type))}`)), timeoutMs);
      this.waiters.push({ predicate, resolve: (f) => { clearTimeout(timer); resolve(f); } });
    });
  }

  close(): void {
    this.ws.close(1000, "bye");
  }
}

export async function connect(user: TestUser | null, query = ""): Promise<{ status: number; socket: TestSocket | null; response: Response }> {
  const headers: Record<string, string> = { upgrade: "websocket" };
  if (user) Object.assign(headers, user.auth);
  const response = await api(`/api/chat${query}`, { headers });
  if (response.status !== 101 || !response.webSocket) return { status: response.status, socket: null, response };
  response.webSocket.accept();
  return { status: 101, socket: new TestSocket(response.webSocket), response };
}
