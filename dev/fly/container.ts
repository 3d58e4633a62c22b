/**
 * The Fly stand-in's container behind the proxy (dev/fly/app-proxy.ts), honouring the container
 * contract of API.md with the secrets its machine booted with: a chat completion (OpenAI shape, SSE
 * with `stream: true`) answering that it is a stand-in and quoting its SOUL.md, and the answer to a
 * forwarded Telegram update. Like the real image, both ask the model through the Worker's gateway
 * when the Worker can be reached (`npm run dev`); under vitest it cannot, and the container answers
 * alone. Its disk (workspace, turns) is dev/standin-container-life.ts.
 */
import type { ServerResponse } from "node:http";
import { isObject, sendJson, sleep } from "../standin-util.ts";
import { catchUpWorkspace, saveLife } from "../standin-container-life.ts";
import type { App, Machine } from "./state.ts";
import { hex, safeJson, type Obj } from "./util.ts";

export async function answerTelegram(env: Record<string, string>, update: unknown): Promise<void> {
  const message = isObject(update) && isObject(update.message) ? update.message : null;
  const chatId = message && isObject(message.chat) ? message.chat.id : undefined;
  if (!env.SOULPRINT_CALLBACK_URL || !env.GATEWAY_TOKEN || chatId === undefined || typeof message?.text !== "string") return;
  const soul = env.SOUL_MD_B64 ? Buffer.from(env.SOUL_MD_B64, "base64").toString("utf8") : "";
  const answer = await askGateway(env, soul, message.text);
  if (answer === null) return;
  await fetch(`${env.SOULPRINT_CALLBACK_URL}/api/container/telegram/sendMessage`, {
    method: "POST",
    headers: { authorization: `Bearer ${env.GATEWAY_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ chat_id: chatId, text: `(from your container) ${answer}` }),
    signal: AbortSignal.timeout(30_000),
  }).then((r) => r.body?.cancel(), () => {});
}

/** One non-streaming call to the Worker's model gateway with the container's token; null when unreachable. */
async function askGateway(env: Record<string, string>, soul: string, said: string): Promise<string | null> {
  if (!env.SOULPRINT_CALLBACK_URL || !env.GATEWAY_TOKEN) return null;
  try {
    const response = await fetch(`${env.SOULPRINT_CALLBACK_URL}/api/container/model/v1/messages`, {
      method: "POST",
      headers: { "x-api-key": env.GATEWAY_TOKEN, "anthropic-version": "2023-06-01", "content-type": "application/json" },
      body: JSON.stringify({ model: "claude-opus-4-6", max_tokens: 1024, system: soul, messages: [{ role: "user", content: said }] }),
      signal: AbortSignal.timeout(30_000),
    });
    const body = (await response.json()) as { content?: { type: string; text?: string }[]; error?: { message?: string } };
    if (!response.ok) return `(the gateway answered ${response.status}: ${body.error?.message ?? "no message"})`;
    return (body.content ?? []).filter((b) => b.type === "text").map((b) => b.text ?? "").join("");
  } catch {
    return null;
  }
}

export async function chat(res: ServerResponse, app: App, m: Machine, env: Record<string, string>, raw: Buffer, entry: Obj): Promise<void> {
  const body = safeJson(raw);
  const messages = isObject(body) && Array.isArray(body.messages) ? (body.messages as Obj[]) : [];
  const lastUser = [...messages].reverse().find((x) => x.role === "user");
  const said = typeof lastUser?.content === "string" ? lastUser.content : JSON.stringify(lastUser?.content ?? "");
  const wanted = entry.workspaceVersion;
  await catchUpWorkspace(env, m.life, typeof wanted === "string" ? wanted : undefined);
  // The workspace read from the Worker wins; the secrets are the cold-boot fallback.
  const soul = m.life.files?.get("SOUL.md") ?? (env.SOUL_MD_B64 ? Buffer.from(env.SOUL_MD_B64, "base64").toString("utf8") : "(none)");
  entry.user = isObject(body) ? body.user : undefined;
  entry.said = said;
  // Like the real image, the model is asked through the Worker's model gateway when the Worker can
  // be reached (npm run dev); under vitest the Worker has no port, and the container answers alone.
  const answer = await askGateway(env, soul, said);
  m.life.turns.push(said);
  void saveLife(env, m.life);
  const text = `This is the Fly stand-in container of ${app.name} (machine ${m.id}). My SOUL.md: ${soul.slice(0, 500)} ${answer ? `The model says: ${answer}` : `You said: ${said}`}`;
  const id = `chatcmpl-${hex(6)}`;
  const created = Math.floor(Date.now() / 1000);
  const model = isObject(body) && typeof body.model === "string" ? body.model : "openclaw";
  const usage = { prompt_tokens: Math.ceil(JSON.stringify(messages).length / 4), completion_tokens: Math.ceil(text.length / 4), total_tokens: 0 };
  usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
  if (!(isObject(body) && body.stream === true)) {
    return sendJson(res, 200, { id, object: "chat.completion", created, model, choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }], usage });
  }
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
  const chunk = (delta: Obj, finish: string | null, extra: Obj = {}) =>
    `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [{ index: 0, delta, finish_reason: finish }], ...extra })}\n\n`;
  res.write(chunk({ role: "assistant", content: "" }, null));
  const pieces = text.match(/[\s\S]{1,24}/g) ?? [];
  let sent = 0;
  for (const piece of pieces) {
    if (res.destroyed) return;
    if (app.behaviour.failAfterPieces !== undefined && sent >= app.behaviour.failAfterPieces) {
      res.destroy(); // the machine died in the middle of the reply
      return;
    }
    res.write(chunk({ content: piece }, null));
    sent++;
    await sleep(app.behaviour.pieceDelayMs ?? 5);
  }
  const wantsUsage = isObject(body) && isObject(body.stream_options) && body.stream_options.include_usage === true;
  res.write(chunk({}, "stop", wantsUsage ? { usage } : {}));
  res.end("data: [DONE]\n\n");
}
