/**
 * The Worker's container routes of issue 15 as a local stand-in, held to the Worker's rules:
 * `GET /api/container/workspace` (ETag = a digest of every file's name and sha256, 304 on
 * If-None-Match), `PUT /api/container/workspace/:name` (If-Match / If-None-Match: * — a mismatch is
 * 409 and the refused text is kept as a version), `GET|PUT /api/container/state` (gzip, 404 before
 * the first save) and `PUT /api/container/schedule`. Every request must carry the gateway token.
 */
import { createServer } from "node:http";
import { createHash } from "node:crypto";
import { listenLocal, readRaw } from "./local-server.ts";

const sha = (text: string | Buffer) => createHash("sha256").update(text).digest("hex");

export interface WorkerStandin {
  url: string;
  token: string;
  files: Map<string, string>;
  /** Every text refused with 409, kept like the Worker keeps it (a version). */
  conflicts: { name: string; content: string }[];
  states: Buffer[];
  schedules: { id: string; name: string; nextRunAt: string }[][];
  requests: { method: string; path: string; ifNoneMatch?: string; ifMatch?: string }[];
  etag(): string;
  close(): Promise<void>;
}

export async function startWorkerStandin(initial: Record<string, string>, token = "gw-token"): Promise<WorkerStandin> {
  const s: WorkerStandin = {
    url: "", token, files: new Map(Object.entries(initial)), conflicts: [], states: [], schedules: [], requests: [],
    etag: () => sha([...s.files].sort(([a], [b]) => (a < b ? -1 : 1)).map(([n, c]) => `${n}:${sha(c)}`).join("\n")),
    close: async () => {},
  };
  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const body = await readRaw(req);
    const h = (name: string) => (typeof req.headers[name] === "string" ? (req.headers[name] as string) : undefined);
    s.requests.push({ method: req.method ?? "", path, ifNoneMatch: h("if-none-match"), ifMatch: h("if-match") });
    const send = (status: number, value?: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, value === undefined ? headers : { "content-type": "application/json", ...headers });
      res.end(value === undefined ? undefined : JSON.stringify(value));
    };
    if (req.headers.authorization !== `Bearer ${token}`) return send(401, { error: { code: "unauthorized", message: "bad token" } });
    if (path === "/api/container/workspace" && req.method === "GET") {
      const tag = `"${s.etag()}"`;
      if (h("if-none-match") === tag) return send(304, undefined, { etag: tag });
      const files = [...s.files].map(([name, content], i) => ({ name, content, sha256: sha(content), version: i + 1 }));
      return send(200, { version: s.etag(), files }, { etag: tag });
    }
    const put = /^\/api\/container\/workspace\/([A-Z][A-Z0-9_]*\.md)$/.exec(path);
    if (put && req.method === "PUT") {
      const name = put[1]!;
      const text = body.toString("utf8");
      const current = s.files.get(name);
      const ifMatch = h("if-match")?.replace(/"/g, "");
      const stale = (ifMatch !== undefined && (current === undefined || sha(current) !== ifMatch)) || (h("if-none-match") === "*" && current !== undefined);
      if (stale) {
        s.conflicts.push({ name, content: text });
        return send(409, { error: { code: "write_conflict", message: `${name} was changed by the person since this container last read it. Their text stays current; yours is kept as a version.` } });
      }
      s.files.set(name, text);
      return send(200, { name, sha256: sha(text) });
    }
    if (path === "/api/container/state" && req.method === "GET") {
      const last = s.states.at(-1);
      if (!last) return send(404, { error: { code: "no_state", message: "none" } });
      res.writeHead(200, { "content-type": "application/gzip", etag: `"${sha(last)}"` });
      return res.end(last);
    }
    if (path === "/api/container/state" && req.method === "PUT") {
      if (req.headers["content-type"] !== "application/gzip") return send(415, { error: { code: "unsupported_media_type", message: "gzip" } });
      s.states.push(body);
      return send(200, { version: s.states.length, sha256: sha(body), size: body.length });
    }
    if (path === "/api/container/schedule" && req.method === "PUT") {
      s.schedules.push((JSON.parse(body.toString("utf8")) as { jobs: WorkerStandin["schedules"][number] }).jobs);
      return send(200, { jobs: s.schedules.at(-1) });
    }
    return send(404, { error: { code: "not_found", message: path } });
  });
  const listening = await listenLocal(server);
  s.url = listening.url;
  s.close = listening.close;
  return s;
}
