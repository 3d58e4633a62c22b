/** The pure parts of the Fly work, and the client against the Fly stand-in. */
import { describe, expect, it } from "vitest";
import { FlyApiError, FlyClient, FlyUnreachableError, authorizationHeader, parseRetryAfter, retryDelay } from "../src/lib/fly/fly-client.ts";
import { buildMachineConfig, configDrift, effectiveAutostop, machineNames } from "../src/lib/fly/machine-config.ts";
import { carriedFiles, changedFileNames, CONTAINER_SECRET_NAMES, desiredSecrets, diffSecrets, fileSecretName, fileSecretValue, isWorkspaceOnly, secretsPayload } from "../src/lib/fly/secrets.ts";
import { missingIps, nextStep } from "../src/lib/fly/provisioner.ts";
import { FLY_PRICES, monthlyCost } from "../src/lib/fly/fly-prices.ts";
import { callSeq, callsSince, control, decodeB64, FLY_URL } from "./fly-helpers.ts";

const base = { image: "img:1", port: 8080, memoryMb: 2048, autostop: "suspend" as const, userId: "u1" };

describe("machine config", () => {
  it("autostops by suspending, autostarts, keeps no machine running and checks /health", () => {
    const config = buildMachineConfig(base);
    const service = config.services[0]!;
    expect(service).toMatchObject({ internal_port: 8080, autostop: "suspend", autostart: true, min_machines_running: 0 });
    expect(service.ports).toEqual([
      { port: 80, handlers: ["http"], force_https: true },
      { port: 443, handlers: ["tls", "http"] },
    ]);
    expect(service.concurrency.type).toBe("requests");
    expect(service.checks?.[0]).toMatchObject({ type: "http", path: "/health", port: 8080 });
    expect(config.guest).toEqual({ cpu_kind: "shared", cpus: 1, memory_mb: 2048 });
    expect(config.restart.policy).toBe("on-failure");
  });

  it("does not depend on the workspace, so a new or deleted file never changes it (no reboot)", () => {
    expect(buildMachineConfig(base).files).toBeUndefined();
  });

  it("falls back to stop above 2 GB, where Fly cannot suspend", () => {
    expect(effectiveAutostop("suspend", 2048)).toBe("suspend");
    expect(effectiveAutostop("suspend", 4096)).toBe("stop");
    expect(buildMachineConfig({ ...base, memoryMb: 4096 }).guest).toEqual({ cpu_kind: "shared", cpus: 2, memory_mb: 4096 });
  });

  it("sees drift in what we set, not in fields Fly adds", () => {
    const desired = buildMachineConfig(base);
    const withDefaults = JSON.parse(JSON.stringify(desired));
    withDefaults.init = {};
    withDefaults.services[0].ports[1].force_https = false;
    withDefaults.services[0].force_instance_key = null;
    expect(configDrift(withDefaults, desired)).toEqual([]);
    expect(configDrift({ ...withDefaults, image: "img:2" }, desired)).toEqual(["image"]);
    expect(configDrift({ ...withDefaults, restart: { policy: "no" } }, desired)).toEqual(["restart"]);
  });

  it("names machines agent-1, agent-2, ...", () => {
    expect(machineNames(3)).toEqual(["agent-1", "agent-2", "agent-3"]);
  });
});

describe("secrets", () => {
  it("encodes files as base64 of their UTF-8 bytes, emoji included", () => {
    const text = "Soul 🦊 — Καλημέρα, 世界 👩🏽‍🚀";
    expect(fileSecretName("SOUL.md")).toBe("SOUL_MD_B64");
    expect(decodeB64(fileSecretValue(text))).toBe(text);
  });

  it("wants the contract's secrets and nothing of the Worker's: the webhook secret only when claimed, no bot token, no AWS, no empty files", () => {
    const input = { userId: "u1", callbackUrl: "https://w", gatewayToken: "gt", model: "m", telegramWebhookSecret: null, files: [{ name: "SOUL.md", content: "hi" }, { name: "MEMORY.md", content: "" }] };
    expect(Object.keys(desiredSecrets(input)).sort()).toEqual(["GATEWAY_TOKEN", "SOULPRINT_CALLBACK_URL", "SOULPRINT_MODEL", "SOULPRINT_USER_ID", "SOUL_MD_B64"]);
    const withBot = desiredSecrets({ ...input, telegramWebhookSecret: "s" });
    expect(withBot.TELEGRAM_WEBHOOK_SECRET).toBe("s");
    expect(Object.keys(withBot).filter((name) => !/_MD_B64$/.test(name)).sort()).toEqual([...CONTAINER_SECRET_NAMES].sort());
    expect(carriedFiles(input.files).map((f) => f.name)).toEqual(["SOUL.md"]);
  });

  it("sends only what changed and unsets what is no longer wanted", () => {
    const diff = diffSecrets({ A: "1", SOUL_MD_B64: "new" }, { A: "d1", SOUL_MD_B64: "d2" }, { A: "d1", SOUL_MD_B64: "old", USER_MD_B64: "d3" });
    expect(diff).toEqual({ set: { SOUL_MD_B64: "new" }, unset: ["USER_MD_B64"] });
    expect(secretsPayload(diff)).toEqual({ SOUL_MD_B64: "new", USER_MD_B64: null });
    expect(changedFileNames(diff)).toEqual(["SOUL.md", "USER.md"]);
    expect(diffSecrets({ A: "1" }, { A: "d1" }, { A: "d1" })).toEqual({ set: {}, unset: [] });
  });

  it("recognises a diff of workspace files alone, whoever wrote them", () => {
    expect(isWorkspaceOnly({ set: { MEMORY_MD_B64: "x" }, unset: [] })).toBe(true);
    expect(isWorkspaceOnly({ set: { SOUL_MD_B64: "x" }, unset: ["USER_MD_B64"] })).toBe(true);
    expect(isWorkspaceOnly({ set: { GATEWAY_TOKEN: "x", SOUL_MD_B64: "y" }, unset: [] })).toBe(false);
    expect(isWorkspaceOnly({ set: {}, unset: [] })).toBe(false);
  });
});

describe("provisioning decisions", () => {
  it("goes through the six steps in order", () => {
    expect(nextStep("create_app")).toBe("set_secrets");
    expect(nextStep("create_machines")).toBe("wait_started");
    expect(nextStep("health_check")).toBeNull();
  });

  it("wants a shared IPv4 and a public IPv6; a private one does not count", () => {
    expect(missingIps([])).toEqual(["shared_v4", "v6"]);
    expect(missingIps([{ ip: "66.241.124.1" }, { ip: "fdaa:0:1::3" }])).toEqual(["v6"]);
    expect(missingIps([{ ip: "66.241.124.1" }, { ip: "2a09:8280:1::1" }])).toEqual([]);
  });
});

describe("prices", () => {
  it("makes an idle user cost only storage, far below an always-on one", () => {
    const idle = monthlyCost({ machines: 1, memoryMb: 2048, cpus: 1, startedHours: 0 });
    const always = monthlyCost({ machines: 1, memoryMb: 2048, cpus: 1, startedHours: 730 });
    expect(idle.compute).toBe(0);
    expect(idle.total).toBeCloseTo(FLY_PRICES.rootfsGb * FLY_PRICES.rootfsPerGbMonth, 5);
    expect(always.total).toBeGreaterThan(10);
    expect(always.total).toBeLessThan(12);
  });
});

describe("Fly client", () => {
  const client = (over: Partial<ConstructorParameters<typeof FlyClient>[0]> = {}) =>
    new FlyClient({ baseUrl: FLY_URL, token: "test-fly-token", retryBaseMs: 5, retryCapMs: 20, timeoutMs: 300, ...over });
  const app = () => `sp-client-${crypto.randomUUID().slice(0, 8)}`;

  it("sends macaroon tokens as FlyV1 and others as Bearer", () => {
    expect(authorizationHeader("fm2_abc")).toBe("FlyV1 fm2_abc");
    expect(authorizationHeader("plain")).toBe("Bearer plain");
  });

  it("honours Retry-After as a floor under the jittered backoff", () => {
    expect(parseRetryAfter("2")).toBe(2000);
    expect(parseRetryAfter(new Date(Date.now() + 3000).toUTCString())).toBeGreaterThan(1000);
    expect(retryDelay(0, 100, 1000, 1500, () => 0)).toBe(1500);
    expect(retryDelay(3, 100, 1000, null, () => 1)).toBe(800);
  });

  it("answers 401 without the right token, with status and code", async () => {
    const error = await client({ token: "wrong", maxRetries: 0 }).getApp("sp-x").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FlyApiError);
    expect((error as FlyApiError).status).toBe(401);
  });

  it("retries 429 after Retry-After and a 5xx on reads, but not a create that may have happened", async () => {
    const name = app();
    const c = client();
    await c.createApp({ name, org: "personal" });
    await control("faults", { on: { method: "GET", pathPattern: `/apps/${name}$`, status: 429, retryAfterS: 0, times: 2, app: name } });
    const since = await callSeq();
    expect((await c.getApp(name))?.name).toBe(name);
    expect((await callsSince(since, name)).total).toBe(3);

    await control("faults", { on: { method: "POST", pathPattern: "/machines$", status: 503, phase: "after", times: 1, app: name } });
    const config = buildMachineConfig(base);
    const error = await c.createMachine(name, { name: "agent-1", region: "iad", config, skip_launch: true }).catch((e: unknown) => e);
    expect((error as FlyApiError).status).toBe(503);
    expect(await c.listMachines(name)).toHaveLength(1); // it did happen: the provisioner must look before creating again
    await c.deleteApp(name);
  });

  it("times out a hanging request and retries it when it is safe", async () => {
    const name = app();
    const c = client();
    await c.createApp({ name, org: "personal" });
    await control("faults", { on: { method: "GET", pathPattern: "/ip_assignments$", hang: true, times: 1, app: name } });
    expect(await c.listIps(name)).toEqual([]);
    await control("faults", { on: { method: "GET", pathPattern: "/ip_assignments$", hang: true, times: 9, app: name } });
    const error = await client({ maxRetries: 1 }).listIps(name).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FlyUnreachableError);
    expect((error as FlyUnreachableError).timedOut).toBe(true);
    await control(`faults?app=${name}`, undefined, "DELETE");
    await c.deleteApp(name);
  });

  it("loops on 408 while waiting, until the deadline", async () => {
    const name = app();
    const c = client();
    await c.createApp({ name, org: "personal" });
    await c.setSecrets(name, { A: "1" });
    const m = await c.createMachine(name, { name: "agent-1", region: "iad", config: buildMachineConfig(base), skip_launch: true });
    const error = await c.waitMachine(name, m.id, "started", { deadlineMs: 1500, pollSeconds: 1 }).catch((e: unknown) => e);
    expect((error as FlyApiError).status).toBe(408);
    const log = await callsSince(0, name);
    expect(log.byRoute["GET /v1/apps/:app/machines/:id/wait"]).toBeGreaterThanOrEqual(2);
    await c.startMachine(name, m.id);
    await c.waitMachine(name, m.id, "started", { deadlineMs: 5000 });
    expect((await c.getMachine(name, m.id))?.state).toBe("started");
    await c.deleteApp(name);
  });
});
