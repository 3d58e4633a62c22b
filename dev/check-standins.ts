/**
 * Self-check of the local stand-ins against the REAL clients: `@aws-sdk/client-bedrock-runtime`
 * (ConverseStream, Converse, InvokeModel; Claude's InvokeModel and InvokeModelWithResponseStream in
 * dev/check-anthropic.ts) and grammY. Starts both stand-ins on random ports, prints one line per
 * check, exits non-zero on any failure. Part of `npm test` (a few seconds, no workerd).
 *
 * Run: `npx node dev/check-standins.ts`
 */
import { BedrockRuntimeClient, ConverseCommand, ConverseStreamCommand, InvokeModelCommand, type ConverseStreamCommandInput } from "@aws-sdk/client-bedrock-runtime";
import { FetchHttpHandler } from "@smithy/fetch-http-handler";
import { Bot, GrammyError, InputFile } from "grammy";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { inflateSync } from "node:zlib";
import * as bedrockStandin from "./bedrock-standin.ts";
import { checkAnthropic } from "./check-anthropic.ts";
import * as telegramStandin from "./telegram-standin.ts";

const OPUS = "global.anthropic.claude-opus-4-6-v1";
let failures = 0;
async function check(name: string, fn: () => Promise<void>): Promise<void> {
  try { await fn(); console.log(`ok   ${name}`); }
  catch (e) { failures++; console.log(`FAIL ${name}: ${(e as Error)?.stack ?? e}`); }
}
function assert(cond: unknown, msg: string): asserts cond { if (!cond) throw new Error(msg); }
async function expectError(p: Promise<unknown>): Promise<any> {
  try { await p; } catch (e) { return e; }
  throw new Error("expected an error, got success");
}

const bedrock = await bedrockStandin.start();
const telegram = await telegramStandin.start();
const ctl = async (base: string, path: string, body?: unknown, method = body === undefined ? "GET" : "POST") => {
  const r = await fetch(`${base}/__control${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!r.ok) throw new Error(`control ${path}: ${r.status} ${await r.text()}`);
  return r.json() as Promise<any>;
};

// In Node the SDK defaults to HTTP/2 (NodeHttp2Handler); the stand-in is HTTP/1.1 like workerd's fetch.
const client = (extra: object = {}) => new BedrockRuntimeClient({
  region: "us-east-1", endpoint: bedrock.url, requestHandler: new FetchHttpHandler(),
  credentials: { accessKeyId: "AKIDSTANDIN", secretAccessKey: "not-a-real-secret" }, ...extra,
});
const sigv4 = client();
const user = (text: string) => ({ role: "user" as const, content: [{ text }] });

/** Runs a ConverseStream and collects events with arrival times. */
async function stream(input: Omit<ConverseStreamCommandInput, "modelId"> & { modelId?: string }, c = sigv4) {
  const t0 = performance.now();
  const out = await c.send(new ConverseStreamCommand({ modelId: OPUS, ...input }));
  const events: { at: number; ev: any }[] = [];
  let error: any;
  try { for await (const ev of out.stream!) events.push({ at: performance.now() - t0, ev }); } catch (e) { error = e; }
  const text = events.map((e) => e.ev.contentBlockDelta?.delta?.text ?? "").join("");
  return { events, error, text, usage: events.find((e) => e.ev.metadata)?.ev.metadata.usage, stop: events.find((e) => e.ev.messageStop)?.ev.messageStop.stopReason };
}

await check("bedrock: ConverseStream (SigV4) streams text pieces in order, before the end", async () => {
  const r = await stream({ messages: [user("hello there")] });
  assert(!r.error, `stream error ${r.error}`);
  assert(r.text === "(local Bedrock stand-in) You said: hello there", `text was ${JSON.stringify(r.text)}`);
  const deltas = r.events.filter((e) => e.ev.contentBlockDelta);
  assert(deltas.length >= 6, `only ${deltas.length} deltas`);
  const end = r.events.at(-1)!.at;
  assert(end - deltas[0]!.at > 80, `first piece arrived ${deltas[0]!.at.toFixed(0)} ms, end ${end.toFixed(0)} ms: not incremental`);
  assert(r.events[0]!.ev.messageStart?.role === "assistant" && r.stop === "end_turn" && r.usage?.inputTokens > 0, "event order/usage");
  const [rec] = (await ctl(bedrock.url, "/requests?limit=1")).requests;
  assert(rec.auth === "sigv4" && rec.region === "us-east-1" && rec.modelId === OPUS, `recorded ${JSON.stringify(rec).slice(0, 200)}`);
});

await check("bedrock: bearer API key auth is accepted and recorded", async () => {
  const bearer = new BedrockRuntimeClient({ region: "us-east-1", endpoint: bedrock.url, requestHandler: new FetchHttpHandler(),
    token: { token: "bedrock-api-key-standin" }, authSchemePreference: ["httpBearerAuth"] });
  const r = await stream({ messages: [user("bearer")] }, bearer);
  assert(!r.error && r.text.includes("bearer"), "no reply");
  assert((await ctl(bedrock.url, "/requests?limit=1")).requests[0].auth === "bearer", "auth not bearer");
});

await check("bedrock: no Authorization → 403 AccessDeniedException", async () => {
  const r = await fetch(`${bedrock.url}/model/${OPUS}/converse-stream`, { method: "POST", body: JSON.stringify({ messages: [user("x")] }) });
  assert(r.status === 403 && r.headers.get("x-amzn-errortype")?.startsWith("AccessDeniedException:"), `got ${r.status}`);
});

await check("bedrock: scripted tool call streams toolUse, then the toolResult turn validates", async () => {
  const key = "check-tool";
  await ctl(bedrock.url, "/script", { key, replies: [{ toolUse: { name: "remember", input: { text: "likes tea" } }, text: "Noted." }] });
  const toolConfig = { tools: [{ toolSpec: { name: "remember", description: "d", inputSchema: { json: { type: "object" } } } }] };
  const first = user(`[[scenario:${key}]] I like tea`);
  const r = await stream({ messages: [first], toolConfig });
  const start = r.events.find((e) => e.ev.contentBlockStart)?.ev.contentBlockStart;
  const input = r.events.filter((e) => e.ev.contentBlockDelta?.delta?.toolUse).map((e) => e.ev.contentBlockDelta.delta.toolUse.input).join("");
  assert(start?.start?.toolUse?.name === "remember" && start.contentBlockIndex === 1, `start ${JSON.stringify(start)}`);
  assert(JSON.parse(input).text === "likes tea" && r.stop === "tool_use" && r.text === "Noted.", `input ${input} stop ${r.stop}`);
  const id = start.start.toolUse.toolUseId;
  const again = await stream({ toolConfig, messages: [first,
    { role: "assistant", content: [{ text: "Noted." }, { toolUse: { toolUseId: id, name: "remember", input: { text: "likes tea" } } }] },
    { role: "user", content: [{ toolResult: { toolUseId: id, content: [{ text: "saved" }] } }] }] });
  assert(!again.error && again.stop === "end_turn", `follow-up failed: ${again.error}`);
});

await check("bedrock: HTTP 429 surfaces as ThrottlingException (and the SDK retries it)", async () => {
  await ctl(bedrock.url, "/script", { key: "check-429", replies: [{ throttle: "http" }] });
  const e = await expectError(client({ maxAttempts: 1 }).send(new ConverseStreamCommand({ modelId: OPUS, messages: [user("[[scenario:check-429]] hi")] })));
  assert(e.name === "ThrottlingException" && e.$metadata?.httpStatusCode === 429, `got ${e.name} ${e.$metadata?.httpStatusCode}`);
  await ctl(bedrock.url, "/script", { key: "check-429", replies: [{ throttle: "http" }] });
  const r = await stream({ messages: [user("[[scenario:check-429]] retry")] }); // default maxAttempts 3
  assert(!r.error && r.text.includes("retry"), "retry did not succeed");
});

await check("bedrock: in-stream throttlingException throws ThrottlingException after some text", async () => {
  await ctl(bedrock.url, "/script", { key: "check-tstream", replies: [{ throttle: "stream", afterPieces: 2, text: "one two three four" }] });
  const r = await stream({ messages: [user("[[scenario:check-tstream]] hi")] });
  assert(r.error?.name === "ThrottlingException", `error ${r.error?.name}`);
  assert(r.text.length > 0 && r.text.length < "one two three four".length, `text before error: ${JSON.stringify(r.text)}`);
});

await check("bedrock: modelStreamErrorException mid-stream", async () => {
  await ctl(bedrock.url, "/script", { key: "check-mse", replies: [{ streamError: "modelStreamErrorException", afterPieces: 1 }] });
  const r = await stream({ messages: [user("[[scenario:check-mse]] hi")] });
  assert(r.error?.name === "ModelStreamErrorException", `error ${r.error?.name}`);
});

await check("bedrock: second identical-prefix request reads the prompt cache", async () => {
  const system = [{ text: "You are a test companion. ".repeat(40) }, { cachePoint: { type: "default" as const } }];
  const a = await stream({ system, messages: [user("first")] });
  const b = await stream({ system, messages: [user("second")] });
  assert(a.usage.cacheWriteInputTokens > 0 && a.usage.cacheReadInputTokens === 0, `first ${JSON.stringify(a.usage)}`);
  assert(b.usage.cacheReadInputTokens === a.usage.cacheWriteInputTokens && b.usage.cacheWriteInputTokens === 0, `second ${JSON.stringify(b.usage)}`);
});

await check("bedrock: non-alternating roles → ValidationException", async () => {
  const e = await expectError(sigv4.send(new ConverseStreamCommand({ modelId: OPUS, messages: [user("a"), user("b")] })));
  assert(e.name === "ValidationException" && /alternate/.test(e.message), `got ${e.name}: ${e.message}`);
});

await check("bedrock: unknown model id → 'The provided model identifier is invalid.'", async () => {
  const e = await expectError(sigv4.send(new ConverseStreamCommand({ modelId: `${OPUS}:0`, messages: [user("a")] })));
  assert(e.name === "ValidationException" && e.message === "The provided model identifier is invalid.", `got ${e.name}: ${e.message}`);
});

await check("bedrock: Converse (non-streaming) answers the JSON shape", async () => {
  const r = await sigv4.send(new ConverseCommand({ modelId: "global.anthropic.claude-sonnet-4-6", messages: [user("plain")] }));
  assert(r.output?.message?.content?.[0]?.text?.includes("plain") && r.stopReason === "end_turn" && r.usage?.outputTokens, JSON.stringify(r));
});

await check("bedrock: bench mode stamps pieces with their write time", async () => {
  await ctl(bedrock.url, "/bench", { pieces: 5, intervalMs: 10 });
  const r = await stream({ messages: [user("bench")] });
  await ctl(bedrock.url, "/bench", {});
  const stamps = [...r.text.matchAll(/⟨t=(\d+\.\d{3})⟩/g)].map((m) => Number(m[1]));
  assert(stamps.length === 5 && stamps.every((t, i) => i === 0 || t > stamps[i - 1]!), `text ${r.text}`);
  assert(Math.abs(performance.timeOrigin + performance.now() - stamps[4]!) < 5_000, "stamp is not a wall-clock time");
});

await checkAnthropic(bedrock.url, check);

let png: Uint8Array | undefined;
await check("bedrock: InvokeModel (Nova Canvas) returns a decodable PNG", async () => {
  const r = await sigv4.send(new InvokeModelCommand({ modelId: "amazon.nova-canvas-v1:0", contentType: "application/json", accept: "application/json",
    body: JSON.stringify({ taskType: "TEXT_IMAGE", textToImageParams: { text: "a cup of tea" }, imageGenerationConfig: { numberOfImages: 1 } }) }));
  const buf = Buffer.from(JSON.parse(new TextDecoder().decode(r.body)).images[0], "base64");
  assert(buf.readUInt32BE(0) === 0x89504e47, "not a PNG signature");
  let pos = 8, idat: Buffer[] = [], w = 0, h = 0;
  while (pos < buf.length) { // walk chunks: lengths must line up exactly
    const len = buf.readUInt32BE(pos), type = buf.toString("ascii", pos + 4, pos + 8), data = buf.subarray(pos + 8, pos + 8 + len);
    if (type === "IHDR") { w = data.readUInt32BE(0); h = data.readUInt32BE(4); }
    if (type === "IDAT") idat.push(data);
    pos += 12 + len;
  }
  assert(pos === buf.length && w === 64 && h === 64, `chunks/dims ${w}x${h}`);
  assert(inflateSync(Buffer.concat(idat)).length === h * (1 + w * 3), "IDAT size mismatch");
  png = buf;
});

// ---------------------------------------------------------------------------------------------
const TOKEN = "123456789:XXE_standin-check-token_0123456789a";
const apiRoot = telegram.url;
const bot = new Bot(TOKEN, { client: { apiRoot } });
const received: { secret?: string; body: any }[] = [];
const receiver = createServer(async (req, res) => {
  let raw = "";
  for await (const c of req) raw += c;
  const update = JSON.parse(raw);
  received.push({ secret: req.headers["x-telegram-bot-api-secret-token"] as string | undefined, body: update });
  await bot.handleUpdate(update);
  res.end();
});
await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
bot.on("message:text", (ctx) => ctx.reply(`echo: ${ctx.message.text}`));

await check("telegram: grammY getMe", async () => {
  const me = await bot.api.getMe();
  assert(me.id === 123456789 && me.username === "sp_test_123456789_bot" && me.is_bot && me.has_main_web_app === false, JSON.stringify(me));
  await bot.init();
});

await check("telegram: setWebhook with secret, getWebhookInfo", async () => {
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/tg`;
  assert((await bot.api.setWebhook(url, { secret_token: "s3cret_check", allowed_updates: ["message"] })) === true, "setWebhook");
  const info = await bot.api.getWebhookInfo();
  assert(info.url === url && info.allowed_updates?.[0] === "message", JSON.stringify(info));
  const e = await expectError(bot.api.setWebhook("http://example.com/hook"));
  assert(e instanceof GrammyError && e.error_code === 400, "http non-local URL accepted");
});

await check("telegram: sendMessage, MarkdownV2 parse errors", async () => {
  const m = await bot.api.sendMessage(42, "Hello *there*\\!", { parse_mode: "MarkdownV2" });
  assert(m.message_id > 0 && m.text === "Hello there!" && m.chat.id === 42, JSON.stringify(m));
  const e = await expectError(bot.api.sendMessage(42, "Version 1.2 is out!", { parse_mode: "MarkdownV2" }));
  assert(e instanceof GrammyError && e.error_code === 400 && /can't parse entities: Character '\.'/.test(e.description), e.description);
  const long = await expectError(bot.api.sendMessage(42, "x".repeat(4097)));
  assert(long.description === "Bad Request: message is too long", long.description);
});

await check("telegram: /__control/fail → GrammyError 429 with parameters.retry_after", async () => {
  await ctl(telegram.url, "/fail", { token: TOKEN, method: "sendMessage", times: 1, retryAfter: 2 });
  const e = await expectError(bot.api.sendMessage(42, "hi"));
  assert(e instanceof GrammyError && e.error_code === 429 && e.parameters.retry_after === 2, `${e.error_code} ${JSON.stringify(e.parameters)}`);
  await bot.api.sendMessage(42, "after the 429");
});

await check("telegram: sendPhoto multipart upload is parsed", async () => {
  assert(png, "no PNG from the Bedrock check");
  const m = await bot.api.sendPhoto(42, new InputFile(png, "tea.png"), { caption: "tea" });
  assert(m.photo?.[0]?.width === 64 && m.caption === "tea", JSON.stringify(m));
  const [call] = (await ctl(telegram.url, `/calls?token=${TOKEN}&method=sendPhoto`)).calls;
  assert(call.params.photo.size === png.length && call.files[0].filename === "tea.png", JSON.stringify(call));
});

await check("telegram: /__control/deliver reaches the webhook with the secret; the bot's reply is recorded", async () => {
  const d = await ctl(telegram.url, "/deliver", { token: TOKEN, text: "/start hello", chatId: 4242 });
  assert(d.status === 200 && received.length === 1 && received[0]!.secret === "s3cret_check", `status ${d.status}, received ${received.length}`);
  const msg = received[0]!.body.message;
  assert(msg.chat.type === "private" && msg.entities?.[0]?.type === "bot_command" && received[0]!.body.update_id === d.updateId, JSON.stringify(msg));
  const replies = (await ctl(telegram.url, `/calls?token=${TOKEN}&method=sendMessage&since=${d.callsSeq}`)).calls;
  assert(replies.length === 1 && replies[0].params.text === "echo: /start hello" && replies[0].params.chat_id === 4242, JSON.stringify(replies));
  const d2 = await ctl(telegram.url, "/deliver", { token: TOKEN, text: "again", chatId: 4242 });
  assert(d2.updateId === d.updateId + 1, "update ids do not increase");
  const dry = await ctl(telegram.url, "/deliver", { token: TOKEN, text: "dry", chatId: 4242, dryRun: true });
  assert(dry.updateId === d2.updateId + 1 && dry.headers["x-telegram-bot-api-secret-token"] === "s3cret_check" && (received.length as number) === 2, "dryRun");
});

await check("telegram: revoked / 'bad' token → 401 Unauthorized", async () => {
  const e = await expectError(new Bot("987654321:bad_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", { client: { apiRoot } }).api.getMe());
  assert(e instanceof GrammyError && e.error_code === 401 && e.description === "Unauthorized", `${e.error_code} ${e.description}`);
});

receiver.close();
await Promise.all([bedrock.close(), telegram.close()]);
console.log(failures ? `${failures} check(s) failed` : "all checks passed");
process.exit(failures ? 1 : 0);
