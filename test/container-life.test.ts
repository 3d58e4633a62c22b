/**
 * Issue 15, the Worker's side: the container reads the workspace conditionally, saves and restores
 * its state, reports its schedule (which wakes the machine through the Fly stand-in, or is skipped
 * with a note when the budget is spent), and a stale write-back keeps both texts.
 */
import { describe, expect, it } from "vitest";
import { env } from "cloudflare:workers";
import { runDurableObjectAlarm } from "cloudflare:test";
import { api, apiJson, errorCode } from "./helpers.ts";
import { callSeq, callsSince, control, driveUntil, flyUser, inspectApp, sleep, withFly, type FlyUser } from "./fly-helpers.ts";
import { connect } from "./ws-client.ts";
import { recordUsage } from "../src/lib/usage.ts";
import { statePrefix } from "../src/lib/container/container-state.ts";
import { ContainerSchedule, SCHEDULE_WAKE_JOB, WAKE_LEAD_MS } from "../src/lib/container/container-schedule.ts";
import { parseFlyTuning } from "../src/lib/tuning.ts";

async function readyUser(): Promise<FlyUser & { gw: Record<string, string> }> {
  const user = await flyUser();
  await withFly(user, (fly) => fly.provision());
  await driveUntil(user, (s) => s.state === "ready" && !s.workspace.pendingSync);
  const token = await withFly(user, (fly) => fly.gatewayToken());
  return { ...user, gw: { authorization: `Bearer ${token}`, "x-soulprint-user": user.userId } };
}

type Requests = { requests: { method: string; path: string; workspaceVersion?: string }[] };
const containerRequests = async (app: string) => (await control<Requests>(`apps/${app}/requests`)).requests;

describe("GET /api/container/workspace", () => {
  it("answers every file with its version and an ETag, 304 while nothing changed, and 200 after an edit", async () => {
    const user = await readyUser();
    const first = await apiJson<{ version: string; files: { name: string; content: string; version: number; sha256: string }[] }>("/api/container/workspace", { headers: user.gw });
    expect(first.status).toBe(200);
    expect(first.body.files.map((f) => f.name)).toEqual(["IDENTITY.md", "MEMORY.md", "SOUL.md", "USER.md"]);
    expect(first.body.files.find((f) => f.name === "SOUL.md")).toMatchObject({ version: 1, content: expect.stringContaining("Soul") });
    const etag = first.headers.get("etag")!;
    expect(etag).toBe(`"${first.body.version}"`);

    const again = await api("/api/container/workspace", { headers: { ...user.gw, "if-none-match": etag } });
    expect(again.status).toBe(304);

    expect((await api("/api/workspace/SOUL.md", { method: "PUT", headers: user.auth, body: "A new soul." })).status).toBe(200);
    const moved = await apiJson<{ files: { name: string; content: string; version: number }[] }>("/api/container/workspace", { headers: { ...user.gw, "if-none-match": etag } });
    expect(moved.status).toBe(200);
    expect(moved.headers.get("etag")).not.toBe(etag);
    expect(moved.body.files.find((f) => f.name === "SOUL.md")).toMatchObject({ content: "A new soul.", version: 2 });
  });

  it("refuses a missing, forged or revoked token with 401 and wakes nothing", async () => {
    const user = await readyUser();
    expect((await api("/api/container/workspace")).status).toBe(401);
    const forged = await api("/api/container/workspace", { headers: { authorization: `Bearer gw1.${user.userId}.1.${"A".repeat(43)}` } });
    expect(forged.status).toBe(401);
    expect(errorCode(await forged.json())).toBe("unauthorized");
    expect((await api("/api/container/workspace", { headers: user.auth })).status).toBe(401);
  });

  it("tells the container the workspace version on every chat, and a SOUL.md edit updates no machine", async () => {
    const user = await readyUser();
    const before = (await inspectApp(user.app))!;
    expect((await api("/api/workspace/SOUL.md", { method: "PUT", headers: user.auth, body: "Edited soul 🦊" })).status).toBe(200);
    await driveUntil(user, (s) => !s.workspace.pendingSync);
    const after = (await inspectApp(user.app))!;
    expect(after.secretsVersion).toBe(before.secretsVersion + 1);
    expect(after.machines[0]!.minSecretsVersion).toBe(before.machines[0]!.minSecretsVersion);
    expect(after.machines[0]!.state).toBe("started");

    const version = (await api("/api/container/workspace", { headers: user.gw })).headers.get("etag")!.replaceAll('"', "");
    const chat = await apiJson<{ via: string }>("/api/chat", { method: "POST", headers: { ...user.auth, "content-type": "application/json", accept: "application/json" }, body: JSON.stringify({ text: "hi" }) });
    expect(chat.body.via).toBe("container");
    const chats = (await containerRequests(user.app)).filter((r) => r.path === "/v1/chat/completions");
    expect(chats.at(-1)?.workspaceVersion).toBe(version);
  });
});

describe("write-back with If-Match", () => {
  it("keeps both on a conflict: the user's text stays current, the agent's is a version, 409 says so", async () => {
    const user = await readyUser();
    const seen = (await apiJson<{ sha256: string }>("/api/workspace/MEMORY.md", { headers: user.auth })).headers.get("etag")!;
    expect((await api("/api/workspace/MEMORY.md", { method: "PUT", headers: user.auth, body: "The user's note." })).status).toBe(200);
    const put = await apiJson("/api/container/workspace/MEMORY.md", { method: "PUT", headers: { ...user.gw, "if-match": seen }, body: "The agent's note." });
    expect(put.status).toBe(409);
    expect(errorCode(put.body)).toBe("write_conflict");
    expect(await (await api("/api/workspace/MEMORY.md", { headers: user.auth })).text()).toBe("The user's note.");
    const versions = await apiJson<{ versions: { content: string; source: string }[] }>("/api/workspace/MEMORY.md/versions", { headers: user.auth });
    expect(versions.body.versions[0]).toMatchObject({ content: "The agent's note.", source: "conflict" });

    const current = (await api("/api/workspace/MEMORY.md", { headers: user.auth })).headers.get("etag")!;
    const ok = await api("/api/container/workspace/MEMORY.md", { method: "PUT", headers: { ...user.gw, "if-match": current }, body: "Merged note." });
    expect(ok.status).toBe(200);
  });

  it("refuses a file above the cap with 413 and a message the agent can act on, storing nothing", async () => {
    const user = await readyUser();
    const res = await apiJson("/api/container/workspace/NOTES.md", { method: "PUT", headers: user.gw, body: "x".repeat(64 * 1024 + 1) });
    expect(res.status).toBe(413);
    expect((res.body as { error: { message: string } }).error.message).toMatch(/at most/);
    expect((await api("/api/workspace/NOTES.md", { headers: user.auth })).status).toBe(404);
  });
});

describe("the container's state", () => {
  const gz = (text: string) => new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  const body = async (text: string) => new Uint8Array(await new Response(gz(text)).arrayBuffer());

  it("is 404 before any save, then restores exactly what was saved, versioned, keeping the last five", async () => {
    const user = await readyUser();
    expect((await api("/api/container/state", { headers: user.gw })).status).toBe(404);
    let last = "";
    for (let i = 1; i <= 7; i++) {
      const res = await apiJson<{ version: number; sha256: string }>("/api/container/state", { method: "PUT", headers: { ...user.gw, "content-type": "application/gzip" }, body: await body(`state ${i}`) });
      expect(res.status).toBe(200);
      expect(res.body.version).toBe(i);
      last = res.body.sha256;
    }
    const got = await api("/api/container/state", { headers: user.gw });
    expect(got.status).toBe(200);
    expect(got.headers.get("etag")).toBe(`"${last}"`);
    const text = await new Response(got.body!.pipeThrough(new DecompressionStream("gzip"))).text();
    expect(text).toBe("state 7");
    expect((await api("/api/container/state", { headers: { ...user.gw, "if-none-match": `"${last}"` } })).status).toBe(304);
    const listed = await env.IMAGES.list({ prefix: statePrefix(user.userId) });
    expect(listed.objects).toHaveLength(5);
  });

  it("refuses a wrong type (415), an empty body (400), a stale If-Match (409) and more than 20 MB (413), changing nothing", async () => {
    const user = await readyUser();
    const put = (headers: Record<string, string>, payload: BodyInit) => api("/api/container/state", { method: "PUT", headers: { ...user.gw, ...headers }, body: payload });
    expect((await put({ "content-type": "application/gzip" }, await body("first"))).status).toBe(200);
    expect((await put({ "content-type": "text/plain" }, "x")).status).toBe(415);
    expect((await put({ "content-type": "application/gzip" }, new Uint8Array(0))).status).toBe(400);
    const stale = await put({ "content-type": "application/gzip", "if-match": `"${"0".repeat(64)}"` }, await body("second"));
    expect(stale.status).toBe(409);
    const huge = await put({ "content-type": "application/gzip" }, new Uint8Array(20 * 1024 * 1024 + 1));
    expect(huge.status).toBe(413);
    const got = await api("/api/container/state", { headers: user.gw });
    expect(await new Response(got.body!.pipeThrough(new DecompressionStream("gzip"))).text()).toBe("first");
    expect((await env.IMAGES.list({ prefix: statePrefix(user.userId) })).objects).toHaveLength(1);
  });
});

describe("scheduled jobs", () => {
  const putSchedule = (user: { gw: Record<string, string> }, jobs: unknown) =>
    apiJson<{ jobs: { id: string; name: string; nextRunAt: string }[]; nextWakeAt: string | null }>("/api/container/schedule", { method: "PUT", headers: { ...user.gw, "content-type": "application/json" }, body: JSON.stringify({ jobs }) });

  it("keeps the list, shows it to the user, and arms a wake a little before the earliest", async () => {
    const user = await readyUser();
    const soon = Date.now() + 10 * 60_000;
    const later = Date.now() + 3 * 3600_000;
    const res = await putSchedule(user, [{ id: "b", name: "Weekly review", nextRunAt: new Date(later).toISOString() }, { id: "a", name: "Remind me at 8", nextRunAt: soon }]);
    expect(res.status).toBe(200);
    expect(res.body.jobs.map((j) => j.id)).toEqual(["a", "b"]);
    expect(Date.parse(res.body.nextWakeAt!)).toBe(soon - WAKE_LEAD_MS);
    const mine = await apiJson<{ jobs: { name: string }[] }>("/api/schedule", { headers: user.auth });
    expect(mine.body.jobs.map((j) => j.name)).toEqual(["Remind me at 8", "Weekly review"]);
    expect((await putSchedule(user, [])).body.nextWakeAt).toBeNull();
    expect(await withFly(user, (_fly, actor) => actor.jobs.get(SCHEDULE_WAKE_JOB))).toBeNull();
  });

  it("refuses a malformed list with 400 and keeps the one it had", async () => {
    const user = await readyUser();
    await putSchedule(user, [{ id: "a", name: "Keep me", nextRunAt: Date.now() + 3600_000 }]);
    for (const bad of [[{ id: "", name: "x", nextRunAt: 1 }], [{ id: "a", name: "x", nextRunAt: "soon" }], [{ id: "a", name: "x", nextRunAt: Date.now() }, { id: "a", name: "y", nextRunAt: Date.now() }], "nope"]) {
      const res = await putSchedule(user, bad);
      expect(res.status).toBe(400);
      expect(errorCode(res.body)).toBe("invalid_schedule");
    }
    expect((await apiJson<{ jobs: { name: string }[] }>("/api/schedule", { headers: user.auth })).body.jobs.map((j) => j.name)).toEqual(["Keep me"]);
  });

  /** Runs the object's due jobs (as its alarm would) until `done()`, or gives up after `limitMs`. */
  async function alarmsUntil(user: FlyUser, done: () => Promise<boolean>, limitMs = 10_000): Promise<boolean> {
    const until = Date.now() + limitMs;
    while (!(await done())) {
      if (Date.now() > until) return false;
      await withFly(user, () => undefined);
      await runDurableObjectAlarm(user.stub);
      await sleep(20);
    }
    return true;
  }
  const startCalls = async (user: FlyUser, since: number) => (await callsSince(since, user.app)).calls.filter((c) => c.route === "POST /v1/apps/:app/machines/:id/start").length;
  const healthRequests = async (user: FlyUser) => (await containerRequests(user.app)).filter((r) => r.path === "/health").length;

  it("wakes a suspended machine through the Machines API when a job comes due, once", async () => {
    const user = await readyUser();
    const machine = (await inspectApp(user.app))!.machines[0]!;
    await control(`apps/${user.app}/machines/${machine.id}/stop`, { suspend: true });
    await driveUntil(user, (s) => s.machines[0]?.state === "suspended");
    const since = await callSeq();
    const healthBefore = await healthRequests(user);
    await putSchedule(user, [{ id: "a", name: "Remind me", nextRunAt: Date.now() + 30_000 }]);
    // The wake is due at once (the job is within the lead): the object's own alarm or this loop runs it.
    expect(await alarmsUntil(user, async () => (await startCalls(user, since)) > 0)).toBe(true);
    expect(await startCalls(user, since)).toBe(1);
    await driveUntil(user, (s) => s.machines[0]?.state === "started");
    // Not through the proxy: the Machines API started it.
    expect(await healthRequests(user)).toBe(healthBefore);
    // Woken for that due time: no second wake, and nothing armed until the schedule changes.
    expect(await withFly(user, (_fly, actor) => actor.jobs.get(SCHEDULE_WAKE_JOB))).toBeNull();
  });

  it("looks again at a machine found running, and starts it when it stopped before the job was due", async () => {
    const user = await readyUser();
    const machine = (await inspectApp(user.app))!.machines[0]!;
    await driveUntil(user, (s) => s.machines[0]?.state === "started");
    const since = await callSeq();
    await putSchedule(user, [{ id: "a", name: "Remind me", nextRunAt: Date.now() + 30_000 }]);
    await withFly(user, () => undefined);
    await runDurableObjectAlarm(user.stub);
    // Running: nothing to start, but the wake stays armed (the machine may stop before the job is due).
    expect(await startCalls(user, since)).toBe(0);
    expect(await withFly(user, (_fly, actor) => actor.jobs.get(SCHEDULE_WAKE_JOB))).not.toBeNull();
    // It stops (autostop, a host move): the next look starts it, and that was the wake for this job.
    await control(`apps/${user.app}/machines/${machine.id}/stop`, {});
    expect(await alarmsUntil(user, async () => (await startCalls(user, since)) > 0)).toBe(true);
    await driveUntil(user, (s) => s.machines[0]?.state === "started");
    expect(await withFly(user, (_fly, actor) => actor.jobs.get(SCHEDULE_WAKE_JOB))).toBeNull();
    expect(await startCalls(user, since)).toBe(1);
  });

  it("leaves a job that came due while the machine ran to OpenClaw, and arms nothing more for it", async () => {
    const user = await readyUser();
    await driveUntil(user, (s) => s.machines[0]?.state === "started");
    const since = await callSeq();
    await putSchedule(user, [{ id: "a", name: "Now", nextRunAt: Date.now() - 1_000 }]);
    await withFly(user, () => undefined);
    await runDurableObjectAlarm(user.stub);
    expect(await startCalls(user, since)).toBe(0);
    expect(await withFly(user, (_fly, actor) => actor.jobs.get(SCHEDULE_WAKE_JOB))).toBeNull();
  });

  it("wakes the lead before the job (FLY_TUNING scheduleWakeLeadMs sets it)", async () => {
    const user = await readyUser();
    const at = Date.now() + 3600_000;
    const res = await putSchedule(user, [{ id: "a", name: "Later", nextRunAt: at }]);
    expect(Date.parse(res.body.nextWakeAt!)).toBe(at - WAKE_LEAD_MS);
    expect(await withFly(user, (_fly, actor) => actor.life.schedule.leadMs)).toBe(WAKE_LEAD_MS);
    expect(await withFly(user, (_fly, actor) => new ContainerSchedule(actor.sql, Date.now, 5 * 60_000).nextWakeAt())).toBe(at - 5 * 60_000);
    expect(parseFlyTuning(JSON.stringify({ scheduleWakeLeadMs: 180_000 })).scheduleWakeLeadMs).toBe(180_000);
  });

  it("skips a job due while the user is out of budget, with a note in history, and wakes nothing", async () => {
    const user = await readyUser();
    await withFly(user, (_fly, actor) => recordUsage(actor.sql, { inputTokens: 1e9, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, images: 0 }, 0));
    const healthBefore = (await containerRequests(user.app)).filter((r) => r.path === "/health").length;
    await putSchedule(user, [{ id: "a", name: "Remind me at 8", nextRunAt: Date.now() + 1_000 }]);
    await withFly(user, () => undefined);
    await runDurableObjectAlarm(user.stub);
    expect((await containerRequests(user.app)).filter((r) => r.path === "/health").length).toBe(healthBefore);
    const history = await apiJson<{ messages: { role: string; text: string }[] }>("/api/chat/history", { headers: user.auth });
    expect(history.body.messages.at(-1)?.text).toMatch(/Remind me at 8.*skipped.*budget/);
  });
});

describe("waking ahead of need", () => {
  it("sends one GET /health through Fly's proxy when a paid user's web chat says hello, and not again at once", async () => {
    const user = await readyUser();
    const count = async () => (await containerRequests(user.app)).filter((r) => r.path === "/health").length;
    const before = await count();
    const first = await connect(user);
    expect(first.status).toBe(101);
    const until = Date.now() + 5_000;
    while ((await count()) === before && Date.now() < until) await sleep(20);
    expect(await count()).toBe(before + 1);
    const second = await connect(user);
    await sleep(100);
    expect(await count()).toBe(before + 1);
    first.socket?.close();
    second.socket?.close();
  });
});
