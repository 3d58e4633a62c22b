import { describe, expect, it } from "vitest";
import { abortAllDurableObjects, runInDurableObject } from "cloudflare:test";
import type { UserActor } from "../src/actors/user-actor.ts";
import { INBOX_JOB } from "../src/lib/telegram/inbox.ts";
import { apiJson, newUser } from "./helpers.ts";
import { requests, scenario, script } from "./bedrock-control.ts";
import { CONNECTED, CUT_OFF_NOTE, HELP, NEW_CONVERSATION, PRIVATE, REPLY_FAILED } from "../src/lib/telegram/messages.ts";
import { actorOf, botToken, buildUpdate, calls, claim, connect, failNext, post, say, sentTexts, waitFor, waitForTexts, runJobs } from "./telegram-helpers.ts";

const chatIdFor = () => 10_000_000 + Math.floor(Math.random() * 80_000_000);
const lastUserText = (request: { body: { messages?: { role: string; content: Record<string, unknown>[] }[] } }) =>
  String(request.body.messages?.filter((m) => m.role === "user").at(-1)?.content.find((c) => typeof c.text === "string")?.text ?? "");

async function ownerSetup() {
  const user = await newUser("tg");
  const token = botToken();
  const chatId = chatIdFor();
  await connect(user, token, chatId);
  return { user, token, chatId };
}

describe("owner binding", () => {
  it("binds the chat that opens the link; the code works once, and a stranger gets one short reply and no model call", async () => {
    const user = await newUser("tg");
    const token = botToken();
    const claimed = await claim(user, { botToken: token });
    const code = new URL(claimed.body.linkUrl).searchParams.get("start")!;
    const [owner, stranger] = [chatIdFor(), chatIdFor()];

    await say(token, { text: `/start ${code}`, chatId: owner });
    expect(await waitForTexts(user, token, owner, 1)).toEqual([CONNECTED]);
    const status = await runInDurableObject(actorOf(user), (actor: UserActor) => actor.telegram.status());
    expect(status.ownerBound).toBe(true);
    expect(status.linkUrl).not.toContain("start=");

    const { key, tag } = scenario();
    await script(key, [{ text: "NOT FOR STRANGERS" }]);
    await say(token, { text: `/start ${code}`, chatId: stranger });
    await say(token, { text: `hello there ${tag}`, chatId: stranger });
    await say(token, { text: `anyone? ${tag}`, chatId: stranger });
    expect(await waitForTexts(user, token, stranger, 1)).toEqual([PRIVATE]);
    await waitFor(async () => (await runInDurableObject(actorOf(user), (actor: UserActor) => actor.telegram.store.pendingCount())) === 0, 10_000, "inbox drained");
    expect(await sentTexts(token, stranger)).toEqual([PRIVATE]);
    expect(await requests(key)).toHaveLength(0);
    // The owner is still the owner.
    expect(await sentTexts(token, owner)).toEqual([CONNECTED]);
  });

  it("starts a fresh conversation on /new and explains itself on /help", async () => {
    const { user, token, chatId } = await ownerSetup();
    await say(token, { text: "/new", chatId });
    await say(token, { text: "/help", chatId });
    const texts = await waitForTexts(user, token, chatId, 3);
    expect(texts.slice(1)).toEqual([NEW_CONVERSATION, HELP]);
    const conversation = await runInDurableObject(actorOf(user), (actor: UserActor) => actor.history.conversation());
    expect(conversation).toBe(1);
  });
});

describe("answering the owner", () => {
  it("acknowledges at once, shows typing while the reply is written, and keeps it in the shared history", async () => {
    const { user, token, chatId } = await ownerSetup();
    const { key, tag } = scenario();
    await script(key, [{ text: "Hello **friend**, nice to see you.", pieces: 3, delayMs: 1_800 }]);
    const delivery = await buildUpdate(token, { text: `hi ${tag}`, chatId });
    const started = Date.now();
    const response = await post(delivery);
    expect(response.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(1_000); // the reply itself takes over 5 s

    const texts = await waitForTexts(user, token, chatId, 2, 20_000);
    expect(texts[1]).toBe("Hello friend, nice to see you.");
    const sends = (await calls(token, "sendMessage", chatId)).filter((c) => c.ok);
    expect(sends[1]!.params).toMatchObject({ parse_mode: "HTML", text: "Hello <b>friend</b>, nice to see you." });
    // "typing…" until the first words, then the reply itself as a draft while it was written (issue 18).
    const drafts = (await calls(token, "sendMessageDraft", chatId)).filter((c) => c.ok && c.seq < sends[1]!.seq);
    expect(drafts.length).toBeGreaterThanOrEqual(2);
    const typing = (await calls(token, "sendChatAction", chatId)).filter((c) => c.params.action === "typing" && c.seq < drafts[0]!.seq);
    expect(typing.length).toBeGreaterThanOrEqual(1);

    const history = await apiJson<{ messages: { id: string; role: string; channel: string; text: string }[] }>("/api/chat/history?limit=10", { headers: user.auth });
    expect(history.body.messages.map((m) => [m.role, m.channel])).toEqual([["user", "telegram"], ["assistant", "telegram"]]);
    expect(history.body.messages[0]!.id).toBe(`tg-${delivery.updateId}`);
    expect(await requests(key)).toHaveLength(1);
  });

  it("answers duplicate and out-of-order updates once each, in update_id order", async () => {
    const { user, token, chatId } = await ownerSetup();
    const { key, tag } = scenario();
    await script(key, [{ text: "reply to zero", pieces: 2, delayMs: 1_200 }, { text: "reply to one" }, { text: "reply to two" }]);
    const first = await say(token, { text: `zero ${tag}`, chatId });
    // While the first reply is being written, updates arrive out of order, and one twice.
    await waitFor(async () => (await requests(key)).length >= 1, 10_000, "the first model call");
    const two = await buildUpdate(token, { text: `two ${tag}`, chatId, updateId: first.updateId + 2 });
    const one = await buildUpdate(token, { text: `one ${tag}`, chatId, updateId: first.updateId + 1 });
    for (const delivery of [two, one, two, first]) expect((await post(delivery)).status).toBe(200);

    const texts = await waitForTexts(user, token, chatId, 4, 20_000);
    expect(texts.slice(1)).toEqual(["reply to zero", "reply to one", "reply to two"]);
    const asked = await requests(key);
    expect(asked.map(lastUserText)).toEqual([`zero ${tag}`, `one ${tag}`, `two ${tag}`]);

    // Telegram redelivering an answered update gets 200 and nothing else.
    expect((await post(one)).status).toBe(200);
    await runJobs(user);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await sentTexts(token, chatId)).toHaveLength(4);
    expect(await requests(key)).toHaveLength(3);
  });

  it("splits a long reply into several messages, each within Telegram's 4096 characters", async () => {
    const { user, token, chatId } = await ownerSetup();
    const { key, tag } = scenario();
    const paragraphs = Array.from({ length: 20 }, (_, p) => Array.from({ length: 15 }, (_, s) => `Paragraph ${p} sentence ${s} says something.`).join(" "));
    const long = paragraphs.join("\n\n");
    expect(long.length).toBeGreaterThan(3 * 4096 * 0.8);
    await script(key, [{ text: long, pieces: 20 }]);
    await say(token, { text: `tell me everything ${tag}`, chatId });
    const texts = await waitFor(async () => {
      await runJobs(user);
      const sent = (await sentTexts(token, chatId)).slice(1);
      return sent.join("\n\n").length >= long.length ? sent : undefined;
    }, 20_000, "the whole long reply");
    expect(texts.length).toBeGreaterThanOrEqual(3);
    for (const text of texts) expect(text.length).toBeLessThanOrEqual(4096);
    expect(texts.join("\n\n")).toBe(long);
  });

  it("honours a 429 with its retry_after and still sends the reply once", async () => {
    const { user, token, chatId } = await ownerSetup();
    const { key, tag } = scenario();
    await script(key, [{ text: "Patience pays." }]);
    await failNext(token, "sendMessage", { times: 1, retryAfter: 1 });
    await say(token, { text: `hello ${tag}`, chatId });
    await waitForTexts(user, token, chatId, 2);
    const sends = (await calls(token, "sendMessage", chatId)).slice(1);
    expect(sends.map((c) => c.ok ? "ok" : c.errorCode)).toEqual([429, "ok"]);
    expect(sends[1]!.time - sends[0]!.time).toBeGreaterThanOrEqual(950);
    expect(sends[1]!.result?.text).toBe("Patience pays.");
  });

  it("reschedules instead of sleeping when retry_after is long, and counts no failure", async () => {
    const { user, token, chatId } = await ownerSetup();
    const { key, tag } = scenario();
    await script(key, [{ text: "Later, then." }]);
    await failNext(token, "sendMessage", { times: 1, retryAfter: 120 });
    await say(token, { text: `hello ${tag}`, chatId });
    await waitFor(async () => (await calls(token, "sendMessage", chatId)).some((c) => c.errorCode === 429), 10_000, "the 429");
    const job = await waitFor(async () => {
      const found = await runInDurableObject(actorOf(user), (actor: UserActor) => actor.jobs.get(INBOX_JOB));
      return found && found.dueAt > Date.now() + 60_000 ? found : undefined;
    }, 5_000, "the job pushed back by retry_after");
    expect(job.dueAt).toBeLessThanOrEqual(Date.now() + 121_000);
    const row = await runInDurableObject(actorOf(user), (actor: UserActor) => actor.telegram.store.nextPending());
    expect(row).toMatchObject({ attempts: 0, sent: 0 });
    expect(row?.plan?.parts).toHaveLength(1);

    // When the time comes, the stored reply goes out without a second model call.
    await runInDurableObject(actorOf(user), async (actor: UserActor) => {
      actor.sql.run("UPDATE jobs SET due_at = ? WHERE kind = ?", Date.now(), INBOX_JOB);
      await actor.jobs.arm();
    });
    expect((await waitForTexts(user, token, chatId, 2)).at(-1)).toBe("Later, then.");
    expect(await requests(key)).toHaveLength(1);
  });

  it("sends the text plain when Telegram refuses its formatting", async () => {
    const { user, token, chatId } = await ownerSetup();
    const { key, tag } = scenario();
    await script(key, [{ text: "A **bold** move." }]);
    await failNext(token, "sendMessage", { errorCode: 400, description: "Bad Request: can't parse entities: Unsupported start tag \"b\" at byte offset 2" });
    await say(token, { text: `go ${tag}`, chatId });
    await waitForTexts(user, token, chatId, 2);
    const sends = (await calls(token, "sendMessage", chatId)).slice(1);
    expect(sends).toHaveLength(2);
    expect(sends[0]).toMatchObject({ ok: false, errorCode: 400, params: { parse_mode: "HTML" } });
    expect(sends[1]!.ok).toBe(true);
    expect(sends[1]!.params.parse_mode).toBeUndefined();
    expect(sends[1]!.params.text).toBe("A **bold** move.");
  });

  it("sends a generated image with sendPhoto after the text", async () => {
    const { user, token, chatId } = await ownerSetup();
    const { key, tag } = scenario();
    await script(key, [{ toolUse: { name: "generate_image", input: { prompt: "a red fox", alt: "A red fox" } } }, { text: "Here it is." }]);
    await say(token, { text: `draw a fox ${tag}`, chatId });
    const photo = await waitFor(async () => {
      await runJobs(user);
      return (await calls(token, "sendPhoto", chatId)).find((c) => c.ok);
    }, 20_000, "sendPhoto");
    expect(photo.params.caption).toBe("A red fox");
    expect(photo.files?.[0]?.size).toBeGreaterThan(0);
    const texts = await sentTexts(token, chatId);
    expect(texts.at(-1)).toBe("Here it is.");
    const textSeq = (await calls(token, "sendMessage", chatId)).at(-1)!.seq;
    expect(photo.seq).toBeGreaterThan(textSeq);
  });
});

describe("crashes between the acknowledgement and the reply", () => {
  it("retries a reply Telegram failed to take, without asking the model again", async () => {
    const { user, token, chatId } = await ownerSetup();
    const { key, tag } = scenario();
    await script(key, [{ text: "Worth the wait." }, { text: "SECOND MODEL CALL" }]);
    await failNext(token, "sendMessage", { errorCode: 500 });
    await say(token, { text: `are you there ${tag}`, chatId });
    const texts = await waitForTexts(user, token, chatId, 2, 20_000);
    expect(texts.slice(1)).toEqual(["Worth the wait."]);
    expect((await calls(token, "sendMessage", chatId)).filter((c) => !c.ok).map((c) => c.errorCode)).toEqual([500]);
    expect(await requests(key)).toHaveLength(1);
  });

  it("resumes after the object dies mid-reply with one reply and one model call", async () => {
    const { user, token, chatId } = await ownerSetup();
    const { key, tag } = scenario();
    await script(key, [{ text: "one two three four five six", pieces: 6, delayMs: 400 }, { text: "SECOND MODEL CALL" }]);
    await say(token, { text: `tell me a story ${tag}`, chatId });
    await waitFor(async () => (await requests(key)).length >= 1, 10_000, "the model call");
    await new Promise((resolve) => setTimeout(resolve, 900));
    await abortAllDurableObjects();

    // The update is still in the inbox; the next alarm answers it.
    const pending = await runInDurableObject(actorOf(user), (actor: UserActor) => actor.telegram.store.pendingCount());
    expect(pending).toBe(1);
    await runInDurableObject(actorOf(user), (actor: UserActor) => actor.alarm());
    const texts = await waitForTexts(user, token, chatId, 2, 20_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    await runJobs(user);
    expect(await sentTexts(token, chatId)).toHaveLength(2);
    // What the model wrote before the crash, marked as cut off (or an apology when nothing was saved).
    expect(texts[1]).not.toContain("SECOND MODEL CALL");
    expect(texts[1] === REPLY_FAILED || (texts[1]!.startsWith("one") && texts[1]!.endsWith(CUT_OFF_NOTE))).toBe(true);
    expect(await requests(key)).toHaveLength(1);
    expect(await runInDurableObject(actorOf(user), (actor: UserActor) => actor.telegram.store.pendingCount())).toBe(0);
  });
});
