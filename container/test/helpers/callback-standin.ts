/**
 * The Worker's container routes as a local stand-in, on one origin like the Worker's
 * (`SOULPRINT_CALLBACK_URL`):
 *
 * - `PUT /api/container/workspace/:name`: records every call and answers with statuses a test queues
 *   (default 200 with a JSON body like the Worker's);
 * - with `gateway`: `POST /api/container/model/v1/messages`, the model gateway: checks the gateway
 *   token (`Authorization: Bearer` or `x-api-key`, as the Worker does) and passes the call on to an
 *   Anthropic Messages server (the model stand-in), streaming its answer back;
 * - with `telegram`: `POST /api/container/telegram/:method`, the Bot API route: checks
 *   `Authorization: Bearer <GATEWAY_TOKEN>` and makes the call on the Telegram stand-in with the real
 *   bot token, which only this "Worker" holds; Telegram's answer goes back unchanged.
 *
 * Anything else is 404 (the container copes: no saved state, no workspace to fetch).
 */
import { createServer, type IncomingMessage } from "node:http";
import { listenLocal, readRaw } from "./local-server.ts";

export interface CallbackPut {
  at: number;
  name: string;
  authorization: string | undefined;
  user: string | undefined;
  contentType: string | undefined;
  body: string;
  status: number;
}

/** One call to the gateway or the Bot API route, as the "Worker" saw it. */
export interface RouteCall {
  at: number;
  path: string;
  /** How the token came: `bearer`, `x-api-key`, or null (none). */
  credential: "bearer" | "x-api-key" | null;
  /** Whether it was the gateway token. */
  authorized: boolean;
  status: number;
}

export interface CallbackStandinOptions {
  /** The container's GATEWAY_TOKEN: what the gateway and the Bot API route accept. */
  gatewayToken?: string;
  /** The Anthropic Messages server the gateway passes calls to (its origin; `/v1/messages` is appended). */
  gateway?: { url: string };
  /** The Telegram Bot API root and the bot's real token. */
  telegram?: { url: string; botToken: string };
}

export interface CallbackStandin {
  url: string;
  puts: CallbackPut[];
  /** Calls to `/api/container/model/v1/messages`. */
  modelCalls: RouteCall[];
  /** Calls to `/api/container/telegram/:method` (path names the method). */
  botCalls: RouteCall[];
  /** Statuses for the next calls, in order; empty: 200. */
  queue: number[];
  close(): Promise<void>;
}

export async function startCallbackStandin(options: CallbackStandinOptions = {}): Promise<CallbackStandin> {
  const state: CallbackStandin = { url: "", puts: [], modelCalls: [], botCalls: [], queue: [], close: async () => {} };
  const credential = (req: IncomingMessage): { kind: RouteCall["credential"]; token: string | null } => {
    const bearer = /^Bearer\s+(\S+)$/i.exec(String(req.headers.authorization ?? "").trim())?.[1];
    if (bearer) return { kind: "bearer", token: bearer };
    const key = req.headers["x-api-key"];
    return typeof key === "string" && key.trim() ? { kind: "x-api-key", token: key.trim() } : { kind: null, token: null };
  };
  const server = createServer(async (req, res) => {
    const raw = await readRaw(req);
    const path = new URL(req.url ?? "/", "http://x").pathname;

    if (req.method === "POST" && path === "/api/container/model/v1/messages" && options.gateway) {
      const presented = credential(req);
      const call: RouteCall = { at: Date.now(), path, credential: presented.kind, authorized: presented.token === options.gatewayToken, status: 0 };
      state.modelCalls.push(call);
      if (!call.authorized) {
        call.status = 401;
        res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ type: "error", error: { type: "authentication_error", message: "This gateway token is not valid." } }));
        return;
      }
      const upstream = await fetch(`${options.gateway.url}/v1/messages`, { method: "POST", headers: { "content-type": "application/json" }, body: raw });
      call.status = upstream.status;
      res.writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "application/json", "cache-control": "no-cache" });
      if (upstream.body) for await (const chunk of upstream.body) res.write(chunk);
      res.end();
      return;
    }

    const bot = /^\/api\/container\/telegram\/([A-Za-z]+)$/.exec(path);
    if (req.method === "POST" && bot && options.telegram) {
      const presented = credential(req);
      const call: RouteCall = { at: Date.now(), path, credential: presented.kind, authorized: presented.kind === "bearer" && presented.token === options.gatewayToken, status: 0 };
      state.botCalls.push(call);
      if (!call.authorized) {
        call.status = 401;
        res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ ok: false, error_code: 401, description: "unauthorized: This gateway token is not valid." }));
        return;
      }
      const headers: Record<string, string> = {};
      if (req.headers["content-type"]) headers["content-type"] = String(req.headers["content-type"]);
      const upstream = await fetch(`${options.telegram.url}/bot${options.telegram.botToken}/${bot[1]}`, { method: "POST", headers, body: raw.length ? raw : undefined });
      call.status = upstream.status;
      res.writeHead(upstream.status, { "content-type": "application/json" }).end(Buffer.from(await upstream.arrayBuffer()));
      return;
    }

    const body = raw.toString("utf8");
    const match = /^\/api\/container\/workspace\/([^/]+)$/.exec(path);
    if (req.method !== "PUT" || !match) {
      res.writeHead(404).end();
      return;
    }
    const status = state.queue.shift() ?? 200;
    const name = decodeURIComponent(match[1]!);
    state.puts.push({
      at: Date.now(), name, body, status,
      authorization: req.headers.authorization, user: req.headers["x-soulprint-user"] as string | undefined,
      contentType: req.headers["content-type"],
    });
    res.writeHead(status, { "content-type": "application/json", ...(status === 429 ? { "retry-after": "1" } : {}) });
    res.end(JSON.stringify(status < 300 ? { name, version: state.puts.length } : { error: "stand-in refusal" }));
  });
  const listening = await listenLocal(server);
  state.url = listening.url;
  state.close = listening.close;
  return state;
}

/** Waits until `check` returns a truthy value (polling), or throws after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 10_000, everyMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
