/** Keeping a ready app in step with the workspace: sync, the debounced job, and reconcile. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, apiJson, errorCode } from "./helpers.ts";
import { callSeq, callsSince, control, decodeB64, driveUntil, FLY_URL, flyUser, inspectApp, sleep, status, withFly, type FlyUser } from "./fly-helpers.ts";
import { botToken, claim } from "./telegram-helpers.ts";
import { TEST_SECRETS } from "./test-secrets.ts";
import { CONTAINER_SECRET_NAMES } from "../src/lib/fly/secrets.ts";
import { FlyStore } from "../src/lib/fly/fly-store.ts";

async function readyUser(): Promise<FlyUser> {
  const user = await flyUser();
  await withFly(user, (fly) => fly.provision());
  await driveUntil(user, (s) => s.state === "ready" && !s.workspace.pendingSync);
  return user;
}

describe("workspace sync", () => {
  it("sends only the changed file, unsets a deleted one, and updates no machine for workspace files", async () => {
    const user = await readyUser();
    const before = (await inspectApp(user.app))!;
    const since = await callSeq();
    await withFly(user, async (fly, actor) => {
      await actor.workspace.write("SOUL.md", "A new soul.", { source: "user", notify: false });
      actor.workspace.delete("USER.md", { source: "user" });
    });
    const result = await withFly(user, (fly) => fly.sync());
    expect(result).toEqual({ changed: ["SOUL.md", "USER.md"], machinesUpdated: 0 });

    const log = await callsSince(since, user.app);
    const secretsCalls = log.calls.filter((c) => c.route === "POST /v1/apps/:app/secrets");
    expect(secretsCalls.map((c) => c.detail)).toEqual([{ set: ["SOUL_MD_B64"], unset: ["USER_MD_B64"] }]);
    const after = (await inspectApp(user.app))!;
    expect(after.secretsVersion).toBe(before.secretsVersion + 1);
    expect(decodeB64(after.secrets.SOUL_MD_B64)).toBe("A new soul.");
    expect(after.secrets.USER_MD_B64).toBeUndefined();
    expect(after.secrets.IDENTITY_MD_B64).toBe(before.secrets.IDENTITY_MD_B64);
    expect(log.calls.filter((c) => c.route === "POST /v1/apps/:app/machines/:id")).toEqual([]);
    expect(after.machines[0]!.minSecretsVersion).toBe(before.machines[0]!.minSecretsVersion);
  });

  it("makes no Fly call at all when nothing changed", async () => {
    const user = await readyUser();
    const since = await callSeq();
    expect(await withFly(user, (fly) => fly.sync())).toEqual({ changed: [], machinesUpdated: 0 });
    expect(await withFly(user, (fly) => fly.sync())).toEqual({ changed: [], machinesUpdated: 0 });
    expect((await callsSince(since, user.app)).total).toBe(0);
  });

  it("carries emoji and any script in SOUL.md intact, into the secret and the container", async () => {
    const user = await readyUser();
    const soul = "# Soul 🦊✨\n\nΚαλημέρα · 世界 · مرحبا · 👩🏽‍🚀 — e\u0301 ok";
    await withFly(user, (_fly, actor) => actor.workspace.write("SOUL.md", soul, { source: "user", notify: false }));
    await withFly(user, (fly) => fly.sync());
    const app = (await inspectApp(user.app))!;
    expect(decodeB64(app.secrets.SOUL_MD_B64)).toBe(soul);

    // No machine update for a workspace file: the stand-in's container (which, unlike the real one,
    // cannot reach this Worker under vitest) reads the new secret at its next boot.
    const machine = (await inspectApp(user.app))!.machines[0]!;
    await control(`apps/${user.app}/machines/${machine.id}/stop`, {});
    await driveUntil(user, (s) => s.machines[0]?.state === "stopped");
    const token = await withFly(user, (fly) => fly.gatewayToken());
    const url = await withFly(user, (fly) => fly.appUrl());
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
      body: JSON.stringify({ stream: true, messages: [{ role: "user", content: "who are you?" }] }),
    });
    const text = (await res.text())
      .split("\n")
      .filter((line) => line.startsWith("data: {"))
      .map((line) => (JSON.parse(line.slice(6)) as { choices: { delta: { content?: string } }[] }).choices[0]!.delta.content ?? "")
      .join("");
    expect(text).toContain(soul);
  });

  it("neither wakes nor updates a suspended machine for a workspace edit: it stays down, its snapshot kept", async () => {
    const user = await readyUser();
    const machine = (await inspectApp(user.app))!.machines[0]!;
    await control(`apps/${user.app}/machines/${machine.id}/stop`, { suspend: true });
    await driveUntil(user, (s) => s.machines[0]?.state === "suspended");
    const since = await callSeq();
    await withFly(user, (_fly, actor) => actor.workspace.write("MEMORY.md", "Likes tea.", { source: "tool", notify: false }));
    expect(await withFly(user, (fly) => fly.sync())).toEqual({ changed: ["MEMORY.md"], machinesUpdated: 0 });
    expect(Object.keys((await callsSince(since, user.app)).byRoute)).toEqual(["POST /v1/apps/:app/secrets"]);
    await sleep(150);
    expect((await inspectApp(user.app))!.machines[0]!.state).toBe("suspended");
  });

  it("does not reboot the machine for a file the container wrote back itself", async () => {
    const user = await readyUser();
    const since = await callSeq();
    await withFly(user, (_fly, actor) => actor.workspace.write("SOUL.md", "Edited by the agent.", { source: "container", notify: false }));
    expect(await withFly(user, (fly) => fly.sync())).toEqual({ changed: ["SOUL.md"], machinesUpdated: 0 });
    expect(Object.keys((await callsSince(since, user.app)).byRoute)).toEqual(["POST /v1/apps/:app/secrets"]);
    expect(decodeB64((await inspectApp(user.app))!.secrets.SOUL_MD_B64)).toBe("Edited by the agent.");
  });

  it("schedules a debounced sync job when a file changes", async () => {
    const user = await readyUser();
    await withFly(user, async (_fly, actor) => {
      await actor.workspace.write("IDENTITY.md", "Name: Ada", { source: "user" });
      await actor.workspace.write("IDENTITY.md", "Name: Ada Lovelace", { source: "user" });
    });
    expect((await status(user)).workspace.pendingSync).toBe(true);
    const synced = await driveUntil(user, (s) => !s.workspace.pendingSync);
    expect(synced.workspace.syncedSha256).toBe(synced.workspace.sha256);
    expect(decodeB64((await inspectApp(user.app))!.secrets.IDENTITY_MD_B64)).toBe("Name: Ada Lovelace");
  });

  it("answers a sync before the app is ready with queued, and refuses one without an app", async () => {
    const user = await flyUser();
    const error = await withFly(user, (fly) => fly.sync().then(() => null, (e: { status: number }) => e.status));
    expect(error).toBe(409);
    await withFly(user, (fly) => fly.provision());
    expect(await withFly(user, (fly) => fly.sync())).toMatchObject({ queued: true, status: { state: "provisioning" } });
  });
});

describe("reconcile", () => {
  it("finds nothing to repair on a healthy app, with three reads", async () => {
    const user = await readyUser();
    const since = await callSeq();
    expect(await withFly(user, (fly) => fly.reconcile())).toEqual([]);
    const log = await callsSince(since, user.app);
    expect(log.total).toBe(3);
    expect(log.calls.every((c) => c.route.startsWith("GET "))).toBe(true);
  });

  it("repairs a wrong image, a secret removed by hand and released IPs", async () => {
    const user = await readyUser();
    await control(`apps/${user.app}/drift`, { image: "someone/else:latest", unsetSecret: "SOUL_MD_B64", releaseIps: true });
    const repaired = await withFly(user, (fly) => fly.reconcile());
    expect(repaired).toEqual(expect.arrayContaining(["ip:shared_v4", "ip:v6", "secrets"]));
    expect(repaired.some((r) => r.startsWith("machine:agent-1:") && r.includes("image"))).toBe(true);
    const app = (await inspectApp(user.app))!;
    expect(app.machines[0]!.config.image).toBe(env.CLAWDBOT_IMAGE);
    expect(app.secrets.SOUL_MD_B64).toBeDefined();
    expect(app.ips.map((i) => i.type).sort()).toEqual(["shared_v4", "v6"]);
    expect(app.machines[0]!.minSecretsVersion).toBe(app.secretsVersion);
    expect(await withFly(user, (fly) => fly.reconcile())).toEqual([]);
  });

  it("makes a vanished machine again", async () => {
    const user = await readyUser();
    await control(`apps/${user.app}/drift`, { deleteMachine: "*" });
    expect(await withFly(user, (fly) => fly.reconcile())).toEqual(["machine:agent-1:created"]);
    expect((await inspectApp(user.app))!.machines.map((m) => m.name)).toEqual(["agent-1"]);
  });

  it("builds the app again when it vanished behind our back", async () => {
    const user = await readyUser();
    await control(`apps/${user.app}`, undefined, "DELETE");
    expect(await withFly(user, (fly) => fly.reconcile())).toEqual(["app:gone"]);
    const ready = await driveUntil(user, (s) => s.state === "ready");
    expect(ready.machines).toHaveLength(1);
    expect((await inspectApp(user.app))!.machines).toHaveLength(1);
  });
});

describe("through the Worker's routes", () => {
  it("provisions with 202, reports status, and takes the container's write-back with its gateway token", async () => {
    const user = await flyUser();
    const provision = await apiJson<{ state: string }>("/api/fly/provision", { method: "POST", headers: user.auth });
    expect(provision.status).toBe(202);
    expect(provision.body.state).toBe("provisioning");
    await driveUntil(user, (s) => s.state === "ready" && !s.workspace.pendingSync);
    const current = await apiJson<{ state: string; machines: unknown[] }>("/api/fly/status", { headers: user.auth });
    expect(current.body).toMatchObject({ state: "ready", machines: [expect.objectContaining({ name: "agent-1" })] });

    const token = await withFly(user, (fly) => fly.gatewayToken());
    const put = (bearer: string) =>
      api("/api/container/workspace/SOUL.md", { method: "PUT", headers: { authorization: `Bearer ${bearer}`, "x-soulprint-user": user.userId }, body: "From the agent 🧠" });
    const wrong = await put(`${token}-not`);
    expect(wrong.status).toBe(401);
    expect(errorCode(await wrong.json())).toBe("unauthorized");
    expect((await put(token!)).status).toBe(200);
    const sync = await apiJson<{ changed: string[]; machinesUpdated: number }>("/api/fly/sync", { method: "POST", headers: user.auth });
    // The container has the file already: its secret changes for later boots, without a reboot now.
    // The write-back's own debounced sync job may have pushed it before this explicit sync did.
    expect(sync.body.machinesUpdated).toBe(0);
    expect(sync.body.changed.filter((name) => name !== "SOUL.md")).toEqual([]);
    expect(decodeB64((await inspectApp(user.app))!.secrets.SOUL_MD_B64)).toBe("From the agent 🧠");

    const deleted = await apiJson<{ state: string }>("/api/fly/app", { method: "DELETE", headers: user.auth });
    expect(deleted).toMatchObject({ status: 202, body: { state: "deleting" } });
    await driveUntil(user, (s) => s.state === "none");
    expect(await inspectApp(user.app)).toBeNull();
  });

  it("answers a free user's provision with 403 in the API's error shape", async () => {
    const user = await flyUser("free");
    const res = await apiJson("/api/fly/provision", { method: "POST", headers: user.auth });
    expect(res.status).toBe(403);
    expect(errorCode(res.body)).toBe("paid_tier_required");
  });
});

/** Every value the Worker holds as a secret: the test env's secrets and a claimed bot's token. */
function workerSecretValues(botToken: string): string[] {
  return [...Object.keys(TEST_SECRETS).map((name) => (env as unknown as Record<string, string | undefined>)[name] ?? ""), ...Object.values(TEST_SECRETS), botToken]
    .filter((value) => value !== "");
}

/** A secret's value as the container sees it: as it is, and decoded for a mounted file. */
function readable(name: string, value: string): string[] {
  return /_MD_B64$/.test(name) ? [value, decodeB64(value)] : [value];
}

function expectNoWorkerSecret(secrets: Record<string, string>, botToken: string): void {
  for (const name of Object.keys(secrets)) {
    expect(name).not.toMatch(/^AWS_|^TELEGRAM_BOT_TOKEN$|^BEDROCK_/);
    if (!/_MD_B64$/.test(name)) expect(CONTAINER_SECRET_NAMES as readonly string[]).toContain(name);
  }
  for (const [name, value] of Object.entries(secrets)) {
    for (const shown of readable(name, value)) {
      for (const secret of workerSecretValues(botToken)) expect(shown.includes(secret), `${name} carries a Worker secret`).toBe(false);
    }
  }
}

describe("no Worker secret in an app (issue 13)", () => {
  it("provisions an app whose secrets hold no Worker secret, a claimed bot's token included", async () => {
    const user = await flyUser();
    const token = botToken();
    expect((await claim(user, { botToken: token })).status).toBe(200);
    await withFly(user, (fly) => fly.provision());
    await driveUntil(user, (s) => s.state === "ready" && !s.workspace.pendingSync);
    const app = (await inspectApp(user.app))!;
    expect(Object.keys(app.secrets)).toEqual(expect.arrayContaining(["GATEWAY_TOKEN", "SOULPRINT_USER_ID", "SOULPRINT_CALLBACK_URL", "SOULPRINT_MODEL", "TELEGRAM_WEBHOOK_SECRET", "SOUL_MD_B64"]));
    expectNoWorkerSecret(app.secrets, token);
    expect(app.machines[0]!.minSecretsVersion).toBe(app.secretsVersion);
  });

  it("takes AWS_* and TELEGRAM_BOT_TOKEN from an app provisioned before, at the next reconcile, and reboots its machine without them", async () => {
    const user = await flyUser();
    const token = botToken();
    expect((await claim(user, { botToken: token })).status).toBe(200);
    await withFly(user, (fly) => fly.provision());
    await driveUntil(user, (s) => s.state === "ready" && !s.workspace.pendingSync);
    // What apps got before: the operator's AWS credentials and the bot's token. This object
    // remembers sending some of them (an object from before), not all (a store that lost track).
    const old = { AWS_ACCESS_KEY_ID: env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: env.AWS_SECRET_ACCESS_KEY, AWS_REGION: "us-east-1", BEDROCK_MODEL_ID: "global.anthropic.claude-opus-4-6-v1", TELEGRAM_BOT_TOKEN: token };
    const seeded = await fetch(`${FLY_URL}/v1/apps/${user.app}/secrets`, { method: "POST", headers: { authorization: `Bearer ${env.FLY_API_TOKEN}`, "content-type": "application/json" }, body: JSON.stringify({ values: old }) });
    expect(seeded.status).toBe(200);
    await withFly(user, (_fly, actor) => new FlyStore(actor.sql).recordSent({ AWS_ACCESS_KEY_ID: "old", TELEGRAM_BOT_TOKEN: "old" }, []));
    expect(Object.keys((await inspectApp(user.app))!.secrets)).toEqual(expect.arrayContaining(Object.keys(old)));

    expect(await withFly(user, (fly) => fly.reconcile())).toEqual(expect.arrayContaining(["secrets", "machine:agent-1:secrets"]));
    const app = (await inspectApp(user.app))!;
    for (const name of Object.keys(old)) expect(app.secrets[name], name).toBeUndefined();
    expectNoWorkerSecret(app.secrets, token);
    expect(app.secrets.TELEGRAM_WEBHOOK_SECRET).toBeDefined();
    expect(app.machines[0]!.minSecretsVersion).toBe(app.secretsVersion);
    expect(await withFly(user, (fly) => fly.reconcile())).toEqual([]);
  });
});
