import { describe, expect, it } from "vitest";
import { splitForTelegram, unclosedFence } from "../src/lib/telegram/split.ts";
import { escapeHtml, inlineToHtml, isEntityParseError, markdownToTelegramHtml } from "../src/lib/telegram/format.ts";
import { parseCommand, routeUpdate, type BindingState } from "../src/lib/telegram/update-route.ts";
import { planReply } from "../src/lib/telegram/reply-plan.ts";
import { linkUrl, webhookUrl } from "../src/lib/telegram/links.ts";
import { retryRateLimited } from "../src/lib/telegram/bot.ts";
import { redactTokens } from "../src/lib/errors.ts";
import { CUT_OFF_NOTE, REPLY_FAILED } from "../src/lib/telegram/messages.ts";
import { isWebhookSecretFor, newWebhookSecret } from "../src/lib/telegram/webhook-secret.ts";

const paragraph = (n: number, words = 60) => Array.from({ length: words }, (_, i) => `word${n}x${i}`).join(" ") + ".";

describe("splitForTelegram", () => {
  it("keeps a short reply whole and drops a blank one", () => {
    expect(splitForTelegram("Hello there.")).toEqual(["Hello there."]);
    expect(splitForTelegram("  \n\n ")).toEqual([]);
    expect(splitForTelegram("x".repeat(4096))).toHaveLength(1);
  });

  it("cuts on paragraph boundaries when it can, every piece within the limit", () => {
    const text = Array.from({ length: 30 }, (_, i) => paragraph(i)).join("\n\n");
    const pieces = splitForTelegram(text);
    expect(pieces.length).toBeGreaterThan(3);
    for (const piece of pieces) {
      expect(piece.length).toBeLessThanOrEqual(4096);
      // Every piece ends a paragraph: nothing was cut mid-sentence.
      expect(piece.endsWith(".")).toBe(true);
    }
    expect(pieces.join("\n\n")).toBe(text);
  });

  it("falls back to sentences, then words, then a hard cut", () => {
    const sentences = Array.from({ length: 200 }, (_, i) => `Sentence number ${i} is here!`).join(" ");
    const bySentence = splitForTelegram(sentences, 500);
    for (const piece of bySentence) {
      expect(piece.length).toBeLessThanOrEqual(500);
      expect(piece).toMatch(/here!$/);
    }
    expect(bySentence.join(" ")).toBe(sentences);

    const words = Array.from({ length: 300 }, (_, i) => `w${i}`).join(" ");
    const byWord = splitForTelegram(words, 100);
    expect(byWord.join(" ")).toBe(words);
    expect(byWord.every((p) => p.length <= 100 && !p.startsWith(" "))).toBe(true);

    const blob = "a".repeat(250);
    expect(splitForTelegram(blob, 100).join("")).toBe(blob);
  });

  it("never cuts an emoji (a surrogate pair) in half", () => {
    const text = "😀".repeat(300);
    const pieces = splitForTelegram(text, 101);
    expect(pieces.join("")).toBe(text);
    for (const piece of pieces) expect(piece).toMatch(/^(😀)+$/u);
  });

  it("closes a code block at a cut and reopens it in the next piece", () => {
    const code = Array.from({ length: 80 }, (_, i) => `const v${i} = ${i};`).join("\n");
    const text = `Here is the code:\n\n\`\`\`ts\n${code}\n\`\`\`\n\nThat's all.`;
    const pieces = splitForTelegram(text, 600);
    expect(pieces.length).toBeGreaterThan(2);
    for (const piece of pieces) {
      expect(piece.length).toBeLessThanOrEqual(600);
      expect(unclosedFence(piece)).toBeNull();
    }
    expect(pieces[1]!.startsWith("```ts\n")).toBe(true);
  });
});

describe("markdownToTelegramHtml", () => {
  it("converts the Markdown Claude writes into Telegram's HTML subset", () => {
    expect(markdownToTelegramHtml("**bold**, *italic*, _also_, ~~gone~~ and `x < y`")).toBe("<b>bold</b>, <i>italic</i>, <i>also</i>, <s>gone</s> and <code>x &lt; y</code>");
    expect(markdownToTelegramHtml("# Title\n- one\n- two")).toBe("<b>Title</b>\n• one\n• two");
    expect(markdownToTelegramHtml("[docs](https://example.com/a?b=1&c=2)")).toBe('<a href="https://example.com/a?b=1&amp;c=2">docs</a>');
    expect(markdownToTelegramHtml("```js\nif (a < b) {}\n```")).toBe('<pre><code class="language-js">if (a &lt; b) {}</code></pre>');
    expect(markdownToTelegramHtml("> quoted\n> twice")).toBe("<blockquote>quoted\ntwice</blockquote>");
  });

  it("escapes everything else and leaves unpaired markers as text", () => {
    expect(markdownToTelegramHtml("<script>alert('x')</script> & 2 * 3 = 6")).toBe("&lt;script&gt;alert('x')&lt;/script&gt; &amp; 2 * 3 = 6");
    expect(markdownToTelegramHtml("snake_case_name and **unclosed")).toBe("snake_case_name and **unclosed");
    expect(markdownToTelegramHtml("[click](javascript:alert(1))")).toBe("[click](javascript:alert(1))");
    // A code block cut off by a split still renders as code, to the end of the piece.
    expect(markdownToTelegramHtml("```\nopen block")).toBe("<pre>open block</pre>");
  });

  it("only writes balanced tags, whatever the input", () => {
    const nasty = ["**a *b** c*", "`a **b` c**", "~~~~", "__**__**", "*_*_", "[a](https://x.y/(z))", "<b>**x**</b>"];
    for (const input of nasty) {
      const html = markdownToTelegramHtml(input);
      const opened = [...html.matchAll(/<([a-z]+)[^>]*>/g)].map((m) => m[1]);
      const closed = [...html.matchAll(/<\/([a-z]+)>/g)].map((m) => m[1]);
      expect(closed.sort()).toEqual(opened.sort());
      expect(html).not.toMatch(/<(?!\/?(b|i|s|code|pre|a|blockquote)[ >])/);
    }
  });

  it("escapes the four HTML specials and recognises Telegram's parse errors", () => {
    expect(escapeHtml(`<&>"`)).toBe("&lt;&amp;&gt;&quot;");
    expect(inlineToHtml("plain")).toBe("plain");
    expect(isEntityParseError("Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 3")).toBe(true);
    expect(isEntityParseError("Bad Request: chat not found")).toBe(false);
  });
});

describe("routeUpdate", () => {
  const eq = (a: string, b: string) => a === b;
  const msg = (chatId: number, text?: string, extra: Record<string, unknown> = {}) => ({
    update_id: 1,
    message: { message_id: 1, chat: { id: chatId, type: "private" }, from: { id: chatId, is_bot: false }, ...(text === undefined ? {} : { text }), ...extra },
  });
  const unbound: BindingState = { ownerChatId: null, linkCode: "CODE123", botUsername: "my_bot" };
  const bound: BindingState = { ownerChatId: 42, linkCode: null, botUsername: "my_bot" };

  it("binds the chat that sends /start with the live code, in a private chat only", () => {
    expect(routeUpdate(msg(42, "/start CODE123"), unbound, eq)).toEqual({ kind: "bind", chatId: 42 });
    expect(routeUpdate(msg(42, "/start@my_bot CODE123"), unbound, eq)).toEqual({ kind: "bind", chatId: 42 });
    expect(routeUpdate(msg(42, "/start WRONG"), unbound, eq)).toEqual({ kind: "stranger", chatId: 42 });
    expect(routeUpdate({ update_id: 1, message: { chat: { id: -5, type: "group" }, text: "/start CODE123" } }, unbound, eq)).toEqual({ kind: "stranger", chatId: -5 });
  });

  it("serves only the owner's chat; everyone else is a stranger", () => {
    expect(routeUpdate(msg(42, "hello"), bound, eq)).toEqual({ kind: "chat", chatId: 42, text: "hello" });
    expect(routeUpdate(msg(7, "hello"), bound, eq)).toEqual({ kind: "stranger", chatId: 7 });
    expect(routeUpdate(msg(7, "/new"), bound, eq)).toEqual({ kind: "stranger", chatId: 7 });
    expect(routeUpdate(msg(7, "hello"), unbound, eq)).toEqual({ kind: "stranger", chatId: 7 });
    // A spent code does not move the binding.
    expect(routeUpdate(msg(7, "/start CODE123"), bound, eq)).toEqual({ kind: "stranger", chatId: 7 });
  });

  it("understands the owner's commands and messages without text", () => {
    expect(routeUpdate(msg(42, "/new"), bound, eq).kind).toBe("new");
    expect(routeUpdate(msg(42, "/HELP"), bound, eq).kind).toBe("help");
    expect(routeUpdate(msg(42, "/start"), bound, eq).kind).toBe("start");
    expect(routeUpdate(msg(42, undefined, { sticker: {} }), bound, eq).kind).toBe("text_only");
    expect(routeUpdate(msg(42, undefined, { photo: [], caption: "look" }), bound, eq)).toEqual({ kind: "chat", chatId: 42, text: "look" });
    expect(routeUpdate(msg(42, "/new@other_bot"), bound, eq).kind).toBe("ignore");
  });

  it("ignores what is not a message", () => {
    expect(routeUpdate({ update_id: 1, edited_message: {} }, bound, eq).kind).toBe("ignore");
    expect(routeUpdate({ update_id: 1, message: { chat: {} } }, bound, eq).kind).toBe("ignore");
    expect(routeUpdate(null, bound, eq).kind).toBe("ignore");
    expect(routeUpdate(msg(42, "hi", { from: { id: 1, is_bot: true } }), bound, eq).kind).toBe("ignore");
  });

  it("parses commands with and without a bot name and arguments", () => {
    expect(parseCommand("/start abc", "b")).toEqual({ name: "start", args: "abc" });
    expect(parseCommand("/Start@B", "b")).toEqual({ name: "start", args: "" });
    expect(parseCommand("/x@c", "b")).toBe("other_bot");
    expect(parseCommand("not /a command", "b")).toBeNull();
  });
});

describe("planReply", () => {
  it("splits the text, then sends each generated image as a photo", () => {
    const text = Array.from({ length: 12 }, (_, i) => paragraph(i, 80)).join("\n\n");
    const plan = planReply({ text, status: "done", images: [{ url: "/api/images/img_abc123", alt: "A cat" }, { url: "https://elsewhere/x.png", alt: "?" }] });
    const texts = plan.filter((p) => p.type === "text");
    expect(texts.length).toBeGreaterThan(1);
    expect(plan.at(-1)).toEqual({ type: "photo", imageId: "img_abc123", caption: "A cat" });
    expect(plan.filter((p) => p.type === "photo")).toHaveLength(1);
  });

  it("notes a cut-off reply in its last message, and apologises for an empty one", () => {
    const cut = planReply({ text: "Half an answ", status: "interrupted", images: [] });
    expect(cut).toHaveLength(1);
    expect(cut[0]).toMatchObject({ type: "text", markdown: true });
    expect((cut[0] as { text: string }).text).toContain(CUT_OFF_NOTE);
    expect(planReply({ text: "", status: "error", images: [] })).toEqual([{ type: "text", text: REPLY_FAILED, markdown: false }]);
  });
});

describe("links", () => {
  it("builds the webhook URL on HTTPS, keeping loopback as is for the local stand-in", () => {
    expect(webhookUrl("https://sp.example.com/", "abc")).toBe("https://sp.example.com/telegram/webhook/abc");
    expect(webhookUrl("http://sp.example.com", "abc")).toBe("https://sp.example.com/telegram/webhook/abc");
    expect(webhookUrl("http://127.0.0.1:8787", "abc")).toBe("http://127.0.0.1:8787/telegram/webhook/abc");
  });

  it("links to the bot with the one-time code while it is live", () => {
    expect(linkUrl("my_bot", "c0de")).toBe("https://t.me/my_bot?start=c0de");
    expect(linkUrl("my_bot", null)).toBe("https://t.me/my_bot");
  });
});

describe("webhook secrets", () => {
  it("are valid for their own user only, and use only the characters Telegram allows", async () => {
    const secret = await newWebhookSecret("key", "aaaaaaaaaaaaaaaaaaaa");
    expect(secret).toMatch(/^[A-Za-z0-9_-]{1,256}$/);
    expect(await isWebhookSecretFor("key", "aaaaaaaaaaaaaaaaaaaa", secret)).toBe(true);
    expect(await isWebhookSecretFor("key", "bbbbbbbbbbbbbbbbbbbb", secret)).toBe(false);
    expect(await isWebhookSecretFor("other-key", "aaaaaaaaaaaaaaaaaaaa", secret)).toBe(false);
    const tampered = `${secret.slice(0, 5)}${secret[5] === "A" ? "B" : "A"}${secret.slice(6)}`;
    expect(await isWebhookSecretFor("key", "aaaaaaaaaaaaaaaaaaaa", tampered)).toBe(false);
    expect(await isWebhookSecretFor("key", "aaaaaaaaaaaaaaaaaaaa", secret.slice(1))).toBe(false);
    expect(await newWebhookSecret("key", "aaaaaaaaaaaaaaaaaaaa")).not.toBe(secret);
  });
});

describe("the Bot API client", () => {
  it("redacts anything shaped like a bot token", () => {
    const token = "123456789:AAH" + "x".repeat(32);
    expect(redactTokens(`GET https://api.telegram.org/bot${token}/getMe failed`)).toBe("GET https://api.telegram.org/bot<bot-token>/getMe failed");
  });

  it("retries a 429 after retry_after, a bounded number of times, and never a typing indicator", async () => {
    const waits: number[] = [];
    const transformer = retryRateLimited({ maxRetries: 2, maxWaitSeconds: 5, sleep: async (ms) => void waits.push(ms) });
    const limited = { ok: false as const, error_code: 429, description: "Too Many Requests: retry after 3", parameters: { retry_after: 3 } };
    let calls = 0;
    const prev = (async () => (++calls <= 1 ? limited : { ok: true as const, result: true })) as never;
    expect(await transformer(prev, "sendMessage", { chat_id: 1, text: "x" } as never)).toEqual({ ok: true, result: true });
    expect(waits).toEqual([3000]);

    calls = 0;
    const always = (async () => (++calls, limited)) as never;
    expect((await transformer(always, "sendMessage", { chat_id: 1, text: "x" } as never)).ok).toBe(false);
    expect(calls).toBe(3);

    calls = 0;
    await transformer(always, "sendChatAction", { chat_id: 1, action: "typing" } as never);
    expect(calls).toBe(1);

    calls = 0;
    const long = (async () => (++calls, { ...limited, parameters: { retry_after: 60 } })) as never;
    await transformer(long, "sendMessage", { chat_id: 1, text: "x" } as never);
    expect(calls).toBe(1);
  });
});
