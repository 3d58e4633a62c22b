/**
 * Telegram replies that show as they are written (issue 18): drafts in the owner's private chat,
 * one edited message where drafts are refused, Telegram's flood control honoured, and the finished
 * reply sent as normal messages identical to the stored one. Timing is only ever asserted as a
 * lower bound (a wait that must have happened), never as a deadline.
 */
import { describe, expect, it } from "vitest";
import { apiJson, newUser } from "./helpers.ts";
import { scenario, script } from "./bedrock-control.ts";
import { runInDurableObject } from "cloudflare:test";
import type { UserActor } from "../src/actors/user-actor.ts";
import type { TestUser } from "./helpers.ts";
import { actorOf, botToken, calls, connect, failNext, flood, runJobs, say, sentTexts, waitFor, waitForTexts, type RecordedCall } from "./telegram-helpers.ts";

const chatIdFor = () => 20_000_000 + Math.floor(Math.random() * 70_000_000);

/** ~600 characters of plain prose (no Markdown, so Telegram's text equals the stored text). */
function prose(words: number): string {
  const vocabulary = ["quiet", "river", "morning", "lantern", "garden", "stone", "window", "letter", "harbour", "meadow"];
  return Array.from({ length: words }, (_, i) => vocabulary[(i * 7) % vocabulary.length]).join(" ") + ".";
}

async function owner() {
  const user = await newUser("stream");
  const token = botToken();
  const chatId = chatIdFor();
  await connect(user, token, chatId);
  return { user, token, chatId };
}

async function storedReply(user: Awaited<ReturnType<typeof owner>>["user"]): Promise<string> {
  const history = await apiJson<{ messages: { role: string; text: string }[] }>("/api/chat/history?limit=10", { headers: user.auth });
  return history.body.messages.filter((m) => m.role === "assistant").at(-1)!.text;
}

const okCalls = (list: RecordedCall[]) => list.filter((c) => c.ok);

describe("a Telegram reply streamed as it is written", () => {
  it("reaches the chat as growing drafts, then ends as one message identical to the stored reply", async () => {
    const { user, token, chatId } = await owner();
    const { key, tag } = scenario();
    const text = prose(90);
    await script(key, [{ text, pieces: 8, delayMs: 600 }]);
    await say(token, { text: `tell me a story ${tag}`, chatId });
    const texts = await waitForTexts(user, token, chatId, 2, 30_000);

    const reply = await storedReply(user);
    expect(reply).toBe(text);
    expect(texts.slice(1)).toEqual([reply]);
    const final = okCalls(await calls(token, "sendMessage", chatId)).at(-1)!;
    const drafts = okCalls(await calls(token, "sendMessageDraft", chatId)).filter((c) => c.seq < final.seq);
    expect(drafts.length).toBeGreaterThanOrEqual(3);
    // One draft per reply, growing: every draft is a prefix of the reply, each longer than the last.
    expect(new Set(drafts.map((d) => d.params.draft_id)).size).toBe(1);
    for (const [i, draft] of drafts.entries()) {
      const shown = String(draft.params.text);
      expect(reply.startsWith(shown)).toBe(true);
      if (i > 0) expect(shown.length).toBeGreaterThan(String(drafts[i - 1]!.params.text).length);
    }
    // The measured pace: at least a second between two previews to the chat.
    for (let i = 1; i < drafts.length; i++) expect(drafts[i]!.time - drafts[i - 1]!.time).toBeGreaterThanOrEqual(990);
  }, 60_000);

  it("slows down on a 429 and loses no text: retry_after is honoured, never a storm", async () => {
    const { user, token, chatId } = await owner();
    const { key, tag } = scenario();
    const text = prose(80);
    await script(key, [{ text, pieces: 10, delayMs: 500 }]);
    // Telegram's flood control: previews closer than 1.5 s are refused with retry_after 2.
    await flood(token, 1_500, 2);
    await say(token, { text: `go on ${tag}`, chatId });
    await waitForTexts(user, token, chatId, 2, 30_000);
    await flood(token, 0);

    const reply = await storedReply(user);
    expect(reply).toBe(text);
    expect((await sentTexts(token, chatId)).slice(1)).toEqual([reply]);
    const previews = await calls(token, "sendMessageDraft", chatId);
    const limited = previews.filter((c) => c.errorCode === 429);
    expect(limited.length).toBeGreaterThanOrEqual(1);
    // After each 429 the next preview waited the 2 s Telegram asked for, so 429s never follow each other.
    for (const refusal of limited) {
      const next = previews.find((c) => c.seq > refusal.seq);
      if (next) expect(next.time - refusal.time).toBeGreaterThanOrEqual(1_990);
    }
    expect(limited.length).toBeLessThanOrEqual(Math.ceil(previews.length / 2));
    // Nothing lost: the last accepted draft was a prefix of the reply, and the final message is all of it.
    const accepted = okCalls(previews);
    expect(accepted.length).toBeGreaterThanOrEqual(2);
    expect(reply.startsWith(String(accepted.at(-1)!.params.text))).toBe(true);
  }, 60_000);

  it("edits one message where drafts are refused, and finishes that same message (no second copy)", async () => {
    const { user, token, chatId } = await owner();
    const { key, tag } = scenario();
    const text = prose(70);
    await script(key, [{ text, pieces: 6, delayMs: 600 }, { text: "and a second reply, streamed the same way" }]);
    await failNext(token, "sendMessageDraft", { errorCode: 400, description: "Bad Request: method is available only for private chats", times: 1 });
    await say(token, { text: `hello ${tag}`, chatId });
    await drained(user);

    const reply = await storedReply(user);
    expect(reply).toBe(text);
    // CONNECTED, then one message for the reply: created by the first preview, edited into the final text.
    const sends = okCalls(await calls(token, "sendMessage", chatId));
    expect(sends).toHaveLength(2);
    const streamed = sends[1]!.result!.message_id;
    const edits = okCalls(await calls(token, "editMessageText", chatId));
    expect(edits.every((e) => e.params.message_id === streamed)).toBe(true);
    expect(edits.at(-1)!.params.text).toBe(reply);
    expect(text.startsWith(String(sends[1]!.params.text))).toBe(true);

    // Later replies on this bot go straight to edits (no draft tried again within the object's life).
    await say(token, { text: `again ${tag}`, chatId });
    await drained(user);
    expect(okCalls(await calls(token, "sendMessage", chatId))).toHaveLength(3);
    expect(await storedReply(user)).toBe("and a second reply, streamed the same way");
    expect(okCalls(await calls(token, "sendMessageDraft", chatId))).toHaveLength(0);
  }, 90_000);
});

describe("figures", () => {
  it("a 1,000-character reply written over ~5 s (Opus pace) costs a handful of Bot API calls", async () => {
    const { user, token, chatId } = await owner();
    const { key, tag } = scenario();
    const text = prose(160).slice(0, 1_000);
    await script(key, [{ text, pieces: 25, delayMs: 200 }]);
    const before = (await calls(token, undefined, chatId)).at(-1)!.seq;
    await say(token, { text: `a long one ${tag}`, chatId });
    await waitForTexts(user, token, chatId, 2, 30_000);
    const made = (await calls(token, undefined, chatId)).filter((c) => c.seq > before);
    const byMethod: Record<string, number> = {};
    for (const c of made) byMethod[c.method] = (byMethod[c.method] ?? 0) + 1;
    console.log(JSON.stringify({ figure: "bot_api_calls_per_1000_char_reply", total: made.length, byMethod }));
    expect(byMethod.sendMessage).toBe(1);
    // At most one preview a second plus the first, whatever the load: far from one call per piece.
    expect(byMethod.sendMessageDraft ?? 0).toBeLessThan(25);
  }, 60_000);
});

/** Runs the object's jobs until its Telegram inbox is empty. */
function drained(user: TestUser): Promise<true> {
  return waitFor(async () => {
    await runJobs(user);
    return (await runInDurableObject(actorOf(user), (actor: UserActor) => actor.telegram.store.pendingCount())) === 0;
  }, 30_000, "the inbox to drain") as Promise<true>;
}
