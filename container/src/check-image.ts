/**
 * Build-time check of the image (the Dockerfile's last step): generates the configuration the image
 * serves with placeholder secrets and asks the installed OpenClaw to validate it against its schema
 * and its installed plugins. Fails when the config is invalid or when any plugin it needs is not
 * installed: an image that would answer every chat with "unknown provider" must not be pushed.
 *
 * The image serves the OpenAI-compatible model path (IMAGE_CHECK_ENV): the Bedrock provider plugin
 * cannot be had from the registries this project builds with, and issue 13 replaces the Bedrock
 * path with the Worker's model gateway. The Bedrock variant (PLACEHOLDER_ENV) fails this check.
 *
 * Run: `node src/check-image.ts` (exit 0: fine; 1: a problem, printed).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { readContract, readInternalPorts } from "./contract.ts";
import { buildOpenClawConfig } from "./openclaw-config.ts";

export interface CheckResult {
  ok: boolean;
  problems: string[];
  raw: string;
}

/** Placeholder env: the shape of what the Worker sets, no real secret. */
export const PLACEHOLDER_ENV: Record<string, string> = {
  GATEWAY_TOKEN: "check-image-token",
  AWS_ACCESS_KEY_ID: "AKIDEXAMPLEEXAMPLE00",
  AWS_SECRET_ACCESS_KEY: "check-image-secret",
  AWS_REGION: "us-east-1",
  BEDROCK_MODEL_ID: "global.anthropic.claude-opus-4-6-v1",
  TELEGRAM_BOT_TOKEN: "123456:check-image-bot-token-000000000000",
  TELEGRAM_WEBHOOK_SECRET: "check-image-webhook-secret",
  SOULPRINT_USER_ID: "check-image",
  SOULPRINT_CALLBACK_URL: "https://example.invalid",
};

/** What the image is checked with: the model path it can serve without extra plugins. */
export const IMAGE_CHECK_ENV: Record<string, string> = {
  ...PLACEHOLDER_ENV,
  SOULPRINT_MODEL_BASE_URL: "http://127.0.0.1:9/v1",
  SOULPRINT_MODEL_ID: "check-image-model",
};

export function checkImage(options: { stateDir: string; entry: string; node?: string; extraEnv?: Record<string, string> }): CheckResult {
  const dir = mkdtempSync(join(tmpdir(), "soulprint-check-"));
  try {
    const env = { ...PLACEHOLDER_ENV, ...options.extraEnv };
    const config = buildOpenClawConfig(readContract(env), readInternalPorts({}), { workspace: join(dir, "workspace"), logFile: join(dir, "openclaw.log") });
    const configPath = join(dir, "openclaw.json");
    writeFileSync(configPath, JSON.stringify(config, null, 2));
    const run = spawnSync(options.node ?? process.execPath, [options.entry, "config", "validate", "--json"], {
      env: { ...process.env, ...env, OPENCLAW_STATE_DIR: options.stateDir, OPENCLAW_CONFIG_PATH: configPath, OPENCLAW_DISABLE_BONJOUR: "1", OPENCLAW_NO_AUTO_UPDATE: "1" },
      encoding: "utf8",
      timeout: 120_000,
    });
    const raw = `${run.stdout ?? ""}${run.stderr ?? ""}`;
    const problems: string[] = [];
    let parsed: { valid?: boolean; warnings?: { path?: string; message?: string }[]; errors?: unknown[] } | null = null;
    try {
      parsed = JSON.parse((run.stdout ?? "").trim().split("\n").filter((l) => l.startsWith("{")).at(-1) ?? "null");
    } catch {
      parsed = null;
    }
    if (!parsed) problems.push(`openclaw config validate gave no JSON (exit ${run.status}): ${raw.slice(0, 500)}`);
    else {
      if (parsed.valid !== true) problems.push(`invalid config: ${JSON.stringify(parsed.errors ?? parsed).slice(0, 1000)}`);
      for (const w of parsed.warnings ?? []) problems.push(`${w.path ?? "?"}: ${w.message ?? JSON.stringify(w)}`);
    }
    return { ok: problems.length === 0, problems, raw };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const here = dirname(fileURLToPath(import.meta.url));
  const home = process.env.HOME ?? "/home/node";
  const result = checkImage({
    stateDir: resolve(process.env.OPENCLAW_STATE_DIR ?? join(home, ".openclaw")),
    entry: resolve(process.env.OPENCLAW_ENTRY ?? join(here, "..", "node_modules", "openclaw", "openclaw.mjs")),
    extraEnv: IMAGE_CHECK_ENV,
  });
  if (result.ok) {
    console.log("check-image: the configuration is valid and every plugin it needs is installed");
  } else {
    for (const p of result.problems) console.error(`check-image: ${p}`);
    process.exit(1);
  }
}
