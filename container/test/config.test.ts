/**
 * The contract → OpenClaw configuration, without starting OpenClaw: env parsing, workspace files,
 * the generated openclaw.json (the Bedrock variant included, which cannot run offline), and the
 * installed OpenClaw's own validator run over both variants.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ContractError, readContract, readInternalPorts } from "../src/contract.ts";
import { buildOpenClawConfig, openClawEnv } from "../src/openclaw-config.ts";
import { collectWorkspaceFiles, fileNameOfSecret, secretNameOfFile, seedWorkspace } from "../src/workspace.ts";
import { checkImage, IMAGE_CHECK_ENV, PLACEHOLDER_ENV } from "../src/check-image.ts";

const OPENCLAW = resolve(import.meta.dirname, "..", "node_modules", "openclaw", "openclaw.mjs");
const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

/** What src/lib/fly/secrets.ts desiredSecrets() gives an app with a bot (values made up). */
const WORKER_ENV = {
  AWS_ACCESS_KEY_ID: "AKIAEXAMPLE",
  AWS_SECRET_ACCESS_KEY: "secret",
  AWS_REGION: "eu-central-1",
  BEDROCK_MODEL_ID: "global.anthropic.claude-opus-4-6-v1",
  GATEWAY_TOKEN: "gw-token-1",
  SOULPRINT_USER_ID: "user-42",
  SOULPRINT_CALLBACK_URL: "https://soulprint.example/",
  TELEGRAM_BOT_TOKEN: "123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
  TELEGRAM_WEBHOOK_SECRET: "hook-secret",
  SOUL_MD_B64: b64("I am Pixel. 🦊"),
  MEMORY_MD_B64: b64("remembered"),
  FLY_APP_NAME: "sp-user-42",
};

const paths = { workspace: "/home/node/.openclaw/workspace", logFile: "/home/node/.openclaw/logs/openclaw.log" };
type Obj = Record<string, any>;

test("the contract is read from the env the Worker sets", () => {
  const c = readContract(WORKER_ENV);
  assert.equal(c.port, 8080);
  assert.equal(c.workspaceMountDir, "/workspace");
  assert.equal(c.gatewayToken, "gw-token-1");
  assert.equal(c.userId, "user-42");
  assert.equal(c.callbackUrl, "https://soulprint.example");
  assert.deepEqual(c.model, { kind: "bedrock", region: "eu-central-1", modelId: "global.anthropic.claude-opus-4-6-v1" });
  assert.deepEqual(c.telegram, { botToken: WORKER_ENV.TELEGRAM_BOT_TOKEN, webhookSecret: "hook-secret" });
  assert.equal(c.publicUrl, "https://sp-user-42.fly.dev");
  assert.equal(readContract({ ...WORKER_ENV, CONTAINER_PORT: "9000" }).port, 9000);
  assert.deepEqual(readInternalPorts({}), { gateway: 18789, telegram: 18790, botApi: 18791 });
});

test("missing essentials are configuration errors; a bot without a webhook secret is not served", () => {
  assert.throws(() => readContract({ ...WORKER_ENV, GATEWAY_TOKEN: "" }), ContractError);
  assert.throws(() => readContract({ ...WORKER_ENV, BEDROCK_MODEL_ID: undefined }), ContractError);
  assert.throws(() => readContract({ ...WORKER_ENV, CONTAINER_PORT: "http" }), ContractError);
  assert.equal(readContract({ ...WORKER_ENV, TELEGRAM_WEBHOOK_SECRET: undefined }).telegram, null);
  assert.equal(readContract({ ...WORKER_ENV, TELEGRAM_BOT_TOKEN: undefined, TELEGRAM_WEBHOOK_SECRET: undefined }).telegram, null);
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

test("the Bedrock configuration: provider, credentials from the AWS chain, model, no discovery", () => {
  const config = buildOpenClawConfig(readContract(WORKER_ENV), readInternalPorts({}), paths) as Obj;
  const bedrock = config.models.providers["amazon-bedrock"];
  assert.deepEqual(bedrock, {
    baseUrl: "https://bedrock-runtime.eu-central-1.amazonaws.com",
    api: "bedrock-converse-stream",
    auth: "aws-sdk",
    region: "eu-central-1",
    models: [{
      id: "global.anthropic.claude-opus-4-6-v1", name: "global.anthropic.claude-opus-4-6-v1", reasoning: false, input: ["text"],
      cost: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 }, contextWindow: 200_000, maxTokens: 8_192,
    }],
  });
  assert.equal(config.agents.defaults.model.primary, "amazon-bedrock/global.anthropic.claude-opus-4-6-v1");
  assert.deepEqual(config.plugins.entries["amazon-bedrock"], { enabled: true, config: { discovery: { enabled: false } } });
  // AWS credentials are not written into the file: the AWS SDK reads them from the env.
  const text = JSON.stringify(config);
  for (const secret of ["AKIAEXAMPLE", "gw-token-1", "hook-secret", WORKER_ENV.TELEGRAM_BOT_TOKEN]) assert.ok(!text.includes(secret), `${secret} leaked into openclaw.json`);
  const env = openClawEnv(WORKER_ENV, "/state", "/state/openclaw.json");
  assert.equal(env.AWS_ACCESS_KEY_ID, "AKIAEXAMPLE");
  assert.equal(env.AWS_SECRET_ACCESS_KEY, "secret");
  assert.equal(env.AWS_REGION, "eu-central-1");
  assert.equal(env.OPENCLAW_DISABLE_BONJOUR, "1");
  assert.equal(env.OPENCLAW_NO_AUTO_UPDATE, "1");
  assert.equal(env.OPENCLAW_STATE_DIR, "/state");
  assert.equal(env.OPENCLAW_CONFIG_PATH, "/state/openclaw.json");
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

test("Telegram: webhook mode on the loopback listener, Bot API through the shim, never polling", () => {
  const config = buildOpenClawConfig(readContract(WORKER_ENV), { gateway: 1111, telegram: 2222, botApi: 3333 }, paths) as Obj;
  const tg = config.channels.telegram;
  assert.equal(tg.enabled, true);
  assert.deepEqual(tg.botToken, { source: "env", provider: "default", id: "TELEGRAM_BOT_TOKEN" });
  assert.deepEqual(tg.webhookSecret, { source: "env", provider: "default", id: "TELEGRAM_WEBHOOK_SECRET" });
  // A webhookUrl is what selects webhook mode (docs/channels/telegram/transports.md).
  assert.equal(tg.webhookUrl, "https://sp-user-42.fly.dev/telegram-webhook");
  assert.equal(tg.webhookPath, "/telegram-webhook");
  assert.equal(tg.webhookHost, "127.0.0.1");
  assert.equal(tg.webhookPort, 2222);
  assert.equal(tg.apiRoot, "http://127.0.0.1:3333");
  const without = buildOpenClawConfig(readContract({ ...WORKER_ENV, TELEGRAM_BOT_TOKEN: "" }), readInternalPorts({}), paths) as Obj;
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

test("OpenClaw's own validator accepts both generated configurations", { skip: !existsSync(OPENCLAW) && "openclaw is not installed" }, () => {
  const openai = readContract({ ...WORKER_ENV, SOULPRINT_MODEL_BASE_URL: "http://127.0.0.1:9/v1", SOULPRINT_MODEL_ID: "m" });
  const a = validate(buildOpenClawConfig(openai, readInternalPorts({}), paths), WORKER_ENV);
  assert.deepEqual(a, { ...a, valid: true, warnings: [] });
  // Bedrock: valid, but its provider plugin is not installed (nor in the image: see check-image.ts).
  const b = validate(buildOpenClawConfig(readContract(WORKER_ENV), readInternalPorts({}), paths), WORKER_ENV);
  assert.equal(b.valid, true);
  assert.deepEqual(b.warnings.map((w) => w.path), ["plugins.entries.amazon-bedrock"]);
  assert.match(b.warnings[0]!.message, /plugin not installed: amazon-bedrock.*@openclaw\/amazon-bedrock-provider/);
});

test("the image check passes for the model path the image serves, and fails for Bedrock without its plugin", { skip: !existsSync(OPENCLAW) && "openclaw is not installed" }, () => {
  const state = mkdtempSync(join(tmpdir(), "check-state-"));
  try {
    const served = checkImage({ stateDir: state, entry: OPENCLAW, extraEnv: { ...IMAGE_CHECK_ENV, HOME: state } });
    assert.deepEqual(served.problems, []);
    assert.equal(served.ok, true);
    assert.equal(readContract(IMAGE_CHECK_ENV).model.kind, "openai-compatible");
    const bedrock = checkImage({ stateDir: state, entry: OPENCLAW, extraEnv: { HOME: state } });
    assert.equal(bedrock.ok, false);
    assert.deepEqual(bedrock.problems.length, 1, bedrock.problems.join("\n"));
    assert.match(bedrock.problems[0]!, /amazon-bedrock/);
    assert.ok(readContract(PLACEHOLDER_ENV).model.kind === "bedrock");
  } finally {
    rmSync(state, { recursive: true, force: true });
  }
});

test("the entrypoint refuses to start without GATEWAY_TOKEN (exit 78, a configuration error)", () => {
  const run = spawnSync(process.execPath, [resolve(import.meta.dirname, "..", "src", "entrypoint.ts")], {
    env: { PATH: process.env.PATH, HOME: tmpdir(), BEDROCK_MODEL_ID: "m" },
    encoding: "utf8",
    timeout: 30_000,
  });
  assert.equal(run.status, 78, run.stderr);
  assert.match(run.stderr, /GATEWAY_TOKEN is required/);
});
