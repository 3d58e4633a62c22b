/** Provisioning a paid user's Fly app through their object, against the Fly stand-in. */
import { describe, expect, it } from "vitest";
import { evictDurableObject, runDurableObjectAlarm } from "cloudflare:test";
import type { FlyStatus } from "../src/lib/fly/fly-service.ts";
import { callSeq, callsSince, control, decodeB64, driveUntil, flyUser, inspectApp, sleep, status, withFly, type FlyUser } from "./fly-helpers.ts";

const settled = (s: FlyStatus) => s.state === "ready" || s.state === "failed";

async function provisioned(user: FlyUser): Promise<FlyStatus> {
  await withFly(user, (fly) => fly.provision());
  return driveUntil(user, settled);
}

/** The stand-in holds exactly one app for the user, with one machine, a shared IPv4 and an IPv6. */
async function expectOneCompleteApp(user: FlyUser): Promise<void> {
  const app = await inspectApp(user.app);
  expect(app?.machines.map((m) => m.name)).toEqual(["agent-1"]);
  expect(app?.ips.map((i) => i.type).sort()).toEqual(["shared_v4", "v6"]);
}

describe("provisioning", () => {
  it("builds the app step by step, with autostop, IPs, secrets and a healthy container", async () => {
    const user = await flyUser();
    await withFly(user, (_fly, actor) => actor.workspace.write("SOUL.md", "# Soul\nI am the test soul.", { source: "user" }));
    const first = await withFly(user, (fly) => fly.provision());
    expect(first).toMatchObject({ state: "provisioning", step: "create_app", app: user.app });

    // The last step queues a sync that picks up anything changed meanwhile: ready, then synced.
    const ready = await driveUntil(user, (s) => settled(s) && !s.workspace.pendingSync);
    expect(ready).toMatchObject({ state: "ready", step: null, lastError: null, attempts: 0 });
    expect(ready.machines).toEqual([expect.objectContaining({ name: "agent-1", state: "started", region: "iad" })]);
    expect(ready.workspace.pendingSync).toBe(false);

    const app = await inspectApp(user.app);
    expect(app).toMatchObject({ org: "personal", network: `${user.app}-net` });
    await expectOneCompleteApp(user);
    const config = app!.machines[0]!.config as { services: { autostop: string; autostart: boolean; min_machines_running: number }[]; files: { guest_path: string; secret_name: string }[] };
    expect(config.services[0]).toMatchObject({ autostop: "suspend", autostart: true, min_machines_running: 0 });
    // The workspace travels as secrets (the cold-boot fallback) and through GET /api/container/workspace; no mounts.
    expect(config.files).toBeUndefined();
    expect(decodeB64(app!.secrets.SOUL_MD_B64)).toContain("Soul");
    expect(app!.machines[0]!.minSecretsVersion).toBe(app!.secretsVersion);

    const token = await withFly(user, (fly) => fly.gatewayToken());
    expect(token).toMatch(new RegExp(`^gw1\\.${user.userId}\\.[0-9]+\\.[A-Za-z0-9_-]{43}$`));
    expect(app!.secrets).toMatchObject({ GATEWAY_TOKEN: token, SOULPRINT_USER_ID: user.userId, SOULPRINT_CALLBACK_URL: "http://soulprint.test", SOULPRINT_MODEL: expect.any(String) });
    expect(decodeB64(app!.secrets.SOUL_MD_B64)).toBe("# Soul\nI am the test soul.");
    expect(await withFly(user, (fly) => fly.acceptsGatewayToken(token!))).toBe(true);
    expect(await withFly(user, (fly) => fly.acceptsGatewayToken(`${token}x`))).toBe(false);

    const url = await withFly(user, (fly) => fly.appUrl());
    const chat = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: "hello" }] }),
    });
    const reply = (await chat.json()) as { choices: { message: { content: string } }[] };
    expect(reply.choices[0]!.message.content).toContain("I am the test soul.");
  });

  it("refuses a free user with 403 paid_tier_required and creates nothing", async () => {
    const user = await flyUser("free");
    const error = await withFly(user, (fly) => fly.provision().then(() => null, (e: { status: number; code: string }) => ({ status: e.status, code: e.code })));
    expect(error).toEqual({ status: 403, code: "paid_tier_required" });
    expect(await inspectApp(user.app)).toBeNull();
  });

  it("makes nothing new when provisioning again, while running or when ready", async () => {
    const user = await flyUser();
    const since = await callSeq();
    await withFly(user, (fly) => fly.provision());
    const again = await withFly(user, (fly) => fly.provision());
    expect(again.state).toBe("provisioning");
    await driveUntil(user, settled);
    const afterReady = await callSeq();
    expect((await withFly(user, (fly) => fly.provision())).state).toBe("ready");
    // Only the status's look at machine states: nothing created, changed or deleted.
    expect((await callsSince(afterReady, user.app)).calls.filter((c) => !c.route.startsWith("GET "))).toEqual([]);
    const log = await callsSince(since, user.app);
    expect(log.byRoute["POST /v1/apps"]).toBe(1);
    expect(log.byRoute["POST /v1/apps/:app/machines"]).toBe(1);
    await expectOneCompleteApp(user);
  });

  // Creates fail "after": Fly did the work but the answer was lost, so the retry must adopt it.
  const stepFaults: [string, Record<string, unknown>][] = [
    ["create_app", { method: "POST", pathPattern: "/v1/apps$", status: 503, phase: "after", times: 1 }],
    ["set_secrets", { method: "POST", pathPattern: "/secrets$", status: 500, times: 5 }],
    ["allocate_ips", { method: "POST", pathPattern: "/ip_assignments$", status: 502, phase: "after", times: 1 }],
    ["create_machines", { method: "POST", pathPattern: "/machines$", status: 503, phase: "after", times: 1 }],
    ["wait_started", { method: "GET", pathPattern: "/wait$", status: 500, times: 5 }],
  ];
  for (const [step, fault] of stepFaults) {
    it(`recovers when ${step} fails once, without duplicating anything`, async () => {
      const user = await flyUser();
      await control("faults", { on: { ...fault, app: user.app } });
      const since = await callSeq();
      const ready = await provisioned(user);
      expect(ready.state).toBe("ready");
      const log = await callsSince(since, user.app);
      expect(log.calls.filter((c) => c.fault).length).toBeGreaterThan(0);
      await expectOneCompleteApp(user);
    });
  }

  it("recovers when the health check fails once", async () => {
    const user = await flyUser();
    await withFly(user, (fly) => fly.provision());
    await driveUntil(user, (s) => s.step === "health_check" || settled(s));
    await control(`apps/${user.app}/health`, { failTimes: 1 });
    const ready = await driveUntil(user, settled);
    expect(ready.state).toBe("ready");
    await expectOneCompleteApp(user);
  });

  it("fails with lastError after the last attempt, and provisioning again resumes from that step", async () => {
    const user = await flyUser();
    await control("faults", { on: { method: "POST", pathPattern: "/ip_assignments$", status: 400, times: 3, app: user.app } });
    await withFly(user, (fly) => fly.provision(), { provisionMaxAttempts: 3 });
    const failed = await driveUntil(user, settled);
    expect(failed).toMatchObject({ state: "failed", step: "allocate_ips" });
    expect(failed.lastError).toContain("400");

    const since = await callSeq();
    const resumed = await withFly(user, (fly) => fly.provision());
    expect(resumed).toMatchObject({ state: "provisioning", step: "allocate_ips" });
    expect((await driveUntil(user, settled)).state).toBe("ready");
    const log = await callsSince(since, user.app);
    expect(log.byRoute["POST /v1/apps"]).toBeUndefined();
    expect(log.byRoute["POST /v1/apps/:app/secrets"]).toBeUndefined();
    await expectOneCompleteApp(user);
  });

  it("fails clearly when another organization owns the app name, and never touches that app", async () => {
    const user = await flyUser();
    await control("foreign-apps", { name: user.app });
    const failed = await provisioned(user);
    expect(failed.state).toBe("failed");
    expect(failed.lastError).toMatch(/another organization.*FLY_APP_PREFIX/);
    const since = await callSeq();
    await withFly(user, (fly) => fly.deleteApp());
    expect((await driveUntil(user, (s) => s.state === "none")).app).toBeNull();
    expect((await callsSince(since, user.app)).byRoute["DELETE /v1/apps/:app"]).toBeUndefined();
  });

  it("resumes a step that was cut off by an eviction, adopting the machine it had created", async () => {
    const user = await flyUser();
    // The machine is created, but the answer never comes: the object is evicted while it waits.
    await control("faults", { on: { method: "POST", pathPattern: "/machines$", hang: true, phase: "after", times: 1, app: user.app } });
    await withFly(user, (fly) => fly.provision(), { requestTimeoutMs: 60_000 });
    // Wait for the step without running the job ourselves: a run of ours could be the one that hangs.
    for (let i = 0; i < 600 && (await status(user)).step !== "create_machines"; i++) await sleep(50);
    const stuck = runDurableObjectAlarm(user.stub).catch(() => false);
    for (let i = 0; i < 200 && !(await inspectApp(user.app))?.machines.length; i++) await sleep(10);
    await evictDurableObject(user.stub);
    await stuck;
    const ready = await driveUntil(user, settled);
    expect(ready.state).toBe("ready");
    await expectOneCompleteApp(user);
  });

  it("lets a delete during provisioning win: nothing is left and nothing is made afterwards", async () => {
    const user = await flyUser();
    await control("faults", { on: { method: "POST", pathPattern: "/machines$", hang: true, phase: "after", times: 1, app: user.app } });
    await withFly(user, (fly) => fly.provision(), { requestTimeoutMs: 300 });
    await driveUntil(user, (s) => s.step === "create_machines");
    const running = runDurableObjectAlarm(user.stub);
    for (let i = 0; i < 200 && !(await inspectApp(user.app))?.machines.length; i++) await sleep(10);
    const deleting = await withFly(user, (fly) => fly.deleteApp());
    expect(deleting.state).toBe("deleting");
    await running;
    const none = await driveUntil(user, (s) => s.state === "none");
    expect(none).toMatchObject({ state: "none", app: null, machines: [] });
    const seq = await callSeq();
    await sleep(100);
    await runDurableObjectAlarm(user.stub);
    expect(await inspectApp(user.app)).toBeNull();
    expect((await callsSince(seq, user.app)).total).toBe(0);
    expect((await status(user)).state).toBe("none");
  });

  it("deletes a ready app with its machines and IPs, and can provision afresh afterwards", async () => {
    const user = await flyUser();
    await provisioned(user);
    await withFly(user, (fly) => fly.deleteApp());
    expect((await driveUntil(user, (s) => s.state === "none")).url).toBeNull();
    expect(await inspectApp(user.app)).toBeNull();
    expect((await provisioned(user)).state).toBe("ready");
    await expectOneCompleteApp(user);
  });
});
