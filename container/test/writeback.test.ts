/**
 * The write-back watcher against a callback stand-in: what is sent, when, how often, and what is
 * never sent (the content the Worker already has).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WriteBack } from "../src/writeback.ts";
import { seedWorkspace } from "../src/workspace.ts";
import { startCallbackStandin, waitFor, type CallbackStandin } from "./helpers/callback-standin.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function setup(baseline: Record<string, string>, options: Partial<ConstructorParameters<typeof WriteBack>[0]> = {}) {
  const dir = mkdtempSync(join(tmpdir(), "wb-test-"));
  const files = new Map(Object.entries(baseline));
  seedWorkspace(dir, files);
  const callback = await startCallbackStandin();
  const logs: string[] = [];
  const wb = new WriteBack({
    dir, callbackUrl: `${callback.url}/`, userId: "user-1", gatewayToken: "gw-token", baseline: files,
    debounceMs: 80, pollMs: 150, retryBaseMs: 30, retryMaxMs: 200, maxAttempts: 4, log: (l) => logs.push(l), ...options,
  });
  wb.start();
  const done = async () => {
    wb.stop();
    await callback.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { dir, callback, wb, logs, done };
}

const putsFor = (cb: CallbackStandin, name: string) => cb.puts.filter((p) => p.name === name);

test("a changed MEMORY.md is PUT with the gateway token and the user id", async () => {
  const { dir, callback, done } = await setup({ "SOUL.md": "soul", "MEMORY.md": "old memory" });
  try {
    writeFileSync(join(dir, "MEMORY.md"), "new memory ✨");
    const [put] = await waitFor("the PUT", () => (callback.puts.length ? callback.puts : null), 5_000);
    assert.equal(put!.name, "MEMORY.md");
    assert.equal(put!.body, "new memory ✨");
    assert.equal(put!.authorization, "Bearer gw-token");
    assert.equal(put!.user, "user-1");
    assert.match(put!.contentType ?? "", /text\/markdown/);
  } finally {
    await done();
  }
});

test("files equal to what the Worker sent are never echoed back, rewritten or not", async () => {
  const { dir, callback, done } = await setup({ "SOUL.md": "soul", "MEMORY.md": "memory" });
  try {
    writeFileSync(join(dir, "SOUL.md"), "soul"); // touched, same content
    writeFileSync(join(dir, "MEMORY.md"), "changed");
    writeFileSync(join(dir, "MEMORY.md"), "memory"); // back to what the Worker has, before the debounce ends
    await sleep(600); // several debounce periods and scans
    assert.deepEqual(callback.puts, []);
  } finally {
    await done();
  }
});

test("a burst of writes becomes one PUT of the last content; a later change is sent again", async () => {
  const { dir, callback, done } = await setup({ "MEMORY.md": "v0" });
  try {
    for (let i = 1; i <= 5; i++) {
      writeFileSync(join(dir, "MEMORY.md"), `v${i}`);
      await sleep(10);
    }
    await waitFor("the PUT", () => callback.puts.length === 1, 5_000);
    await sleep(300);
    assert.equal(callback.puts.length, 1);
    assert.equal(callback.puts[0]!.body, "v5");
    // After the Worker accepted v5, rewriting v5 sends nothing; v6 is sent.
    writeFileSync(join(dir, "MEMORY.md"), "v5");
    await sleep(300);
    assert.equal(callback.puts.length, 1);
    writeFileSync(join(dir, "MEMORY.md"), "v6");
    await waitFor("the second PUT", () => callback.puts.length === 2, 5_000);
    assert.equal(callback.puts[1]!.body, "v6");
  } finally {
    await done();
  }
});

test("a file the agent creates is sent; names the Worker refuses are not", async () => {
  const { dir, callback, done } = await setup({ "SOUL.md": "soul" });
  try {
    writeFileSync(join(dir, "NOTES.md"), "new file");
    writeFileSync(join(dir, "lowercase.md"), "not a workspace name");
    writeFileSync(join(dir, "TOO_BIG.md"), "x".repeat(64 * 1024 + 1));
    await waitFor("NOTES.md", () => putsFor(callback, "NOTES.md").length === 1, 5_000);
    await sleep(400);
    assert.deepEqual(callback.puts.map((p) => p.name), ["NOTES.md"]);
  } finally {
    await done();
  }
});

test("5xx and 429 are retried with backoff until accepted", async () => {
  const { dir, callback, logs, done } = await setup({ "MEMORY.md": "a" });
  try {
    callback.queue.push(503, 429);
    writeFileSync(join(dir, "MEMORY.md"), "b");
    await waitFor("an accepted PUT", () => callback.puts.some((p) => p.status === 200), 5_000);
    assert.deepEqual(callback.puts.map((p) => p.status), [503, 429, 200]);
    assert.ok(callback.puts.every((p) => p.body === "b"));
    assert.ok(logs.some((l) => l.includes("MEMORY.md sent")));
  } finally {
    await done();
  }
});

test("a permanent refusal (4xx) is not repeated until the file changes", async () => {
  const { dir, callback, done } = await setup({ "MEMORY.md": "a" });
  try {
    callback.queue.push(401);
    writeFileSync(join(dir, "MEMORY.md"), "b");
    await waitFor("the refused PUT", () => callback.puts.length === 1, 5_000);
    await sleep(500); // scans see "b" again: still not resent
    assert.equal(callback.puts.length, 1);
    writeFileSync(join(dir, "MEMORY.md"), "c");
    await waitFor("the next PUT", () => callback.puts.length === 2, 5_000);
    assert.equal(callback.puts[1]!.body, "c");
  } finally {
    await done();
  }
});

test("an unreachable Worker is retried, then picked up again by a later scan", async () => {
  const { dir, callback, done } = await setup({ "MEMORY.md": "a" }, { maxAttempts: 2 });
  try {
    const url = callback.url;
    await callback.close(); // nothing listens: connection refused
    writeFileSync(join(dir, "MEMORY.md"), "b");
    await sleep(500);
    // Back up on the same port.
    const { createServer } = await import("node:http");
    const bodies: string[] = [];
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        bodies.push(body);
        res.writeHead(200).end("{}");
      });
    });
    await new Promise<void>((r) => server.listen(Number(new URL(url).port), "127.0.0.1", r));
    try {
      await waitFor("the PUT after the Worker came back", () => bodies.length > 0, 5_000);
      assert.equal(bodies[0], "b");
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  } finally {
    await done().catch(() => {});
  }
});

test("flush() sends a pending change at once (SIGTERM before the debounce ends)", async () => {
  const { dir, callback, wb, done } = await setup({ "MEMORY.md": "a" }, { debounceMs: 60_000, pollMs: 60_000 });
  try {
    writeFileSync(join(dir, "MEMORY.md"), "last words");
    await sleep(100);
    assert.equal(callback.puts.length, 0);
    await wb.flush(3_000);
    assert.deepEqual(callback.puts.map((p) => p.body), ["last words"]);
  } finally {
    await done();
  }
});
