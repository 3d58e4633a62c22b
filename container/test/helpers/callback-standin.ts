/**
 * The Worker's `PUT /api/container/workspace/:name` as a local stand-in: records every call and
 * answers with statuses a test queues (default 200 with a JSON body like the Worker's).
 */
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";

export interface CallbackPut {
  at: number;
  name: string;
  authorization: string | undefined;
  user: string | undefined;
  contentType: string | undefined;
  body: string;
  status: number;
}

export interface CallbackStandin {
  url: string;
  puts: CallbackPut[];
  /** Statuses for the next calls, in order; empty: 200. */
  queue: number[];
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export async function startCallbackStandin(): Promise<CallbackStandin> {
  const state: CallbackStandin = { url: "", puts: [], queue: [], close: async () => {} };
  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    const match = /^\/api\/container\/workspace\/([^/]+)$/.exec(new URL(req.url ?? "/", "http://x").pathname);
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
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
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
