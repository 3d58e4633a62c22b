/**
 * The one public port (CONTAINER_PORT): a small HTTP server in front of OpenClaw, so the Fly
 * service needs one internal port.
 *
 *   GET  /health            200 once OpenClaw can chat (its /readyz), 503 before
 *   ANY  /v1/*              → OpenClaw's gateway (chat completions; its bearer auth applies)
 *   POST /telegram-webhook  → OpenClaw's Telegram webhook listener (secret header checked here too)
 *
 * Anything else is 404: OpenClaw's Control UI and WebSocket stay on loopback.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { timingSafeEqual } from "node:crypto";

export interface FrontOptions {
  port: number;
  host?: string;
  gatewayPort: number;
  /** Null when no bot is configured: /telegram-webhook answers 404. */
  telegram: { port: number; path: string; secret: string } | null;
  /** Channel ids whose failure alone keeps /health up (chat over /v1 still works). */
  channels: string[];
  /**
   * Called with the Worker's `X-SoulPrint-Workspace-Version` before a chat or Telegram request goes
   * to OpenClaw, so a workspace that moved on is fetched first (issue 15).
   */
  beforeForward?: (workspaceVersion: string | undefined) => Promise<void>;
  log?: (line: string) => void;
}

export interface FrontServer {
  port: number;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "proxy-authorization", "proxy-authenticate"]);

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)), "cache-control": "no-store", ...headers });
  res.end(text);
}

function secretsEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export interface Readiness {
  ok: boolean;
  status: "ready" | "degraded" | "starting" | "unavailable";
  failing?: string[];
}

/** Asks OpenClaw's probes; `channels` may fail alone without taking chat down. */
export async function readiness(gatewayPort: number, channels: string[]): Promise<Readiness> {
  const base = `http://127.0.0.1:${gatewayPort}`;
  let ready: Response;
  try {
    ready = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(3_000) });
  } catch {
    return { ok: false, status: "starting" };
  }
  const body = (await ready.json().catch(() => ({}))) as { ready?: boolean; failing?: unknown };
  const failing = Array.isArray(body.failing) ? body.failing.map(String) : [];
  if (ready.ok && body.ready !== false) return { ok: true, status: "ready" };
  // A broken channel makes /readyz 503 while chat works: keep the machine in service (Fly's proxy
  // stops routing to a machine whose check fails) and say what is broken.
  if (failing.length > 0 && failing.every((f) => channels.includes(f))) {
    const started = await fetch(`${base}/startupz`, { signal: AbortSignal.timeout(3_000) }).catch(() => null);
    await started?.body?.cancel();
    if (started?.ok) return { ok: true, status: "degraded", failing };
  }
  return { ok: false, status: failing.length > 0 ? "unavailable" : "starting", ...(failing.length ? { failing } : {}) };
}

export async function startFront(options: FrontOptions): Promise<FrontServer> {
  const log = options.log ?? (() => {});

  /** Streams a request to a loopback upstream and its answer back (SSE flows piece by piece). */
  function proxy(req: IncomingMessage, res: ServerResponse, port: number, path: string, what: string): void {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
    }
    headers.host = `127.0.0.1:${port}`;
    const upstream = httpRequest({ host: "127.0.0.1", port, method: req.method, path, headers }, (answer) => {
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(answer.headers)) {
        if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
      }
      res.writeHead(answer.statusCode ?? 502, out);
      res.flushHeaders();
      answer.pipe(res);
      answer.on("error", () => res.destroy());
    });
    upstream.setNoDelay(true);
    upstream.on("error", (error: NodeJS.ErrnoException) => {
      if (res.headersSent) return res.destroy();
      const starting = error.code === "ECONNREFUSED" || error.code === "ECONNRESET";
      log(`front: ${what} ${starting ? "not up yet" : `failed: ${error.message}`}`);
      sendJson(res, starting ? 503 : 502, { error: { message: starting ? "The agent is starting; retry shortly." : "The agent did not answer.", type: "unavailable" } }, starting ? { "retry-after": "5" } : {});
    });
    // The caller went away: stop the upstream too (OpenClaw then cancels the agent run).
    res.on("close", () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://front");
    const path = url.pathname;
    if (path === "/health" && (req.method === "GET" || req.method === "HEAD")) {
      const state = await readiness(options.gatewayPort, options.channels);
      return sendJson(res, state.ok ? 200 : 503, state);
    }
    const version = req.headers["x-soulprint-workspace-version"];
    const catchUp = () => options.beforeForward?.(typeof version === "string" ? version : undefined).catch(() => {});
    if (path === "/v1" || path.startsWith("/v1/")) {
      await catchUp();
      return proxy(req, res, options.gatewayPort, `${path}${url.search}`, "gateway");
    }
    if (path === "/telegram-webhook") {
      const tg = options.telegram;
      if (!tg) return sendJson(res, 404, { ok: false, description: "No Telegram bot is configured for this container." });
      if (req.method !== "POST") return sendJson(res, 405, { ok: false, description: "POST only" }, { allow: "POST" });
      const given = req.headers["x-telegram-bot-api-secret-token"];
      if (typeof given !== "string" || !secretsEqual(given, tg.secret)) return sendJson(res, 401, { ok: false, description: "Wrong or missing X-Telegram-Bot-Api-Secret-Token" });
      await catchUp();
      return proxy(req, res, tg.port, tg.path, "telegram listener");
    }
    return sendJson(res, 404, { error: "not found" });
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      log(`front: ${req.method} ${req.url}: ${(error as Error).message}`);
      if (!res.headersSent) sendJson(res, 500, { error: "internal error" });
      else res.destroy();
    });
  });
  // Agent replies can take minutes; Fly's proxy keeps connections alive between requests.
  server.requestTimeout = 120_000;
  server.keepAliveTimeout = 75_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    if (options.host) server.listen(options.port, options.host, () => resolve());
    else server.listen(options.port, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
