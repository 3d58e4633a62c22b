/**
 * A local model server for the container tests. Two protocols, one reply function:
 *
 * - the Anthropic Messages API, `POST /v1/messages` (streamed with Anthropic's SSE events, or JSON):
 *   what the Worker's model gateway speaks, so the image's own model path (OpenClaw's
 *   `anthropic-messages` provider on `$SOULPRINT_CALLBACK_URL/api/container/model`) runs against it
 *   (the callback stand-in passes the gateway route on to it);
 * - OpenAI-compatible `POST /v1/chat/completions` and `GET /v1/models` (SOULPRINT_MODEL_BASE_URL).
 *
 * It records every request body, so a test can check what OpenClaw put in the system prompt, and
 * answers with a fixed text (or one a test chooses).
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface ModelRequest {
  at: number;
  path: string;
  protocol: "anthropic" | "openai";
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
}

/** A reply: text, or one tool call (OpenClaw runs the tool and asks again with its result). */
export type Reply = string | { tool: string; arguments: Record<string, unknown> };

export interface ModelStandin {
  url: string;
  port: number;
  requests: ModelRequest[];
  /** What the next replies carry; a function sees the request. */
  reply: (request: ModelRequest) => Reply;
  close(): Promise<void>;
}

type Msg = Record<string, unknown>;

/** The messages of the turn being answered: everything after the last assistant message. */
export function currentTurn(body: Record<string, unknown>): Msg[] {
  const messages = Array.isArray(body.messages) ? (body.messages as Msg[]) : [];
  let last = -1;
  messages.forEach((m, i) => {
    if (m.role === "assistant") last = i;
  });
  return messages.slice(last + 1);
}

/** Whether the turn carries a tool's result (OpenAI: a `tool` message; Anthropic: a `tool_result` block). */
export function hasToolResult(turn: Msg[]): boolean {
  return turn.some((m) => m.role === "tool" || (Array.isArray(m.content) && m.content.some((b) => isObj(b) && b.type === "tool_result")));
}

/** The text of a message, whatever its content shape. */
export function textOf(message: Msg): string {
  const c = message.content;
  if (typeof c === "string") return c;
  if (Array.isArray(c)) return c.map((p) => (isObj(p) && typeof p.text === "string" ? p.text : "")).join("\n");
  return "";
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** The system prompt of a request: Anthropic's `system`, or every system/developer message, joined. */
export function systemText(body: Record<string, unknown>): string {
  const messages = Array.isArray(body.messages) ? (body.messages as Record<string, unknown>[]) : [];
  const anthropic = body.system === undefined ? [] : [typeof body.system === "string" ? body.system : textOf({ content: body.system })];
  return [
    ...anthropic,
    ...messages.filter((m) => m.role === "system" || m.role === "developer").map((m) => (typeof m.content === "string" ? m.content : JSON.stringify(m.content))),
  ].join("\n");
}

export async function startModelStandin(host = "127.0.0.1"): Promise<ModelStandin> {
  const state: ModelStandin = {
    url: "",
    port: 0,
    requests: [],
    reply: () => "Hello from the model stand-in.",
    close: async () => {},
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: String(error) } }));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://standin");
    if (req.method === "GET" && url.pathname.endsWith("/models")) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ object: "list", data: [{ id: "standin-model", object: "model", owned_by: "standin" }] }));
      return;
    }
    if (req.method === "POST" && url.pathname.endsWith("/v1/messages")) return anthropic(req, res, url);
    if (req.method !== "POST" || !url.pathname.endsWith("/chat/completions")) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: `no route ${req.method} ${url.pathname}` } }));
      return;
    }
    const raw = await readBody(req);
    const body = JSON.parse(raw) as Record<string, unknown>;
    const record: ModelRequest = { at: Date.now(), path: url.pathname, protocol: "openai", headers: req.headers, body };
    state.requests.push(record);
    const reply = state.reply(record);
    const model = typeof body.model === "string" ? body.model : "standin-model";
    const id = `chatcmpl-${state.requests.length}`;
    const created = Math.floor(Date.now() / 1000);
    const usage = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 };
    const call = typeof reply === "string" ? null : { id: `call_${state.requests.length}`, type: "function", function: { name: reply.tool, arguments: JSON.stringify(reply.arguments) } };
    const text = typeof reply === "string" ? reply : "";
    if (body.stream !== true) {
      res.writeHead(200, { "content-type": "application/json" });
      const message = call ? { role: "assistant", content: null, tool_calls: [call] } : { role: "assistant", content: text };
      res.end(JSON.stringify({ id, object: "chat.completion", created, model, choices: [{ index: 0, message, finish_reason: call ? "tool_calls" : "stop" }], usage }));
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    const send = (chunk: unknown) => res.write(`data: ${JSON.stringify(chunk)}\n\n`);
    const chunk = (delta: unknown, finish: string | null) => send({ id, object: "chat.completion.chunk", created, model, choices: [{ index: 0, delta, finish_reason: finish }] });
    chunk({ role: "assistant", content: "" }, null);
    if (call) {
      chunk({ tool_calls: [{ index: 0, ...call }] }, null);
      chunk({}, "tool_calls");
    } else {
      for (const piece of text.match(/.{1,12}/gs) ?? []) chunk({ content: piece }, null);
      chunk({}, "stop");
    }
    send({ id, object: "chat.completion.chunk", created, model, choices: [], usage });
    res.write("data: [DONE]\n\n");
    res.end();
  }

  /** The Anthropic Messages API, as the Worker's gateway answers it (Claude's own events and shapes). */
  async function anthropic(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const body = JSON.parse(await readBody(req)) as Record<string, unknown>;
    const record: ModelRequest = { at: Date.now(), path: url.pathname, protocol: "anthropic", headers: req.headers, body };
    state.requests.push(record);
    const reply = state.reply(record);
    const model = typeof body.model === "string" ? body.model : "standin-model";
    const n = state.requests.length;
    const id = `msg_standin_${n}`;
    const tool = typeof reply === "string" ? null : { type: "tool_use", id: `toolu_standin_${n}`, name: reply.tool, input: reply.arguments };
    const text = typeof reply === "string" ? reply : "";
    const usage = { input_tokens: 10, output_tokens: 5, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
    const stopReason = tool ? "tool_use" : "end_turn";
    if (body.stream !== true) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ id, type: "message", role: "assistant", model, content: tool ? [tool] : [{ type: "text", text }], stop_reason: stopReason, stop_sequence: null, usage }));
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" });
    const send = (event: Record<string, unknown>) => res.write(`event: ${String(event.type)}\ndata: ${JSON.stringify(event)}\n\n`);
    send({ type: "message_start", message: { id, type: "message", role: "assistant", model, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } } });
    if (tool) {
      send({ type: "content_block_start", index: 0, content_block: { ...tool, input: {} } });
      const json = JSON.stringify(tool.input);
      for (const part of json.match(/.{1,20}/gs) ?? []) send({ type: "content_block_delta", index: 0, delta: { type: "input_json_delta", partial_json: part } });
    } else {
      send({ type: "content_block_start", index: 0, content_block: { type: "text", text: "" } });
      for (const piece of text.match(/.{1,12}/gs) ?? []) send({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text: piece } });
    }
    send({ type: "content_block_stop", index: 0 });
    send({ type: "message_delta", delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: usage.output_tokens } });
    send({ type: "message_stop" });
    res.end();
  }

  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  state.port = (server.address() as AddressInfo).port;
  state.url = `http://${host}:${state.port}`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return state;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
