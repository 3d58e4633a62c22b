/**
 * The contract → OpenClaw configuration, without starting OpenClaw: env parsing, workspace files,
 * the generated openclaw.json (the Worker's model gateway, and the OpenAI-compatible path the tests
 * may use), the installed OpenClaw's own validator run over both, and the image's build-time check.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ContractError, readContract, readInternalPorts } from "../src/contract.ts";
import { buildOpenClawConfig, GATEWAY_PROVIDER, openClawEnv, PLACEHOLDER_BOT_TOKEN } from "../src/openclaw-config.ts";
import { collectWorkspaceFiles, fileNameOfSecret, secretNameOfFile, seedWorkspace } from "../src/workspace.ts";
import { checkImage, PLACEHOLDER_ENV } from "../src/check-image.ts";

const OPENCLAW = resolve(import.meta.dirname, "..", "node_modules", "openclaw", "openclaw.mjs");
const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

/**
 * The Worker's own desiredSecrets (src/lib/fly/secrets.ts). Loaded by a computed path: tsc here would
 * otherwise follow it into the root package, whose Web Crypto types are workerd's.
 */
const SECRETS_MODULE: string = "../../src/lib/fly/secrets.ts";
const { desiredSecrets } = (await import(SECRETS_MODULE)) as {
  desiredSecrets(input: { userId: string; callbackUrl: string; gatewayToken: string; model: string; telegramWebhookSecret: string | null; files: { name: string; content: string }[] }): Record<string, string>;
};

const GATEWAY_TOKEN = "gw1.0123456789abcdef0123.3.AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-AbCd";
const MODEL = "global.anthropic.claude-opus-4-6-v1";

/** Exactly what the Worker sets on an app with a claimed bot (src/lib/fly/secrets.ts), values made up. */
const SECRETS = desiredSecrets({
  userId: "0123456789abcdef0123",
  callbackUrl: "https://soulprint.example/",
  gatewayToken: GATEWAY_TOKEN,
  model: MODEL,
  telegramWebhookSecret: "hook-secret",
  files: [{ name: "SOUL.md", content: "I am Pixel. 🦊" }, { name: "MEMORY.md", content: "remembered" }, { name: "EMPTY.md", content: "" }],
});
/** The machine's env: those secrets, plus what Fly itself sets on every machine. */
const WORKER_ENV: Record<string, string | undefined> = { ...SECRETS, FLY_APP_NAME: "sp-0123456789abcdef0123" };

const paths = { workspace: "/home/node/.openclaw/workspace", logFile: "/home/node/.openclaw/logs/openclaw.log" };
type Obj = Record<string, any>;

test("the Worker sets nothing but the contract's secrets: no AWS credential, no bot token", () => {
  assert.deepEqual(Object.keys(SECRETS).sort(), ["GATEWAY_TOKEN", "MEMORY_MD_B64", "SOULPRINT_CALLBACK_URL", "SOULPRINT_MODEL", "SOULPRINT_USER_ID", "SOUL_MD_B64", "TELEGRAM_WEBHOOK_SECRET"]);
});

test("the contract is read from the env the Worker sets: the model through the Worker's gateway", () => {
  const c = readContract(WORKER_ENV);
  assert.equal(c.port, 8080);
  assert.equal(c.workspaceMountDir, "/workspace");
  assert.equal(c.gatewayToken, GATEWAY_TOKEN);
  assert.equal(c.userId, "0123456789abcdef0123");
  assert.equal(c.callbackUrl, "https://soulprint.example");
  assert.deepEqual(c.model, { kind: "gateway", baseUrl: "https://soulprint.example/api/container/model", modelId: MODEL });
  assert.deepEqual(c.telegram, { webhookSecret: "hook-secret", workerUrl: "https://soulprint.example" });
  assert.equal(c.publicUrl, "https://sp-0123456789abcdef0123.fly.dev");
  assert.equal(readContract({ ...WORKER_ENV, CONTAINER_PORT: "9000" }).port, 9000);
  assert.deepEqual(readInternalPorts({}), { gateway: 18789, telegram: 18790, botApi: 18791 });
  // SOULPRINT_MODEL is only a label (the Worker picks the Bedrock model); without it, a default one.
  assert.equal(readContract({ ...WORKER_ENV, SOULPRINT_MODEL: undefined }).model.modelId, "claude-opus-4-6");
  // The OpenAI-compatible path, for tests: SOULPRINT_MODEL_BASE_URL wins over the gateway.
  assert.deepEqual(readContract({ ...WORKER_ENV, SOULPRINT_MODEL_BASE_URL: "http://127.0.0.1:9/v1/", SOULPRINT_MODEL_ID: "m" }).model,
    { kind: "openai-compatible", baseUrl: "http://127.0.0.1:9/v1", modelId: "m", apiKeyEnv: null });
});

test("missing essentials are configuration errors; Telegram needs the webhook secret and the Worker", () => {
  assert.throws(() => readContract({ ...WORKER_ENV, GATEWAY_TOKEN: "" }), ContractError);
  // The gateway is the Worker's: no callback URL, no model.
  assert.throws(() => readContract({ ...WORKER_ENV, SOULPRINT_CALLBACK_URL: undefined }), /SOULPRINT_CALLBACK_URL is required/);
  assert.throws(() => readContract({ ...WORKER_ENV, CONTAINER_PORT: "http" }), ContractError);
  assert.equal(readContract({ ...WORKER_ENV, TELEGRAM_WEBHOOK_SECRET: undefined }).telegram, null);
  assert.equal(readContract({ ...WORKER_ENV, SOULPRINT_CALLBACK_URL: undefined, SOULPRINT_MODEL_BASE_URL: "http://127.0.0.1:9/v1" }).telegram, null);
});

test("workspace files come from <STEM>_MD_B64, then from mounted files without a secret", () => {
  assert.equal(fileNameOfSecret("SOUL_MD_B64"), "SOUL.md");
  assert.equal(fileNameOfSecret("MY_NOTES_MD_B64"), "MY_NOTES.md");
  assert.equal(fileNameOfSecret("AWS_REGION"), null);
  assert.equal(secretNameOfFile("USER.md"), "USER_MD_B64");
  const mount = mkdtempSync(join(tmpdir(), "mount-"));
  try {
    writeFileSync(join(mount, "SOUL.md"), "stale copy, the env wins");
    writeFileSync(join(mount, "IDENTITY.md"), "from the mount");
    writeFileSync(join(mount, "notes.txt"), "not a workspace file");
    const got = collectWorkspaceFiles({ ...WORKER_ENV, BROKEN_MD_B64: "%%%" }, mount);
    assert.equal(got.files.get("SOUL.md"), "I am Pixel. 🦊");
    assert.equal(got.files.get("MEMORY.md"), "remembered");
    assert.equal(got.files.get("IDENTITY.md"), "from the mount");
    assert.deepEqual([...got.files.keys()].sort(), ["IDENTITY.md", "MEMORY.md", "SOUL.md"]);
    assert.equal(got.sources.get("IDENTITY.md"), "mount");
    assert.equal(got.sources.get("SOUL.md"), "env");
    assert.equal(got.problems.length, 1);
    assert.deepEqual(collectWorkspaceFiles({}, join(mount, "absent")).files.size, 0);
  } finally {
    rmSync(mount, { recursive: true, force: true });
  }
});

test("seeding mirrors the Worker: writes its files, removes workspace files it no longer has, keeps the rest", () => {
  const dir = mkdtempSync(join(tmpdir(), "seed-"));
  try {
    writeFileSync(join(dir, "OLD.md"), "deleted in the Worker");
    mkdirSync(join(dir, "memory"));
    writeFileSync(join(dir, "memory", "2026-11-27.md"), "OpenClaw's daily notes");
    const result = seedWorkspace(dir, new Map([["SOUL.md", "soul"], ["USER.md", "user"]]));
    assert.deepEqual(result, { written: ["SOUL.md", "USER.md"], removed: ["OLD.md"] });
    assert.deepEqual(readdirSync(dir).sort(), ["SOUL.md", "USER.md", "memory"]);
    assert.equal(readFileSync(join(dir, "SOUL.md"), "utf8"), "soul");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the model: a custom provider on the Worker's gateway (Anthropic Messages), its key the gateway token", () => {
  const config = buildOpenClawConfig(readContract(WORKER_ENV), readInternalPorts({}), paths) as Obj;
  assert.deepEqual(Object.keys(config.models.providers), [GATEWAY_PROVIDER]);
  assert.deepEqual(config.models.providers[GATEWAY_PROVIDER], {
    baseUrl: "https://soulprint.example/api/container/model",
    api: "anthropic-messages",
    apiKey: { source: "env", provider: "default", id: "GATEWAY_TOKEN" },
    request: { allowPrivateNetwork: true },
    models: [{
      id: MODEL, name: MODEL, reasoning: false, input: ["text", "image"],
      cost: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 }, contextWindow: 200_000, maxTokens: 8_192,
    }],
  });
  assert.equal(config.models.mode, "merge");
  assert.deepEqual(config.models.catalogRefresh, { enabled: false });
  assert.equal(config.agents.defaults.model.primary, `${GATEWAY_PROVIDER}/${MODEL}`);
  // No provider plugin to install or enable (the Bedrock one is gone).
  assert.equal(config.plugins, undefined);
  // Nothing of value in the file: every secret is a SecretRef to the env.
  const text = JSON.stringify(config);
  for (const [name, value] of Object.entries(SECRETS)) {
    if (["SOULPRINT_USER_ID", "SOULPRINT_CALLBACK_URL", "SOULPRINT_MODEL"].includes(name) || name.endsWith("_MD_B64")) continue;
    assert.ok(!text.includes(value), `${name}'s value is in openclaw.json`);
  }
  const env = openClawEnv(WORKER_ENV, "/state", "/state/openclaw.json");
  assert.equal(env.GATEWAY_TOKEN, GATEWAY_TOKEN, "the SecretRefs read the env");
  for (const name of Object.keys(env)) assert.doesNotMatch(name, /^AWS_|BOT_TOKEN|BEDROCK/);
  assert.equal(env.OPENCLAW_DISABLE_BONJOUR, "1");
  assert.equal(env.OPENCLAW_NO_AUTO_UPDATE, "1");
  assert.equal(env.OPENCLAW_STATE_DIR, "/state");
  assert.equal(env.OPENCLAW_CONFIG_PATH, "/state/openclaw.json");
});

test("the OpenAI-compatible model (tests): its own provider, a key only when one is given", () => {
  const config = buildOpenClawConfig(readContract({ ...WORKER_ENV, SOULPRINT_MODEL_BASE_URL: "http://127.0.0.1:9/v1", SOULPRINT_MODEL_ID: "m" }), readInternalPorts({}), paths) as Obj;
  assert.deepEqual(Object.keys(config.models.providers), ["soulprint"]);
  assert.equal(config.models.providers.soulprint.api, "openai-completions");
  assert.equal(config.models.providers.soulprint.apiKey, "unused");
  assert.equal(config.agents.defaults.model.primary, "soulprint/m");
  const keyed = buildOpenClawConfig(readContract({ ...WORKER_ENV, SOULPRINT_MODEL_BASE_URL: "http://x/v1", SOULPRINT_MODEL_API_KEY: "k" }), readInternalPorts({}), paths) as Obj;
  assert.deepEqual(keyed.models.providers.soulprint.apiKey, { source: "env", provider: "default", id: "SOULPRINT_MODEL_API_KEY" });
});

test("the gateway: loopback, token auth from GATEWAY_TOKEN, chat completions on", () => {
  const config = buildOpenClawConfig(readContract(WORKER_ENV), { gateway: 1111, telegram: 2222, botApi: 3333 }, paths) as Obj;
  assert.deepEqual(config.gateway.auth, { mode: "token", token: { source: "env", provider: "default", id: "GATEWAY_TOKEN" } });
  assert.equal(config.gateway.bind, "loopback");
  assert.equal(config.gateway.port, 1111);
  assert.equal(config.gateway.http.endpoints.chatCompletions.enabled, true);
  assert.equal(config.agents.defaults.workspace, paths.workspace);
  assert.equal(config.agents.defaults.skipBootstrap, true);
  assert.equal(config.agents.defaults.heartbeat.every, "0m");
});

test("Telegram: webhook mode on the loopback listener, Bot API through the shim (to the Worker), a placeholder token, never polling", () => {
  const config = buildOpenClawConfig(readContract(WORKER_ENV), { gateway: 1111, telegram: 2222, botApi: 3333 }, paths) as Obj;
  const tg = config.channels.telegram;
  assert.equal(tg.enabled, true);
  assert.equal(tg.botToken, PLACEHOLDER_BOT_TOKEN, "the real token stays in the Worker");
  assert.deepEqual(tg.webhookSecret, { source: "env", provider: "default", id: "TELEGRAM_WEBHOOK_SECRET" });
  // A webhookUrl is what selects webhook mode (docs/channels/telegram/transports.md).
  assert.equal(tg.webhookUrl, "https://sp-0123456789abcdef0123.fly.dev/telegram-webhook");
  assert.equal(tg.webhookPath, "/telegram-webhook");
  assert.equal(tg.webhookHost, "127.0.0.1");
  assert.equal(tg.webhookPort, 2222);
  assert.equal(tg.apiRoot, "http://127.0.0.1:3333");
  // Issue 18: the answer streams as edits of one preview (paced by the Worker); files up to the Worker's cap.
  assert.deepEqual(tg.streaming, { mode: "partial", preview: { toolProgress: false } });
  assert.equal(tg.mediaMaxMb, 10);
  const without = buildOpenClawConfig(readContract({ ...WORKER_ENV, TELEGRAM_WEBHOOK_SECRET: "" }), readInternalPorts({}), paths) as Obj;
  assert.equal(without.channels, undefined);
});

/** Runs the installed OpenClaw's validator over a generated config. */
function validate(config: unknown, env: Record<string, string>): { valid: boolean; warnings: { path: string; message: string }[] } {
  const dir = mkdtempSync(join(tmpdir(), "validate-"));
  try {
    writeFileSync(join(dir, "openclaw.json"), JSON.stringify(config));
    const run = spawnSync(process.execPath, [OPENCLAW, "config", "validate", "--json"], {
      env: { PATH: process.env.PATH, HOME: dir, ...env, OPENCLAW_STATE_DIR: join(dir, "state"), OPENCLAW_CONFIG_PATH: join(dir, "openclaw.json"), OPENCLAW_DISABLE_BONJOUR: "1", OPENCLAW_NO_AUTO_UPDATE: "1" },
      encoding: "utf8",
      timeout: 120_000,
    });
    const line = run.stdout.trim().split("\n").filter((l) => l.startsWith("{")).at(-1);
    assert.ok(line, `no JSON from openclaw config validate: ${run.stdout}${run.stderr}`);
    return JSON.parse(line);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const installed = { skip: !existsSync(OPENCLAW) && "openclaw is not installed" };

test("OpenClaw's own validator accepts both generated configurations, with no warning", installed, () => {
  // Only what the machine has: the validator resolves the SecretRefs from this env.
  const env = Object.fromEntries(Object.entries(WORKER_ENV).filter((e): e is [string, string] => e[1] !== undefined));
  const gateway = validate(buildOpenClawConfig(readContract(WORKER_ENV), readInternalPorts({}), paths), env);
  assert.deepEqual(gateway, { ...gateway, valid: true, warnings: [] });
  const openai = readContract({ ...WORKER_ENV, SOULPRINT_MODEL_BASE_URL: "http://127.0.0.1:9/v1", SOULPRINT_MODEL_ID: "m" });
  const a = validate(buildOpenClawConfig(openai, readInternalPorts({}), paths), env);
  assert.deepEqual(a, { ...a, valid: true, warnings: [] });
});

test("the image check validates the gateway configuration the image serves, and fails on an invalid one", installed, () => {
  // The placeholders have the shape of the Worker's secrets, and nothing more.
  assert.deepEqual(Object.keys(PLACEHOLDER_ENV).sort(), Object.keys(SECRETS).filter((n) => n !== "MEMORY_MD_B64").sort());
  assert.equal(readContract(PLACEHOLDER_ENV).model.kind, "gateway");
  const state = mkdtempSync(join(tmpdir(), "check-state-"));
  try {
    const served = checkImage({ stateDir: state, entry: OPENCLAW, extraEnv: { HOME: state } });
    assert.deepEqual(served.problems, []);
    assert.equal(served.ok, true);
    // A key OpenClaw's schema does not have: invalid.
    const invalid = checkImage({ stateDir: state, entry: OPENCLAW, extraEnv: { HOME: state }, alter: (c) => {
      ((c.models as Obj).providers[GATEWAY_PROVIDER] as Obj).api = "not-an-api";
    } });
    assert.equal(invalid.ok, false);
    assert.match(invalid.problems.join("\n"), /invalid config/);
    // A plugin that is not installed (what the old Bedrock provider was): a warning, so a failure too.
    const missing = checkImage({ stateDir: state, entry: OPENCLAW, extraEnv: { HOME: state }, alter: (c) => {
      c.plugins = { entries: { "amazon-bedrock": { enabled: true } } };
    } });
    assert.equal(missing.ok, false);
    assert.match(missing.problems.join("\n"), /amazon-bedrock/);
  } finally {
    rmSync(state, { recursive: true, force: true });
  }
});

test("the entrypoint refuses to start without GATEWAY_TOKEN (exit 78, a configuration error)", () => {
  const run = spawnSync(process.execPath, [resolve(import.meta.dirname, "..", "src", "entrypoint.ts")], {
    env: { PATH: process.env.PATH, HOME: tmpdir(), SOULPRINT_CALLBACK_URL: "http://127.0.0.1:9" },
    encoding: "utf8",
    timeout: 30_000,
  });
  assert.equal(run.status, 78, run.stderr);
  assert.match(run.stderr, /GATEWAY_TOKEN is required/);
});
