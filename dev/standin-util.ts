/**
 * Small helpers shared by the local stand-ins (dev/bedrock-standin.ts, dev/telegram-standin.ts):
 * reading bodies, answering JSON, listening on a port, closing cleanly, and command-line flags.
 * Plain node:http on purpose: the stand-ins must behave like a remote HTTP/1.1 service that both
 * Node clients and workerd (vitest pool) can reach, with no framework between us and the wire.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";

/** What every stand-in's `start()` resolves to. */
export interface StandinHandle {
  /** The port actually bound (useful with port 0). */
  port: number;
  /** Base URL without trailing slash, e.g. `http://127.0.0.1:9101`. */
  url: string;
  /** Stops listening and drops every open (also hanging or streaming) connection. */
  close(): Promise<void>;
}

/** Options accepted by every stand-in's `start()`. */
export interface StartOptions {
  /** 0 or absent: a random free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
}

/** Reads the whole request body. Rejects above `limit` bytes (default 25 MB, above Bedrock's 20 MB). */
export async function readBody(req: IncomingMessage, limit = 25 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new Error(`request body larger than ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Parses a JSON body; an empty body is `undefined`; malformed JSON throws a SyntaxError. */
export async function readJson(req: IncomingMessage): Promise<unknown> {
  const raw = (await readBody(req)).toString("utf8");
  return raw.trim() === "" ? undefined : JSON.parse(raw);
}

/** Answers `body` as JSON with `status` and any extra headers. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

/** True for a plain JSON object (not null, not an array). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Creates an HTTP server running `handler`, listens, and returns the handle. Handler exceptions
 * become a 500 JSON answer (a stand-in bug must be visible to the test, not hang it).
 */
export async function serve(
  handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  options: StartOptions = {},
  onClose?: () => void,
): Promise<StandinHandle> {
  const host = options.host ?? "127.0.0.1";
  const server: Server = createServer({ noDelay: true, keepAliveTimeout: 5_000 }, (req, res) => {
    handler(req, res).catch((err: unknown) => {
      console.error(`[standin] ${req.method} ${redactPath(req.url ?? "")}: ${(err as Error)?.stack ?? err}`);
      if (!res.headersSent) sendJson(res, 500, { error: String((err as Error)?.message ?? err) });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(":") ? `[${host}]` : host;
  return {
    port,
    url: `http://${urlHost}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        onClose?.();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Hides a bot token in a path (`/bot123:ABC.../getMe` → `/bot123:***\/getMe`) so logs never show secrets. */
export function redactPath(path: string): string {
  return path.replace(/\/bot(\d+):[^/]*/g, "/bot$1:***");
}

/** Minimal `--name value` flag parser for the stand-ins' command lines. */
export function flags(argv: string[]): { positional: string[]; get(name: string): string | undefined } {
  const positional: string[] = [];
  const named = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      if (eq > 0) named.set(a.slice(2, eq), a.slice(eq + 1));
      else named.set(a.slice(2), argv[++i] ?? "");
    } else positional.push(a);
  }
  return { positional, get: (name) => named.get(name) };
}

/** True when the module with this `import.meta.url` is the script node was started with. */
export function isMain(metaUrl: string): boolean {
  const entry = process.argv[1];
  return entry !== undefined && pathToFileURL(entry).href === metaUrl;
}

/** Runs a stand-in from the command line until SIGINT/SIGTERM. */
export async function runMain(name: string, start: (o: StartOptions) => Promise<StandinHandle>): Promise<void> {
  const f = flags(process.argv.slice(2));
  const handle = await start({ port: Number(f.get("port") ?? 0), host: f.get("host") });
  console.log(`${name} listening on ${handle.url}`);
  const stop = () => void handle.close().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
