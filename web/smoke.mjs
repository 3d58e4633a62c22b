#!/usr/bin/env node
/**
 * End-to-end smoke run of the page against web/dev-fake-server.mjs in real Chromium, taking
 * screenshots at desktop (1280×800) and phone (390×844) widths into screenshots/.
 *
 *   npm run build:web && node web/smoke.mjs            (CHROMIUM=/path/to/chromium to override)
 *
 * It checks the flows that matter (sign-in, streaming, no duplicates across a reconnect,
 * workspace save and conflict, provisioning progress, the phone tabs) and fails loudly, and it
 * fails on any console error or CSP violation.
 */
import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startFakeServer } from "./dev-fake-server.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const shots = join(root, "screenshots");
await mkdir(shots, { recursive: true });

// The CSP the Worker should send (blob: images for the authenticated image fetch), and a second
// server with exactly `default-src 'self'` to check the canvas fallback.
const server = await startFakeServer({ port: 0, quiet: true, csp: "default-src 'self'; img-src 'self' blob:" });
const strictServer = await startFakeServer({ port: 0, quiet: true, csp: "default-src 'self'" });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});

let failures = 0;
const check = (cond, what) => {
  if (cond) console.log(`  ok   ${what}`);
  else {
    failures++;
    console.log(`  FAIL ${what}`);
  }
};

async function newPage(viewport, colorScheme = "light") {
  const context = await browser.newContext({ viewport, colorScheme, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.consoleErrors = [];
  page.on("console", (msg) => {
    if (msg.type() === "error") page.consoleErrors.push(msg.text());
  });
  page.on("pageerror", (err) => page.consoleErrors.push(String(err)));
  return page;
}

async function signIn(page, email, base = server.url) {
  await page.goto(base);
  await page.locator("#signin-email").fill(email);
  await page.locator("#signin-submit").click();
  await page.locator('#connection-state[data-state="connected"]').waitFor({ timeout: 10_000 });
  await page.locator("#messages > li").first().waitFor();
}

const assistantTexts = (page) => page.locator('#messages > li[data-role="assistant"] [data-testid="message-text"]').allTextContents();

try {
  // ---------------- desktop ----------------
  console.log("desktop");
  const page = await newPage({ width: 1280, height: 800 });
  await page.goto(server.url);
  await page.locator("#signin-email").waitFor({ state: "visible" });
  await page.screenshot({ path: join(shots, "desktop-signin.png") });
  await page.locator("#signin-submit").click();
  check(await page.locator("#signin-email-error").isVisible(), "an empty email shows an error");

  await signIn(page, "paid.person@example.com");
  await page.locator("#workspace-files, #account-card").first().waitFor();
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(shots, "desktop-chat.png") });
  check((await page.locator("#messages > li").count()) === 50, "the latest 50 messages are shown");

  // Stream a reply and catch it mid-stream.
  await page.locator("#message-input").fill("Show me some markdown formatting please");
  await page.locator("#message-input").press("Enter");
  await page.locator('#messages > li[data-role="assistant"][data-state="streaming"] [data-testid="message-text"]:not([hidden])').last().waitFor();
  check(await page.locator("#cancel-button").isVisible(), "the Stop button shows while a reply streams");
  await page.screenshot({ path: join(shots, "desktop-streaming.png") });
  await page.locator('#messages > li[data-role="assistant"]').last().and(page.locator('[data-state="done"]')).waitFor({ timeout: 15_000 });
  const last = page.locator('#messages > li[data-role="assistant"]').last();
  check((await last.locator("table").count()) === 1 && (await last.locator("pre code").count()) === 1, "Markdown renders a table and a code block");
  check((await last.locator("script").count()) === 0 && (await last.textContent()).includes("<script>alert(1)</script>"), "a script tag in a reply stays text");
  check(!(await page.locator("#cancel-button").isVisible()), "the Stop button goes away when the reply is done");
  await page.waitForTimeout(200);
  await page.screenshot({ path: join(shots, "desktop-markdown.png") });

  // Reconnect in the middle of a stream: nothing lost, nothing twice.
  await page.locator("#message-input").fill("Give me a long answer");
  await page.locator("#send-button").click();
  await page.locator('#messages > li[data-role="assistant"][data-state="streaming"] [data-testid="message-text"]:not([hidden])').last().waitFor();
  await page.waitForTimeout(300);
  await fetch(`${server.url}/__fake/drop`, { method: "POST" });
  await page.locator('#connection-state[data-state="offline"]').waitFor({ timeout: 5000 });
  check(await page.locator("#message-input").isDisabled(), "the input is disabled while offline");
  await page.screenshot({ path: join(shots, "desktop-offline.png") });
  await page.locator('#connection-state[data-state="connected"]').waitFor({ timeout: 15_000 });
  await page.locator('#messages > li[data-role="assistant"]').last().and(page.locator('[data-state="done"]')).waitFor({ timeout: 20_000 });
  const texts = await assistantTexts(page);
  const longReplies = texts.filter((t) => t.includes("Point 1"));
  check(longReplies.length === 1, "the long reply is shown once after the reconnect");
  check(longReplies[0]?.includes("Point 12") && (longReplies[0]?.match(/Point 1:/g)?.length ?? 0) === 1, "the long reply is complete and not repeated");
  const userCount = await page.locator('#messages > li[data-role="user"]', { hasText: "Give me a long answer" }).count();
  check(userCount === 1, "the user message is shown once after the reconnect");

  // Image frames are fetched with the auth header.
  await page.locator("#message-input").fill("Draw me an image of a feather");
  await page.locator("#message-input").press("Enter");
  await page.locator(".msg-image img, .msg-image canvas").last().waitFor({ timeout: 15_000 });
  check(true, "a generated image is shown");

  // Budget error.
  await page.locator("#message-input").fill("use up my budget");
  await page.locator("#message-input").press("Enter");
  await page.locator(".msg-error:not([hidden])").last().waitFor();
  check((await page.locator(".msg-error:not([hidden])").last().textContent()).includes("resets"), "a budget error says when it resets");
  await page.waitForTimeout(400);
  await page.screenshot({ path: join(shots, "desktop-image-error.png") });

  // Load earlier.
  await page.locator("#messages-scroll").evaluate((el) => (el.scrollTop = 0));
  await page.locator("#load-earlier").click();
  await page.waitForFunction(() => document.querySelectorAll("#messages > li").length > 58);
  check(!(await page.locator("#load-earlier").isVisible()), "after loading everything, Load earlier goes away");

  // Workspace: open, edit, save.
  await page.locator("#tab-workspace").click();
  await page.locator('#workspace-files [data-file="SOUL.md"]').click();
  await page.locator("#editor-text").waitFor();
  await page.locator("#editor-text").fill("# Soul\n\nYou are Wren: warm, curious, direct.\n\nYou love a good plan.\n");
  check(await page.locator("#editor-dirty").isVisible(), "an edit shows Unsaved");
  await page.screenshot({ path: join(shots, "desktop-editor.png") });
  await page.locator("#editor-save").click();
  await page.locator("#editor-dirty").waitFor({ state: "hidden" });
  check(true, "Save clears Unsaved");

  // Conflict: the container edits SOUL.md while we have unsaved edits.
  await page.locator("#editor-text").fill("# Soul\n\nMy local edit.\n");
  await fetch(`${server.url}/__fake/edit?name=SOUL.md`, { method: "POST" });
  await page.locator("#editor-banner:not([hidden])").waitFor();
  check((await page.locator("#editor-banner").textContent()).includes("changed elsewhere"), "a workspace frame warns that the open file changed");
  await page.locator("#editor-save").click();
  await page.locator("#editor-banner.banner--error").waitFor();
  check((await page.locator("#editor-banner").textContent()).includes("Overwrite"), "a 412 offers reload or overwrite");
  await page.screenshot({ path: join(shots, "desktop-conflict.png") });
  await page.locator("#editor-banner button", { hasText: "Reload theirs" }).click();
  await page.locator("#editor-banner").waitFor({ state: "hidden" });
  check((await page.locator("#editor-text").inputValue()).includes("Edited by the container"), "reload brings their version");

  // Versions.
  await page.locator("#editor-versions-toggle").click();
  await page.locator(".version-item").first().waitFor();
  await page.locator(".version-item button").nth(1).click(); // the first is the current version
  await page.locator(".version-preview").waitFor();
  await page.screenshot({ path: join(shots, "desktop-versions.png") });
  await page.locator("#editor-versions-toggle").click();

  // New file: the rule is shown for a bad name.
  await page.locator("#editor-back").click();
  await page.locator("#new-file-button").click();
  await page.locator("#new-file-name").fill("notes");
  await page.locator("#new-file-name").press("Enter");
  await page.locator('#editor-title:has-text("NOTES.md")').waitFor();
  await page.locator("#editor-text").fill("# Notes\n");
  await page.locator("#editor-save").click();
  await page.locator('#workspace-files [data-file="NOTES.md"]').waitFor({ state: "attached" });
  check(true, "a new file is created");
  await page.locator("#editor-back").click();
  await page.locator("#new-file-button").click();
  await page.locator("#new-file-name").fill("bad name");
  await page.locator("#new-file-name").press("Enter");
  check((await page.locator("#new-file-error").textContent()).includes("not a valid name") && (await page.locator("#new-file-rule").textContent()).includes("capital"), "a bad file name is refused, with the rule shown");
  await page.screenshot({ path: join(shots, "desktop-workspace.png") });

  // Status: provision and watch the steps.
  await page.locator("#tab-status").click();
  await page.locator("#fly-provision").click();
  await page.locator('#fly-state[data-state="provisioning"]').waitFor();
  await page.locator(".step--current").waitFor();
  await page.waitForTimeout(1000);
  await page.screenshot({ path: join(shots, "desktop-provisioning.png") });
  await page.locator('#fly-state[data-state="ready"]').waitFor({ timeout: 15_000 });
  await page.locator("#telegram-claim").click();
  await page.locator("#telegram-link").waitFor();
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(shots, "desktop-status-ready.png") });
  await page.locator("#panel-status").evaluate((el) => (el.scrollTop = el.scrollHeight));
  await page.waitForTimeout(3500); // let the toasts go
  await page.screenshot({ path: join(shots, "desktop-usage.png") });
  check((await page.locator("#usage-cost").textContent()).startsWith("$"), "today's cost is shown");
  check(true, "provisioning reaches ready and a pool bot is claimed");

  // The 412 of the conflict check is logged by Chromium as a failed resource: expected.
  const unexpected = page.consoleErrors.filter((e) => !/status of 412/.test(e));
  check(unexpected.length === 0, `no console errors or CSP violations (${unexpected.join(" | ")})`);

  // Under exactly `default-src 'self'`, images fall back to a canvas.
  const strict = await newPage({ width: 1280, height: 800 });
  await signIn(strict, "paid.strict@example.com", strictServer.url);
  await strict.locator("#message-input").fill("an image please");
  await strict.locator("#message-input").press("Enter");
  await strict.locator(".msg-image canvas").waitFor({ timeout: 15_000 });
  check(true, "under a strict CSP a generated image is drawn on a canvas");

  // Dark mode.
  const dark = await newPage({ width: 1280, height: 800 }, "dark");
  await signIn(dark, "paid.dark@example.com");
  await dark.locator("#message-input").fill("Show me markdown");
  await dark.locator("#message-input").press("Enter");
  await dark.locator('#messages > li[data-role="assistant"]').last().and(dark.locator('[data-state="done"]')).waitFor({ timeout: 15_000 });
  await dark.waitForTimeout(300);
  await dark.screenshot({ path: join(shots, "desktop-dark.png") });

  // A new user: the empty state.
  const fresh = await newPage({ width: 1280, height: 800 });
  await fresh.goto(server.url);
  await fresh.locator("#signin-email").fill("new.person@example.com");
  await fresh.locator("#signin-submit").click();
  await fresh.locator('#chat-empty[data-loading="false"]').waitFor();
  await fresh.waitForTimeout(300);
  await fresh.screenshot({ path: join(shots, "desktop-empty.png") });
  check(await fresh.locator(".chip").first().isVisible(), "a new user sees suggestions");

  // Free tier: provisioning explained.
  const free = await newPage({ width: 1280, height: 800 });
  await signIn(free, "free.person@example.com");
  await free.locator("#fly-paid-note").waitFor();
  check(await free.locator("#fly-provision").isDisabled(), "a free user cannot provision and is told why");
  check(await free.locator("#chat-mode-direct").isDisabled(), "a free user cannot change the route");

  // 401 → back to sign-in.
  await free.evaluate(() => localStorage.setItem("soulprint.auth", JSON.stringify({ kind: "bearer", token: "a.b.c" })));
  await free.reload();
  await free.locator("#signin-message:not([hidden])").waitFor();
  check(await free.locator("#signin").isVisible(), "a rejected token goes back to sign-in with a message");

  // Token link: stored and stripped from the URL.
  const tokenPage = await newPage({ width: 1280, height: 800 });
  const payload = Buffer.from(JSON.stringify({ sub: "x", email: "linked@example.com", aud: "soulprint", exp: Math.floor(Date.now() / 1000) + 3600 })).toString("base64url");
  await tokenPage.goto(`${server.url}/#token=eyJhbGciOiJIUzI1NiJ9.${payload}.c2ln`);
  await tokenPage.locator('#connection-state[data-state="connected"]').waitFor();
  check(!tokenPage.url().includes("token="), "a sign-in link's token is removed from the URL");
  check((await tokenPage.locator("#account-email").textContent()) === "linked@example.com", "the token's user is signed in");

  // ---------------- phone ----------------
  console.log("phone");
  const phone = await newPage({ width: 390, height: 844 });
  await phone.goto(server.url);
  await phone.locator("#signin-email").waitFor({ state: "visible" });
  await phone.screenshot({ path: join(shots, "phone-signin.png") });
  await signIn(phone, "paid.phone@example.com");
  await phone.waitForTimeout(300);
  check(!(await phone.locator("#side").isVisible()), "on a phone the side panel is hidden behind a tab");
  await phone.screenshot({ path: join(shots, "phone-chat.png") });
  await phone.locator("#message-input").fill("Show me some markdown");
  await phone.locator("#send-button").click();
  await phone.locator('#messages > li[data-role="assistant"]').last().and(phone.locator('[data-state="done"]')).waitFor({ timeout: 15_000 });
  await phone.waitForTimeout(300);
  await phone.screenshot({ path: join(shots, "phone-markdown.png") });
  await phone.locator("#nav-status").click();
  check(await phone.locator("#panel-status").isVisible(), "the Status tab shows the status panel");
  await phone.screenshot({ path: join(shots, "phone-status.png"), fullPage: false });
  await phone.locator("#panel-status").evaluate((el) => (el.scrollTop = el.scrollHeight));
  await phone.screenshot({ path: join(shots, "phone-usage.png") });
  await phone.locator("#nav-workspace").click();
  await phone.locator('#workspace-files [data-file="USER.md"]').click();
  await phone.locator("#editor-text").waitFor();
  await phone.screenshot({ path: join(shots, "phone-editor.png") });
  await phone.locator("#editor-back").click();
  await phone.screenshot({ path: join(shots, "phone-workspace.png") });
  check(phone.consoleErrors.length === 0, `no console errors on the phone (${phone.consoleErrors.join(" | ")})`);
} catch (err) {
  failures++;
  console.error("smoke run crashed:", err);
} finally {
  await browser.close();
  await server.close();
  await strictServer.close();
}

console.log(failures ? `\n${failures} check(s) failed` : "\nall checks passed");
process.exit(failures ? 1 : 0);
