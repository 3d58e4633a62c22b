/**
 * Issue 15 in the container, against a stand-in of the Worker's routes: the workspace read with
 * ETags, the state archive (what it keeps, what it never writes), state save and restore, the
 * schedule report from OpenClaw's cron table, and a write-back conflict that keeps both texts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { DatabaseSync } from "node:sqlite";
import { isExcluded, listStateFiles, packState, unpackState } from "../src/state-archive.ts";
import { StateSync } from "../src/state-sync.ts";
import { ScheduleReporter, cronStoreKey, readSchedule } from "../src/schedule-report.ts";
import { WorkspaceSync } from "../src/workspace-sync.ts";
import { NOTES_FILE, WriteBack } from "../src/writeback.ts";
import { seedWorkspace } from "../src/workspace.ts";
import { startWorkerStandin } from "./helpers/worker-standin.ts";
import { waitFor } from "./helpers/callback-standin.ts";

const temp = (label: string) => mkdtempSync(join(tmpdir(), `life-${label}-`));
const put = (dir: string, rel: string, text: string) => {
  mkdirSync(join(dir, rel, ".."), { recursive: true });
  writeFileSync(join(dir, rel), text);
};

test("the state archive keeps sessions, memory notes and databases, and leaves out what the Worker or the image owns", async () => {
  const dir = temp("pack");
  put(dir, "agents/main/sessions/abc.jsonl", '{"role":"user","text":"hi"}\n');
  put(dir, "workspace/memory/2026-12-01.md", "The person likes tea.");
  put(dir, "workspace/SOUL.md", "owned by the Worker");
  put(dir, "openclaw.json", "{}");
  put(dir, "logs/openclaw.log", "noise");
  put(dir, "extensions/bedrock/index.js", "from the image");
  put(dir, `agents/main/${"deep/".repeat(30)}file.txt`, "a long path");
  mkdirSync(join(dir, "state"), { recursive: true });
  const db = new DatabaseSync(join(dir, "state", "openclaw.sqlite"));
  db.exec("PRAGMA journal_mode = WAL; CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('kept');");
  const packed = await packState(dir); // taken while the database is open, as OpenClaw holds it
  db.close();
  assert.deepEqual(listStateFiles(dir).filter((f) => !f.startsWith("agents/main/deep")), ["agents/main/sessions/abc.jsonl", "state/openclaw.sqlite", "workspace/memory/2026-12-01.md"]);

  const target = temp("unpack");
  const written = unpackState(target, packed.archive);
  assert.ok(written.includes("agents/main/sessions/abc.jsonl") && written.includes("workspace/memory/2026-12-01.md"));
  assert.equal(readFileSync(join(target, "workspace/memory/2026-12-01.md"), "utf8"), "The person likes tea.");
  assert.equal(existsSync(join(target, "workspace/SOUL.md")), false);
  assert.equal(existsSync(join(target, "openclaw.json")), false);
  const copy = new DatabaseSync(join(target, "state", "openclaw.sqlite"));
  assert.deepEqual(copy.prepare("SELECT v FROM t").all().map((r) => (r as { v: string }).v), ["kept"]);
  copy.close();
  rmSync(dir, { recursive: true, force: true });
  rmSync(target, { recursive: true, force: true });
});

test("a restore never writes outside the state directory or into an excluded place", () => {
  const header = (path: string, body: string) => {
    const h = Buffer.alloc(512);
    h.write(path, 0);
    h.write(`${body.length.toString(8).padStart(11, "0")}\0`, 124);
    h.write("0", 156);
    const data = Buffer.alloc(Math.ceil(body.length / 512) * 512);
    data.write(body);
    return Buffer.concat([h, data]);
  };
  const archive = gzipSync(Buffer.concat([header("../escape.txt", "x"), header("openclaw.json", "{}"), header("workspace/SOUL.md", "no"), header("ok/file.txt", "yes"), Buffer.alloc(1024)]));
  const dir = temp("evil");
  assert.deepEqual(unpackState(join(dir, "state"), archive), ["ok/file.txt"]);
  assert.equal(existsSync(join(dir, "escape.txt")), false);
  assert.ok(isExcluded("workspace/MEMORY.md") && !isExcluded("workspace/memory/notes.md"));
  rmSync(dir, { recursive: true, force: true });
});

test("state is saved when it changed (debounced) and restored on a new machine", async () => {
  const worker = await startWorkerStandin({});
  const first = temp("m1");
  const second = temp("m2");
  try {
    const opts = { callbackUrl: worker.url, userId: "u1", gatewayToken: worker.token, debounceMs: 50, pollMs: 20 };
    const a = new StateSync({ ...opts, stateDir: first });
    assert.deepEqual((await a.restore()).restored, false);
    a.start();
    put(first, "agents/main/sessions/s1.jsonl", "turn 1\n");
    await waitFor("a save", () => worker.states.length === 1);
    put(first, "workspace/memory/today.md", "remember the tea");
    await a.flush(5_000);
    assert.equal(worker.states.length, 2);
    const b = new StateSync({ ...opts, stateDir: second });
    const restored = await b.restore();
    assert.equal(restored.restored, true);
    assert.equal(readFileSync(join(second, "agents/main/sessions/s1.jsonl"), "utf8"), "turn 1\n");
    assert.equal(readFileSync(join(second, "workspace/memory/today.md"), "utf8"), "remember the tea");
    await b.flush(1_000); // nothing changed since the restore: no save
    assert.equal(worker.states.length, 2);
  } finally {
    await worker.close();
    rmSync(first, { recursive: true, force: true });
    rmSync(second, { recursive: true, force: true });
  }
});

test("the schedule is read from OpenClaw's cron table and sent when it changes, not otherwise", async () => {
  const worker = await startWorkerStandin({});
  const dir = temp("cron");
  try {
    mkdirSync(join(dir, "state"), { recursive: true });
    const db = new DatabaseSync(join(dir, "state", "openclaw.sqlite"));
    // The columns OpenClaw 2026.9.6 reads and writes (its table has more).
    db.exec(`CREATE TABLE cron_jobs (store_key TEXT NOT NULL, job_id TEXT NOT NULL, declaration_key TEXT, name TEXT NOT NULL, enabled INTEGER NOT NULL,
      payload_kind TEXT NOT NULL, job_json TEXT NOT NULL, state_json TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (store_key, job_id)) STRICT`);
    const store = cronStoreKey(dir);
    assert.equal(store, join(dir, "cron", "jobs.json"));
    const at = Date.now() + 60_000;
    const insert = db.prepare("INSERT INTO cron_jobs (store_key, job_id, declaration_key, name, enabled, payload_kind, job_json, state_json) VALUES (?, ?, ?, ?, ?, ?, '{}', ?)");
    insert.run(store, "j1", null, "Remind me at 8", 1, "agentTurn", JSON.stringify({ nextRunAtMs: at }));
    insert.run(store, "j2", null, "Disabled", 0, "agentTurn", JSON.stringify({ nextRunAtMs: at }));
    // OpenClaw's own upkeep (as it declares them at start): never a reason to wake the machine.
    insert.run(store, "d1", "memory-core:memory-dreaming-promotion", "Memory Dreaming Promotion", 1, "agentTurn", JSON.stringify({ nextRunAtMs: at + 1 }));
    insert.run(store, "d2", "skill-collection-review:main", "skill-collection-review-main", 1, "agentTurn", JSON.stringify({ nextRunAtMs: at + 2 }));
    insert.run(store, "d3", "heartbeat:main", "heartbeat-main", 1, "heartbeat", JSON.stringify({ nextRunAtMs: at + 3 }));
    // A row of a store under another path (a state directory restored elsewhere): OpenClaw never runs it here.
    insert.run("/elsewhere/.openclaw/cron/jobs.json", "j3", null, "Orphan", 1, "agentTurn", JSON.stringify({ nextRunAtMs: at - 1 }));
    assert.deepEqual(await readSchedule(dir), [{ id: "j1", name: "Remind me at 8", nextRunAt: at }]);
    const reporter = new ScheduleReporter({ stateDir: dir, callbackUrl: worker.url, userId: "u1", gatewayToken: worker.token });
    assert.equal(await reporter.check(), true);
    assert.equal(await reporter.check(), false);
    db.prepare("UPDATE cron_jobs SET state_json = ? WHERE job_id = 'j1'").run(JSON.stringify({ nextRunAtMs: at + 86_400_000 }));
    assert.equal(await reporter.check(), true);
    // A one-shot job that ran is deleted (deleteAfterRun): the list goes out empty.
    db.prepare("DELETE FROM cron_jobs WHERE job_id = 'j1'").run();
    assert.equal(await reporter.check(), true);
    db.close();
    assert.deepEqual(worker.schedules.map((jobs) => jobs.map((j) => j.nextRunAt)), [[new Date(at).toISOString()], [new Date(at + 86_400_000).toISOString()], []]);
  } finally {
    await worker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the workspace is fetched at boot, again only when the Worker's version moved on, and never echoed back", async () => {
  const worker = await startWorkerStandin({ "SOUL.md": "old soul", "MEMORY.md": "" });
  const dir = temp("ws");
  const baseline = new Map([["SOUL.md", "stale secret soul"]]);
  seedWorkspace(dir, baseline);
  const wb = new WriteBack({ dir, callbackUrl: worker.url, userId: "u1", gatewayToken: worker.token, baseline, debounceMs: 30, pollMs: 50 });
  const sync = new WorkspaceSync({ dir, callbackUrl: worker.url, userId: "u1", gatewayToken: worker.token, baseline: wb });
  try {
    assert.equal(await sync.refresh("boot"), true);
    wb.start();
    assert.equal(readFileSync(join(dir, "SOUL.md"), "utf8"), "old soul");
    await sync.noteVersion(worker.etag());
    assert.equal(worker.requests.filter((r) => r.method === "GET").length, 1);
    worker.files.set("SOUL.md", "new soul ✨");
    await sync.noteVersion(worker.etag());
    assert.equal(readFileSync(join(dir, "SOUL.md"), "utf8"), "new soul ✨");
    assert.equal(worker.requests.filter((r) => r.method === "GET").at(-1)?.ifNoneMatch?.length, 66);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(worker.requests.filter((r) => r.method === "PUT").length, 0);
  } finally {
    wb.stop();
    await worker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a conflicting write-back keeps both: the agent is told, and the person's text comes back to disk", async () => {
  const worker = await startWorkerStandin({ "MEMORY.md": "shared start" });
  const dir = temp("conflict");
  const baseline = new Map([["MEMORY.md", "shared start"]]);
  seedWorkspace(dir, baseline);
  let sync: WorkspaceSync | null = null;
  const wb = new WriteBack({ dir, callbackUrl: worker.url, userId: "u1", gatewayToken: worker.token, baseline, debounceMs: 30, pollMs: 50, onConflict: (name) => void sync?.takeWorkerVersion(name) });
  sync = new WorkspaceSync({ dir, callbackUrl: worker.url, userId: "u1", gatewayToken: worker.token, baseline: wb });
  try {
    await sync.refresh("boot");
    wb.start();
    worker.files.set("MEMORY.md", "the person's edit");
    writeFileSync(join(dir, "MEMORY.md"), "the agent's edit");
    await waitFor("the person's text back on disk", () => readFileSync(join(dir, "MEMORY.md"), "utf8") === "the person's edit");
    assert.deepEqual(worker.conflicts, [{ name: "MEMORY.md", content: "the agent's edit" }]);
    assert.equal(worker.files.get("MEMORY.md"), "the person's edit");
    assert.match(readFileSync(join(dir, NOTES_FILE), "utf8"), /MEMORY\.md was not saved \(409\).*kept as a version/);
    const put = worker.requests.find((r) => r.method === "PUT");
    assert.ok(put?.ifMatch?.startsWith('"'));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(worker.requests.filter((r) => r.method === "PUT").length, 1); // not sent again
  } finally {
    wb.stop();
    await worker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a file above the cap is refused in a note the agent can read", async () => {
  const worker = await startWorkerStandin({});
  const dir = temp("cap");
  const wb = new WriteBack({ dir, callbackUrl: worker.url, userId: "u1", gatewayToken: worker.token, baseline: new Map(), debounceMs: 30, pollMs: 50 });
  try {
    wb.start();
    writeFileSync(join(dir, "NOTES.md"), "x".repeat(70 * 1024));
    await waitFor("the note", () => existsSync(join(dir, NOTES_FILE)));
    assert.match(readFileSync(join(dir, NOTES_FILE), "utf8"), /NOTES\.md was not saved \(413\).*at most 64 KiB/);
    assert.equal(worker.requests.length, 0);
  } finally {
    wb.stop();
    await worker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
