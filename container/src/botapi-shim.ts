/**
 * A tiny Telegram Bot API proxy on loopback, set as OpenClaw's `channels.telegram.apiRoot`. The
 * Worker owns the bot: its token, its webhook, its commands menu, its profile. OpenClaw calls
 * `setWebhook` and `setMyCommands` when it starts; here those calls are answered `ok` without
 * reaching Telegram, and `getUpdates` (polling) is refused, so the webhook always stays on the
 * Worker. Everything else (`getMe`, `sendMessage`, `sendChatAction`, ...) goes to the Worker's Bot
 * API route (`$SOULPRINT_CALLBACK_URL/api/container/telegram/<method>`) with the gateway token: the
 * Worker makes the call with the user's bot, checks the chat, and stores what is sent in history.
 * File downloads (`/file/bot<token>/<file_path>`, a photo OpenClaw reads) go to the Worker's file
 * route (`.../api/container/telegram/file/<file_path>`), which downloads with the user's bot.
 * The token in OpenClaw's URL is a placeholder and goes nowhere.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** Calls that would change the bot itself: the Worker's business, never the container's. */
const SWALLOWED = new Set([
  "setwebhook", "deletewebhook", "logout", "close",
  "setmycommands", "deletemycommands", "setmyname", "setmydescription", "setmyshortdescription",
  "setchatmenubutton", "setmydefaultadministratorrights",
]);

export interface ShimCall {
  at: number;
  method: string;
  /** Forwarded upstream, or answered here. */
  handled: "forwarded" | "swallowed" | "refused";
  status: number;
}

export interface BotApiShim {
  port: number;
  url: string;
  calls: ShimCall[];
  close(): Promise<void>;
}

export interface BotApiShimOptions {
  /** The Worker's public origin (SOULPRINT_CALLBACK_URL). */
  worker: string;
  /** The container's one credential, sent to the Worker with every call. */
  gatewayToken: string;
  port?: number;
  host?: string;
  log?: (line: string) => void;
}

/** `/file/bot<placeholder>/<file_path>`: the placeholder token is dropped, the path goes on as it came. */
const FILE_PATH = /^\/file\/bot[^/]+\/(.+)$/;

const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "host", "content-length"]);

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function startBotApiShim(options: BotApiShimOptions): Promise<BotApiShim> {
  const upstream = `${options.worker.replace(/\/+$/, "")}/api/container/telegram`;
  const log = options.log ?? (() => {});
  const calls: ShimCall[] = [];
  /** What OpenClaw believes it registered, so getWebhookInfo agrees with it. */
  let advertised: { url: string; allowedUpdates?: unknown } = { url: "" };

  const record = (method: string, handled: ShimCall["handled"], status: number) => {
    calls.push({ at: Date.now(), method, handled, status });
    if (calls.length > 500) calls.splice(0, calls.length - 500);
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://shim");
    const match = /^\/bot[^/]+\/([A-Za-z]+)$/.exec(url.pathname);
    const method = match?.[1]?.toLowerCase();
    const body = await readBody(req);

    if (method && SWALLOWED.has(method)) {
      if (method === "setwebhook") {
        advertised = { url: paramOf(req, body, url, "url") ?? "", allowedUpdates: paramOf(req, body, url, "allowed_updates") };
      }
      log(`bot api: ${match![1]} kept from Telegram (the Worker owns the bot)`);
      record(match![1]!, "swallowed", 200);
      return json(res, 200, { ok: true, result: true, description: method === "setwebhook" ? "Webhook was set" : undefined });
    }
    if (method === "getupdates") {
      record(match![1]!, "refused", 409);
      return json(res, 409, { ok: false, error_code: 409, description: "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first" });
    }
    if (method === "getwebhookinfo") {
      record(match![1]!, "swallowed", 200);
      return json(res, 200, { ok: true, result: { url: advertised.url, has_custom_certificate: false, pending_update_count: 0, max_connections: 40 } });
    }

    // File downloads (`/file/bot<token>/<file_path>`, after getFile) need the bot's token, which
    // the Worker keeps: its file route downloads with the user's bot (issue 18).
    const file = match ? null : FILE_PATH.exec(url.pathname);
    if (!match && !(file && (req.method === "GET" || req.method === "HEAD"))) {
      record(url.pathname.split("/")[1] ?? "request", "refused", 404);
      return json(res, 404, { ok: false, error_code: 404, description: "Not Found: this container reaches Telegram only through the Worker's Bot API route" });
    }
    const name = match ? match[1]! : "file";
    const target = match ? `${upstream}/${match[1]}${url.search}` : `${upstream}/file/${file![1]}`;
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) {
      if (v === undefined || HOP_BY_HOP.has(k) || k === "authorization") continue;
      headers.set(k, Array.isArray(v) ? v.join(", ") : v);
    }
    headers.set("authorization", `Bearer ${options.gatewayToken}`);
    let upstreamRes: Response;
    try {
      upstreamRes = await fetch(target, {
        method: req.method,
        headers,
        body: req.method === "GET" || req.method === "HEAD" ? undefined : body,
        signal: AbortSignal.timeout(120_000),
      });
    } catch (error) {
      record(name, "forwarded", 502);
      log(`bot api: ${name} could not reach ${upstream}: ${(error as Error).message}`);
      return json(res, 502, { ok: false, error_code: 502, description: "Bad Gateway: the Bot API could not be reached" });
    }
    record(name, "forwarded", upstreamRes.status);
    const out: Record<string, string> = {};
    upstreamRes.headers.forEach((v, k) => {
      if (!HOP_BY_HOP.has(k) && k !== "content-encoding") out[k] = v;
    });
    const payload = Buffer.from(await upstreamRes.arrayBuffer());
    out["content-length"] = String(payload.length);
    res.writeHead(upstreamRes.status, out);
    res.end(payload);
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      log(`bot api shim: ${(error as Error).message}`);
      if (!res.headersSent) json(res, 500, { ok: false, error_code: 500, description: "Internal Server Error" });
      else res.destroy();
    });
  });
  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://${host}:${port}`,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** One parameter of a Bot API call, from the query, a JSON body or a urlencoded body. */
function paramOf(req: IncomingMessage, body: Buffer, url: URL, name: string): string | undefined {
  const fromQuery = url.searchParams.get(name);
  if (fromQuery !== null) return fromQuery;
  const type = String(req.headers["content-type"] ?? "");
  try {
    if (type.includes("application/json")) {
      const value = (JSON.parse(body.toString("utf8")) as Record<string, unknown>)[name];
      return value === undefined ? undefined : typeof value === "string" ? value : JSON.stringify(value);
    }
    if (type.includes("application/x-www-form-urlencoded")) return new URLSearchParams(body.toString("utf8")).get(name) ?? undefined;
  } catch {
    // an unreadable body: nothing to remember
  }
  return undefined;
}
