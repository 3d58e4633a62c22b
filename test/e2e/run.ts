/**
 * End-to-end tests of the web app in real Chromium (Debian's `chromium`, driven by playwright-core)
 * against `wrangler dev` and the local stand-ins for Bedrock, Telegram and Fly.
 *
 *   npx node test/e2e/run.ts            (CHROMIUM_PATH=/path/to/chromium to override /usr/bin/chromium)
 *
 * Everything runs on 127.0.0.1: the stand-ins in this process on free ports, wrangler on a free
 * port with a fresh `--persist-to` directory and every secret and override given on the command
 * line (a developer's .dev.vars is never read and never written). Screenshots of every test's end
 * state go to screenshots/e2e/ (gitignored). The whole run is bounded by a watchdog, and wrangler
 * (with its workerd) and the stand-ins are stopped on success, failure, and SIGINT/SIGTERM.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { startLocalStack, type LocalStack } from "../../dev/local-stack.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SHOTS = join(ROOT, "screenshots", "e2e");
const RUN_STARTED = performance.now();
/** The whole run (setup, six tests, teardown) must stay under 3 minutes. */
const RUN_BUDGET_MS = 240_000;
/** Generous waits: a loaded 2-core machine runs wrangler, workerd, Chromium and this at once. */
const WAIT_MS = 30_000;
const TEST_TIMEOUT_MS = 75_000;

// ---------------------------------------------------------------- Chromium (never skip silently)

const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
if (!existsSync(CHROMIUM)) {
  console.error("Chromium not found: install it with `apt-get install -y chromium` (Debian) or set CHROMIUM_PATH");
  process.exit(1);
}
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  // Belt and braces for "talks only to 127.0.0.1": no other host name resolves in this browser.
  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
];

// ---------------------------------------------------------------- environment: stand-ins + wrangler

let stack: LocalStack | null = null;
let bedrockUrl = "";
let base = "";
let browser: Browser | null = null;
let cleaning: Promise<void> | null = null;
const wranglerLog = () => stack?.log() ?? "";

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] });
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(" ")} exited with ${code}`))));
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const hex = (bytes: number) => randomBytes(bytes).toString("hex");

/** The stand-ins and `wrangler dev` (dev/local-stack.ts: fresh secrets, .dev.vars never read), then Chromium. */
async function startEnvironment(): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  await run(process.execPath, ["scripts/build-web.mjs"]);
  stack = await startLocalStack();
  base = stack.base;
  bedrockUrl = stack.bedrockUrl;
  const health = (await (await fetch(`${base}/api/health`)).json()) as { devAuth?: boolean; missing?: string[] };
  assert.equal(health.devAuth, true, "ALLOW_EMAIL_AUTH=true reached the Worker");
  assert.deepEqual(health.missing ?? [], [], "no secret is missing");
  const { chromium } = await import("playwright-core");
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 });
}

async function stopEnvironment(): Promise<void> {
  cleaning ??= (async () => {
    await browser?.close().catch(() => {});
    browser = null;
    await stack?.stop();
  })();
  return cleaning;
}

// Last resort if the process exits some other way: never leave wrangler/workerd or files behind.
process.on("exit", () => stack?.kill());
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping wrangler and the stand-ins`);
    process.exitCode = 130;
    void stopEnvironment().finally(() => process.exit(130));
  });
}
const watchdog = setTimeout(() => {
  console.error(`\ne2e: the run exceeded ${RUN_BUDGET_MS / 1000} s; stopping.\n--- wrangler output (tail) ---\n${wranglerLog().slice(-4000)}`);
  void stopEnvironment().finally(() => process.exit(1));
}, RUN_BUDGET_MS);
watchdog.unref();

// ---------------------------------------------------------------- Bedrock stand-in control

interface ScriptedReply {
  text: string;
  pieces?: number;
  delayMs?: number;
}
interface RecordedRequest {
  seq: number;
  operation: string;
  key: string;
  auth: "sigv4" | "bearer";
  body: { system?: { text?: string }[]; messages?: { role: string; content: { text?: string; image?: unknown }[] }[] };
  status?: number;
  outcome?: string;
}

async function scriptReplies(key: string, replies: ScriptedReply[]): Promise<void> {
  const res = await fetch(`${bedrockUrl}/__control/script`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ key, replies }),
  });
  assert.ok(res.ok, `scripting the Bedrock stand-in: HTTP ${res.status}`);
}

async function bedrockRequests(key: string): Promise<RecordedRequest[]> {
  const res = await fetch(`${bedrockUrl}/__control/requests?key=${encodeURIComponent(key)}`);
  assert.ok(res.ok, `reading the Bedrock stand-in's requests: HTTP ${res.status}`);
  return ((await res.json()) as { requests: RecordedRequest[] }).requests;
}

// ---------------------------------------------------------------- page helpers

interface Session {
  context: BrowserContext;
  pages: Page[];
  /** Uncaught exceptions and console errors, per page. */
  problems: string[];
}

let failedTests = 0;
const unique = (label: string) => `${label}-${hex(4)}`;
/** The stand-in answers a request with the queue of the first `[[scenario:KEY]]` in its messages. */
const marker = (key: string) => `[[scenario:${key}]]`;

async function newSession(viewport = { width: 1280, height: 800 }): Promise<Session> {
  assert.ok(browser, "the browser is running");
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  context.setDefaultTimeout(WAIT_MS);
  return { context, pages: [], problems: [] };
}

async function openPage(session: Session, allowNetworkErrors = false): Promise<Page> {
  const page = await session.context.newPage();
  if (allowNetworkErrors) await page.addInitScript(trackSockets);
  const n = session.pages.push(page);
  page.on("pageerror", (err) => session.problems.push(`page ${n}: uncaught ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() !== "error") return;
    const text = msg.text();
    // While the test itself cuts the network, the browser logs the failed requests; nothing else may fail.
    if (allowNetworkErrors && /net::ERR_|WebSocket|Failed to load resource|Failed to fetch/i.test(text)) return;
    session.problems.push(`page ${n}: console error: ${text}`);
  });
  page.on("request", (req) => {
    const url = new URL(req.url());
    if (/^(https?|wss?):$/.test(url.protocol) && url.hostname !== "127.0.0.1") session.problems.push(`page ${n}: request to ${req.url()}`);
  });
  return page;
}

/**
 * Init script: remembers every WebSocket the page opens, so a test can cut them (the page exposes
 * no debug hook, and web/ is not ours to change). Subclassing keeps `WebSocket.OPEN` and friends.
 */
function trackSockets(): void {
  const Native = window.WebSocket;
  const open: WebSocket[] = [];
  class Tracked extends Native {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols);
      open.push(this);
    }
  }
  window.WebSocket = Tracked;
  (window as unknown as { __e2eDropSockets: () => number }).__e2eDropSockets = () => {
    let dropped = 0;
    for (const ws of open.splice(0)) {
      if (ws.readyState > Native.OPEN) continue;
      ws.close(4000, "e2e: connection dropped");
      dropped++;
    }
    return dropped;
  };
}

/** Closes every open WebSocket of the page (needs trackSockets); returns how many. */
function dropSockets(page: Page): Promise<number> {
  return page.evaluate(() => (window as unknown as { __e2eDropSockets: () => number }).__e2eDropSockets());
}

/** Runs a test body with a fresh browser context; screenshots every page's end state, pass or fail. */
async function withSession(name: string, body: (s: Session) => Promise<void>, viewport?: { width: number; height: number }): Promise<void> {
  const session = await newSession(viewport);
  try {
    await body(session);
    assert.deepEqual(session.problems, [], "no uncaught exceptions, console errors or foreign requests");
  } catch (err) {
    failedTests++;
    if (session.problems.length) console.error(`  ${name}: the page reported:\n    ${session.problems.join("\n    ")}`);
    throw err;
  } finally {
    for (const [i, page] of session.pages.entries()) {
      const file = join(SHOTS, `${name}${session.pages.length > 1 ? `-${String.fromCharCode(97 + i)}` : ""}.png`);
      await page.screenshot({ path: file, timeout: 10_000 }).catch(() => {});
    }
    await session.context.close().catch(() => {});
  }
}

async function waitConnected(page: Page): Promise<void> {
  await page.locator('#connection-state[data-state="connected"]').waitFor({ state: "attached" });
}

/** Connected, and the latest history page has been received and rendered. */
async function waitReady(page: Page): Promise<void> {
  await waitConnected(page);
  await page.locator('#chat-empty[data-loading="false"]').waitFor({ state: "attached" });
  await page.locator("#message-input:not([disabled])").waitFor();
}

async function signIn(page: Page, email: string): Promise<void> {
  await page.goto(base);
  await page.locator("#signin-email").fill(email);
  await page.locator("#signin-submit").click();
  await page.locator("#app").waitFor({ state: "visible" });
  await waitReady(page);
}

async function sendMessage(page: Page, text: string): Promise<void> {
  await page.locator("#send-button:not([disabled])").waitFor();
  await page.locator("#message-input").fill(text);
  await page.locator("#send-button").click();
}

const messages = (page: Page) => page.locator('#messages > li[data-testid="message"]');
const textOf = (page: Page, role: "user" | "assistant") =>
  page.locator(`#messages > li[data-testid="message"][data-role="${role}"] [data-testid="message-text"]`).allTextContents().then((t) => t.map((s) => s.trim()));

/** Waits until the page shows an assistant message in state `done` whose text is exactly `text`. */
async function waitForReply(page: Page, text: string, timeout = WAIT_MS): Promise<void> {
  await page.waitForFunction(
    (want) =>
      [...document.querySelectorAll<HTMLElement>('#messages > li[data-role="assistant"][data-state="done"] [data-testid="message-text"]')].some(
        (el) => (el.textContent ?? "").trim() === want,
      ),
    text,
    { timeout, polling: 100 },
  );
}

interface ReplySample {
  len: number;
  state: string;
  conn: string;
  t: number;
}
interface WatchedReply {
  samples: ReplySample[];
  text: string;
  state: string;
}

/**
 * Records, in the page, every change of the `index`-th assistant message (text length and
 * `data-state`) and of the connection state until the message is finished. Start it before sending.
 */
function watchReply(page: Page, index: number, timeoutMs = 45_000): Promise<WatchedReply> {
  const watching = page.evaluate(
    ({ index, timeoutMs }) =>
      new Promise<WatchedReply>((resolve, reject) => {
        const samples: ReplySample[] = [];
        const started = performance.now();
        const conn = document.getElementById("connection-state")!;
        const check = () => {
          const li = document.querySelectorAll<HTMLElement>('#messages > li[data-role="assistant"]')[index];
          const state = li?.dataset.state ?? "absent";
          const text = (li?.querySelector('[data-testid="message-text"]')?.textContent ?? "").trim();
          const c = conn.dataset.state ?? "";
          const last = samples[samples.length - 1];
          if (!last || last.len !== text.length || last.state !== state || last.conn !== c) {
            samples.push({ len: text.length, state, conn: c, t: Math.round(performance.now() - started) });
          }
          if (state === "done" || state === "error" || state === "cancelled") {
            observer.disconnect();
            clearTimeout(timer);
            resolve({ samples, text, state });
          }
        };
        const observer = new MutationObserver(check);
        observer.observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ["data-state"] });
        const timer = setTimeout(() => {
          observer.disconnect();
          reject(new Error(`assistant message #${index} did not finish in ${timeoutMs} ms: ${JSON.stringify(samples.slice(-10))}`));
        }, timeoutMs);
        check();
      }),
    { index, timeoutMs },
  );
  // If the test fails before awaiting it, closing the page rejects this; that is not a second failure.
  watching.catch(() => {});
  return watching;
}

// ---------------------------------------------------------------- the tests

before(startEnvironment, { timeout: 150_000 });
after(
  async () => {
    if (failedTests > 0 && wranglerLog().trim()) console.error(`--- wrangler dev output (tail) ---\n${wranglerLog().slice(-4000)}`);
    await stopEnvironment();
    console.log(`e2e: finished in ${((performance.now() - RUN_STARTED) / 1000).toFixed(1)} s (wrangler and stand-ins stopped); screenshots in screenshots/e2e/`);
  },
  { timeout: 30_000 },
);

// Shared by the first two tests: one user, one exchange, then a reload.
const first = {
  email: `${unique("stream")}@example.com`,
  key: unique("stream"),
  reply: "Streaming works: this reply arrives in eight pieces, one every hundred and fifty milliseconds, and grows on screen.",
  question: "",
};
first.question = `${marker(first.key)} Tell me something, slowly please.`;

test("sign in, send a message, and watch the reply stream in", { timeout: TEST_TIMEOUT_MS }, async () => {
  await withSession("01-stream", async (s) => {
    await scriptReplies(first.key, [{ text: first.reply, pieces: 8, delayMs: 150 }]);
    const page = await openPage(s);
    await signIn(page, first.email);
    await page.locator("#account-email").filter({ hasText: first.email }).waitFor();

    const watched = watchReply(page, 0);
    await sendMessage(page, first.question);
    const reply = await watched;

    assert.equal(reply.state, "done", `the reply ends in state done: ${JSON.stringify(reply.samples)}`);
    assert.equal(reply.text, first.reply);
    const streaming = reply.samples.filter((x) => x.state === "streaming" && x.len > 0);
    const lengths = [...new Set(streaming.map((x) => x.len))];
    for (let i = 1; i < streaming.length; i++) assert.ok(streaming[i]!.len >= streaming[i - 1]!.len, "the streaming text only grows");
    const partial = lengths.filter((len) => len < first.reply.length);
    assert.ok(partial.length >= 3, `at least 3 partial texts were shown before the whole reply (saw ${JSON.stringify(reply.samples)})`);
    const doneAt = reply.samples.findIndex((x) => x.state === "done");
    const firstPieceAt = reply.samples.findIndex((x) => x.state === "streaming" && x.len > 0);
    assert.ok(firstPieceAt >= 0 && firstPieceAt < doneAt, "text was visible before the message was done");
    assert.ok(reply.samples[doneAt]!.t - reply.samples[firstPieceAt]!.t >= 300, "the pieces arrived over time, not all at once");

    await page.locator(`#messages > li[data-role="user"][data-state="sent"]`).waitFor({ state: "attached" });
    assert.deepEqual(await textOf(page, "user"), [first.question]);
    assert.equal(await messages(page).count(), 2);
    assert.equal((await bedrockRequests(first.key)).length, 1, "one Bedrock request for one message");
  });
});

test("reload and see the history, both messages once each", { timeout: TEST_TIMEOUT_MS }, async () => {
  await withSession("02-reload", async (s) => {
    const page = await openPage(s);
    await signIn(page, first.email);
    await waitForReply(page, first.reply);
    await page.reload();
    await page.locator("#app").waitFor({ state: "visible" }); // still signed in after the reload
    await waitReady(page);
    await waitForReply(page, first.reply);
    await page.locator('#messages > li[data-role="user"]').first().waitFor({ state: "attached" });

    assert.deepEqual(await textOf(page, "user"), [first.question]);
    assert.deepEqual(await textOf(page, "assistant"), [first.reply]);
    assert.equal(await messages(page).count(), 2, "exactly two messages after the reload");
    const roles = await messages(page).evaluateAll((lis) => lis.map((li) => (li as HTMLElement).dataset.role));
    assert.deepEqual(roles, ["user", "assistant"], "in order");
  });
});

test("an edited SOUL.md is in the system prompt of the next Bedrock request", { timeout: TEST_TIMEOUT_MS }, async () => {
  await withSession("03-soul", async (s) => {
    const key = unique("soul");
    const soul = `# Soul\n\nYou are Captain E2E ${hex(6)}, a patient lighthouse keeper who answers in short sentences.`;
    const answer = "Aye, the lamp is lit.";
    await scriptReplies(key, [{ text: answer, pieces: 2, delayMs: 20 }]);

    const page = await openPage(s);
    await signIn(page, `${unique("soul")}@example.com`);
    await page.locator("#tab-workspace").click();
    await page.locator('#workspace-files [data-file="SOUL.md"]').click();
    const editor = page.locator("#editor-text");
    await editor.waitFor({ state: "visible" });
    // The file's current text has loaded into the editor (a new user gets the default SOUL.md).
    await page.waitForFunction(() => ((document.getElementById("editor-text") as HTMLTextAreaElement | null)?.value ?? "").trim() !== "");
    await editor.fill(soul);
    await page.locator("#editor-dirty").waitFor({ state: "visible" });
    const saved = page.waitForResponse((r) => r.request().method() === "PUT" && r.url().includes("/api/workspace/") && r.url().includes("SOUL.md"));
    await page.locator("#editor-save").click();
    const res = await saved;
    assert.ok(res.ok(), `saving SOUL.md: HTTP ${res.status()}`);
    await page.locator("#editor-dirty").waitFor({ state: "hidden" });

    const watched = watchReply(page, 0);
    await sendMessage(page, `${marker(key)} Who are you?`);
    const reply = await watched;
    assert.equal(reply.state, "done");
    assert.equal(reply.text, answer);

    const requests = await bedrockRequests(key);
    assert.equal(requests.length, 1, "one Bedrock request");
    assert.equal(requests[0]!.auth, "sigv4", "signed with the run's fake AWS keys (no bearer token from a .dev.vars or the environment)");
    const system = (requests[0]!.body.system ?? []).map((b) => b.text ?? "").join("\n");
    assert.ok(system.includes(`<file name="SOUL.md">\n${soul.trim()}\n</file>`), `the new SOUL.md is in the system prompt:\n${system.slice(0, 2000)}`);
    assert.ok(!system.includes("You are a warm, curious companion"), "the default SOUL.md is gone from the prompt");
  });
});

test("two tabs of one user show one conversation", { timeout: TEST_TIMEOUT_MS }, async () => {
  await withSession("04-two-tabs", async (s) => {
    const key = unique("tabs");
    const question = `${marker(key)} Hello from tab A.`;
    const answer = "Hello to both of your tabs, this reply streams to every one of them.";
    await scriptReplies(key, [{ text: answer, pieces: 6, delayMs: 100 }]);

    const a = await openPage(s);
    await signIn(a, `${unique("tabs")}@example.com`);
    const b = await openPage(s);
    await b.goto(base); // same context: same stored sign-in
    await b.locator("#app").waitFor({ state: "visible" });
    await waitReady(b);

    const inA = watchReply(a, 0);
    const inB = watchReply(b, 0);
    await sendMessage(a, question);
    const [ra, rb] = await Promise.all([inA, inB]);
    assert.equal(ra.state, "done");
    assert.equal(ra.text, answer);
    assert.equal(rb.state, "done", `tab B saw the reply finish: ${JSON.stringify(rb.samples)}`);
    assert.equal(rb.text, answer);

    for (const [name, page] of [["A", a], ["B", b]] as const) {
      await page.locator('#messages > li[data-role="user"]').first().waitFor({ state: "attached" });
      assert.deepEqual(await textOf(page, "user"), [question], `tab ${name} shows the user message once`);
      assert.deepEqual(await textOf(page, "assistant"), [answer], `tab ${name} shows the reply once`);
      assert.equal(await messages(page).count(), 2, `tab ${name} shows two messages`);
    }
    assert.equal((await bedrockRequests(key)).length, 1, "one Bedrock request for the one message");
  });
});

test("a dropped connection recovers without losing the reply", { timeout: TEST_TIMEOUT_MS }, async () => {
  await withSession("05-reconnect", async (s) => {
    const key = unique("drop");
    const question = `${marker(key)} Tell me a long story.`;
    const words = Array.from({ length: 24 }, (_, i) => `word${i + 1}`);
    const answer = `A long story, told slowly: ${words.join(" ")}, the end.`;
    // 24 pieces, 250 ms apart: about 6 s of streaming, so the drop lands in the middle of it.
    await scriptReplies(key, [{ text: answer, pieces: 24, delayMs: 250 }]);

    const page = await openPage(s, true);
    await signIn(page, `${unique("drop")}@example.com`);
    const watched = watchReply(page, 0, 60_000);
    await sendMessage(page, question);
    // Some text is on screen: the reply is streaming.
    await page.waitForFunction(() => {
      const li = document.querySelector<HTMLElement>('#messages > li[data-role="assistant"][data-state="streaming"]');
      return ((li?.querySelector('[data-testid="message-text"]')?.textContent ?? "").trim().length ?? 0) > 0;
    }, null, { polling: 50 });
    const shownBeforeDrop = ((await page.locator('#messages > li[data-role="assistant"] [data-testid="message-text"]').textContent()) ?? "").trim();

    // Chromium's offline emulation blocks new requests but leaves an open WebSocket alone, so the
    // network goes "offline" and the page's socket is cut from under it (see trackSockets).
    await s.context.setOffline(true);
    const ticketFailed = page.waitForEvent("requestfailed", { predicate: (r) => r.url().includes("/api/chat/ticket") });
    ticketFailed.catch(() => {});
    assert.ok((await dropSockets(page)) >= 1, "the page had an open chat socket to drop");
    // The page notices the connection is gone.
    await page.locator('#connection-state:not([data-state="connected"])').waitFor({ state: "attached" });
    // Stay offline until a reconnect attempt has failed (its ticket request cannot get out): the
    // backoff makes that at least 0.5 s, so pieces are written while the page cannot receive them.
    await ticketFailed;
    await s.context.setOffline(false);

    await waitConnected(page);
    const reply = await watched;
    assert.equal(reply.state, "done", `the reply finished: ${JSON.stringify(reply.samples)}`);
    assert.equal(reply.text, answer, "the whole reply is shown");
    assert.ok(answer.startsWith(shownBeforeDrop) && shownBeforeDrop.length < answer.length, "the drop happened mid-reply");
    const dropAt = reply.samples.findIndex((x) => x.conn !== "connected");
    assert.ok(dropAt > 0, `the page showed the connection as lost: ${JSON.stringify(reply.samples)}`);
    assert.equal(reply.samples[dropAt]!.state, "streaming", "the connection dropped while the reply was streaming");
    assert.ok(reply.samples[dropAt]!.len < answer.length, "with part of the reply still to come");

    await waitConnected(page);
    await waitReady(page);
    assert.deepEqual(await textOf(page, "assistant"), [answer], "the reply is shown exactly once");
    assert.deepEqual(await textOf(page, "user"), [question], "the question is shown exactly once");
    assert.equal(await messages(page).count(), 2);
    assert.equal((await bedrockRequests(key)).length, 1, "the drop did not cause a second Bedrock request");
    const midReply = reply.samples.some((x, i) => i > 0 && x.conn === "connected" && x.state === "streaming" && reply.samples.slice(0, i).some((y) => y.conn !== "connected"));
    console.log(`    reconnected ${midReply ? "while the reply was still streaming (hello.pending path)" : "after the reply had finished (history path)"}`);
  });
});

test("three messages typed quickly get three answers, in order, the waiting ones marked as waiting", { timeout: TEST_TIMEOUT_MS }, async () => {
  await withSession("07-queued", async (s) => {
    const key = unique("queue");
    const answers = ["First answer, written slowly piece by piece.", "Second answer.", "Third answer."];
    await scriptReplies(key, [{ text: answers[0]!, pieces: 8, delayMs: 250 }, { text: answers[1]! }, { text: answers[2]! }]);
    const page = await openPage(s);
    await signIn(page, `${unique("queue")}@example.com`);
    for (const word of ["one", "two", "three"]) await sendMessage(page, `${marker(key)} ${word}`);
    // While the first reply streams, the two after it say they wait.
    await page.locator(".msg-queued").first().waitFor({ state: "visible", timeout: WAIT_MS });
    assert.ok((await page.locator(".msg-queued").count()) >= 1, "a waiting message is marked as waiting");
    await page.screenshot({ path: join(SHOTS, "07-queued.png") });
    for (const answer of answers) await waitForReply(page, answer);
    assert.deepEqual(await textOf(page, "assistant"), answers, "three answers, in the order asked");
    assert.equal(await page.locator(".msg-queued").count(), 0, "nothing is left waiting");
    const requests = await bedrockRequests(key);
    assert.equal(requests.length, 3, "one Bedrock request per message");
  });
});

test("a PNG dropped into the chat reaches the model, which describes it, and shows in the message", { timeout: TEST_TIMEOUT_MS }, async () => {
  await withSession("08-image", async (s) => {
    const key = unique("image");
    const page = await openPage(s);
    await signIn(page, `${unique("image")}@example.com`);
    await page.locator("#attach-button:not([disabled])").waitFor();
    // A real 1×1 PNG, dropped onto the chat as a file from the desktop would be.
    const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
    await page.evaluate((b64) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const data = new DataTransfer();
      data.items.add(new File([bytes], "dot.png", { type: "image/png" }));
      const chat = document.getElementById("chat")!;
      chat.dispatchEvent(new DragEvent("dragenter", { bubbles: true, cancelable: true, dataTransfer: data }));
      chat.dispatchEvent(new DragEvent("drop", { bubbles: true, cancelable: true, dataTransfer: data }));
    }, png);
    await page.locator('[data-testid="attachment"][data-state="ready"]').waitFor({ timeout: WAIT_MS });
    await page.screenshot({ path: join(SHOTS, "08-image-attached.png") });
    await sendMessage(page, `${marker(key)} What is in this picture?`);
    await page.waitForFunction(
      () => [...document.querySelectorAll('#messages > li[data-role="assistant"][data-state="done"] [data-testid="message-text"]')].some((el) => /I see 1 image \(png\)/.test(el.textContent ?? "")),
      undefined,
      { timeout: WAIT_MS, polling: 100 },
    );
    await page.locator('#messages > li[data-role="user"] .msg-image img').waitFor({ state: "visible", timeout: WAIT_MS });
    assert.equal(await page.locator('[data-testid="attachment"]').count(), 0, "the tray is empty once the message is sent");
    await page.screenshot({ path: join(SHOTS, "08-image-reply.png") });
    const [request] = await bedrockRequests(key);
    const blocks = request!.body.messages!.at(-1)!.content;
    assert.equal(blocks.filter((b) => b.image).length, 1, "one image block in the Bedrock request");
  });
});

test("at phone width the message input and the workspace are reachable", { timeout: TEST_TIMEOUT_MS }, async () => {
  await withSession(
    "06-phone",
    async (s) => {
      const page = await openPage(s);
      await signIn(page, `${unique("phone")}@example.com`);
      const input = page.locator("#message-input");
      await input.waitFor({ state: "visible" });
      assert.ok(await inViewport(page, "#message-input"), "the message input is on screen");
      assert.ok(await inViewport(page, "#send-button"), "the send button is on screen");

      const nav = page.locator("#nav-workspace");
      await nav.waitFor({ state: "visible" });
      assert.ok(await inViewport(page, "#nav-workspace"), "the workspace button is on screen");
      await nav.click();
      await page.locator('#workspace-files [data-file="SOUL.md"]').waitFor({ state: "visible" });
      assert.ok(await inViewport(page, '#workspace-files [data-file="SOUL.md"]'), "the workspace files are on screen");
      await page.screenshot({ path: join(SHOTS, "06-phone-workspace.png") });

      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 0, `no horizontal scrolling at 390 px (overflow ${overflow} px)`);
      await page.locator("#nav-chat").click();
      await input.waitFor({ state: "visible" });
    },
    { width: 390, height: 844 },
  );
});

/** True when the element's box lies inside the viewport (not just "visible" somewhere off screen). */
function inViewport(page: Page, selector: string): Promise<boolean> {
  return page.locator(selector).first().evaluate((el) => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && r.left >= 0 && r.top >= 0 && r.right <= innerWidth + 0.5 && r.bottom <= innerHeight + 0.5;
  });
}

