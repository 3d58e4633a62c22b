/**
 * The chat WebSocket: gets a one-time ticket over HTTP (browsers cannot put headers on a
 * WebSocket), connects to /api/chat?ticket=..., keeps the connection alive with the text `ping`
 * (answered `pong` by the server's hibernation auto-response, so it does not wake the object),
 * notices dead connections, and reconnects with exponential backoff and jitter, with a fresh ticket
 * each time. Frames are parsed here and handed to the app; what they mean is chat-store's business.
 */
import { ApiError } from "./api.ts";
import { parseServerFrame, type ClientFrame, type ServerFrame } from "./types.ts";

export type ConnectionState = "connecting" | "connected" | "offline";

export interface ConnectionInfo {
  state: ConnectionState;
  /** When offline: when the next attempt starts (epoch ms). */
  retryAt?: number;
  /** Consecutive failed attempts. */
  attempt: number;
}

export interface ChatSocketOptions {
  getTicket: () => Promise<string>;
  onFrame: (frame: ServerFrame) => void;
  onConnection: (info: ConnectionInfo) => void;
}

const PING_EVERY_MS = 25_000;
/** No frame (not even a pong) for this long: the connection is dead even if the OS has not noticed. */
const SILENCE_LIMIT_MS = 60_000;
/** The server sends `hello` right after the upgrade; without it the connection is not usable. */
const HELLO_TIMEOUT_MS = 15_000;

/**
 * Delay before reconnect attempt `attempt` (1-based): exponential from 1 s, capped at 30 s, with
 * "equal jitter" (half fixed, half random) so a server restart is not met by every tab at once.
 */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(30_000, 1000 * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** ws(s)://<this host>/api/chat?ticket=... */
export function chatUrl(ticket: string, loc: Location = location): string {
  const proto = loc.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${loc.host}/api/chat?ticket=${encodeURIComponent(ticket)}`;
}

export class ChatSocket {
  private ws: WebSocket | null = null;
  private stopped = true;
  private attempt = 0;
  private retryTimer: number | undefined;
  private pingTimer: number | undefined;
  private helloTimer: number | undefined;
  private lastFrameAt = 0;
  private info: ConnectionInfo = { state: "offline", attempt: 0 };
  /** Bumped on every connect/teardown so events of an old socket are ignored. */
  private generation = 0;

  constructor(private readonly opts: ChatSocketOptions) {
    window.addEventListener("online", () => this.retrySoon());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.retrySoon();
    });
  }

  get connection(): ConnectionInfo {
    return this.info;
  }

  get isConnected(): boolean {
    return this.info.state === "connected";
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.attempt = 0;
    void this.connect();
  }

  /** Closes for good (sign-out). */
  stop(): void {
    this.stopped = true;
    this.generation++; // the closing socket's events are not ours any more
    this.teardown();
    window.clearTimeout(this.retryTimer);
    this.setInfo({ state: "offline", attempt: 0 });
  }

  /** Skips the rest of the backoff wait (the "Retry now" button, `online`, tab shown again). */
  retryNow(): void {
    if (this.stopped || this.info.state !== "offline") return;
    window.clearTimeout(this.retryTimer);
    void this.connect();
  }

  /** Sends a frame; false when not connected (the caller keeps what the user typed). */
  send(frame: ClientFrame): boolean {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || this.info.state !== "connected") return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  private retrySoon(): void {
    if (this.info.state === "offline") this.retryNow();
    else if (this.info.state === "connected" && Date.now() - this.lastFrameAt > SILENCE_LIMIT_MS) this.fail();
  }

  private async connect(): Promise<void> {
    const gen = ++this.generation;
    this.teardown();
    this.setInfo({ state: "connecting", attempt: this.attempt });
    let ticket: string;
    try {
      ticket = await this.opts.getTicket();
    } catch (err) {
      if (gen !== this.generation || this.stopped) return;
      // A 401 already sent the app back to sign-in (and stopped us); anything else: try again later.
      if (err instanceof ApiError && err.status === 401) return;
      this.scheduleReconnect();
      return;
    }
    if (gen !== this.generation || this.stopped) return;

    let ws: WebSocket;
    try {
      ws = new WebSocket(chatUrl(ticket));
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.lastFrameAt = Date.now();

    ws.addEventListener("open", () => {
      if (gen !== this.generation) return;
      this.helloTimer = window.setTimeout(() => gen === this.generation && this.fail(), HELLO_TIMEOUT_MS);
      this.pingTimer = window.setInterval(() => this.ping(gen), PING_EVERY_MS);
    });
    ws.addEventListener("message", (ev: MessageEvent) => {
      if (gen !== this.generation) return;
      this.lastFrameAt = Date.now();
      if (typeof ev.data !== "string" || ev.data === "pong") return;
      const frame = parseServerFrame(ev.data);
      if (!frame) return;
      if (frame.type === "hello") {
        window.clearTimeout(this.helloTimer);
        this.attempt = 0;
        this.setInfo({ state: "connected", attempt: 0 });
      }
      this.opts.onFrame(frame);
    });
    ws.addEventListener("close", () => {
      if (gen !== this.generation) return;
      this.fail();
    });
    // "error" is always followed by "close"; nothing to do here.
  }

  private ping(gen: number): void {
    if (gen !== this.generation || !this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    if (Date.now() - this.lastFrameAt > SILENCE_LIMIT_MS) {
      this.fail();
      return;
    }
    this.ws.send("ping");
  }

  /** The current connection is gone or unusable: drop it and schedule the next attempt. */
  private fail(): void {
    this.generation++;
    this.teardown();
    if (!this.stopped) this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    this.attempt++;
    const delay = backoffDelay(this.attempt);
    this.setInfo({ state: "offline", attempt: this.attempt, retryAt: Date.now() + delay });
    window.clearTimeout(this.retryTimer);
    this.retryTimer = window.setTimeout(() => void this.connect(), delay);
  }

  private teardown(): void {
    window.clearInterval(this.pingTimer);
    window.clearTimeout(this.helloTimer);
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState <= WebSocket.OPEN) {
      try {
        ws.close(1000, "client closing");
      } catch {
        /* already closing */
      }
    }
  }

  private setInfo(info: ConnectionInfo): void {
    this.info = info;
    this.opts.onConnection(info);
  }
}
