/**
 * Build-time check of the image (the Dockerfile's last step): generates the configuration the image
 * serves (the Worker's model gateway, Telegram through the Worker) from placeholder values of exactly
 * the secrets the Worker sets, and asks the installed OpenClaw to validate it against its schema and
 * its installed plugins. Fails when the config is invalid, when OpenClaw warns about it, or when a
 * plugin it needs is not installed: an image that would answer every chat with "unknown provider"
 * must not be pushed.
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

/**
 * Placeholder values of the secrets a provisioned app holds (src/lib/fly/secrets.ts, desiredSecrets:
 * a bot claimed, one workspace file). No AWS credential, no bot token: the container has neither.
 */
export const PLACEHOLDER_ENV: Record<string, string> = {
  GATEWAY_TOKEN: "gw1.00000000000000000000.1.check-image-placeholder-0000000000000000",
  SOULPRINT_USER_ID: "00000000000000000000",
  SOULPRINT_CALLBACK_URL: "https://soulprint.invalid",
  SOULPRINT_MODEL: "global.anthropic.claude-opus-4-6-v1",
  TELEGRAM_WEBHOOK_SECRET: "check-image-webhook-secret",
  SOUL_MD_B64: Buffer.from("check-image", "utf8").toString("base64"),
};

export function checkImage(options: {
  stateDir: string;
  entry: string;
  node?: string;
  extraEnv?: Record<string, string>;
  /** Tests only: changes the generated config before it is validated (to see the check fail). */
  alter?: (config: Record<string, unknown>) => void;
}): CheckResult {
  const dir = mkdtempSync(join(tmpdir(), "soulprint-check-"));
  try {
    const env = { ...PLACEHOLDER_ENV, ...options.extraEnv };
    const config = buildOpenClawConfig(readContract(env), readInternalPorts({}), { workspace: join(dir, "workspace"), logFile: join(dir, "openclaw.log") });
    options.alter?.(config);
    const configPath = join(dir, "openclaw.json");
    writeFileSync(configPath, JSON.stringify(config, null, 2));
    const run = spawnSync(options.node ?? process.execPath, [options.entry, "config", "validate", "--json"], {
      env: { ...process.env, ...env, OPENCLAW_STATE_DIR: options.stateDir, OPENCLAW_CONFIG_PATH: configPath, OPENCLAW_DISABLE_BONJOUR: "1", OPENCLAW_NO_AUTO_UPDATE: "1" },
      encoding: "utf8",
      timeout: 120_000,
    });
    const raw = `${run.stdout ?? ""}${run.stderr ?? ""}`;
    const problems: string[] = [];
    const parsed = validatorAnswer(run.stdout ?? "");
    if (!parsed) problems.push(`openclaw config validate gave no JSON (exit ${run.status}): ${raw.slice(0, 500)}`);
    else {
      if (parsed.valid !== true) problems.push(`invalid config: ${JSON.stringify(parsed.issues ?? parsed.errors ?? parsed).slice(0, 1000)}`);
      for (const w of parsed.warnings ?? []) problems.push(`${w.path ?? "?"}: ${w.message ?? JSON.stringify(w)}`);
    }
    return { ok: problems.length === 0, problems, raw };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

type ValidatorAnswer = { valid?: boolean; warnings?: { path?: string; message?: string }[]; issues?: unknown[]; errors?: unknown[] };

/**
 * `openclaw config validate --json`'s answer: one line when the config is valid, a pretty-printed
 * object (with `issues`) when it is not; log lines may come before either.
 */
function validatorAnswer(stdout: string): ValidatorAnswer | null {
  const text = stdout.trim();
  for (let at = text.indexOf("{"); at >= 0; at = text.indexOf("{", at + 1)) {
    if (at > 0 && text[at - 1] !== "\n") continue;
    try {
      const value = JSON.parse(text.slice(at)) as unknown;
      if (typeof value === "object" && value !== null && "valid" in value) return value as ValidatorAnswer;
    } catch {
      // not the answer yet: a log line starting with "{", or the start of a later object
    }
  }
  return null;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const here = dirname(fileURLToPath(import.meta.url));
  const home = process.env.HOME ?? "/home/node";
  const result = checkImage({
    stateDir: resolve(process.env.OPENCLAW_STATE_DIR ?? join(home, ".openclaw")),
    entry: resolve(process.env.OPENCLAW_ENTRY ?? join(here, "..", "node_modules", "openclaw", "openclaw.mjs")),
  });
  if (result.ok) {
    console.log("check-image: the gateway configuration is valid and every plugin it needs is installed");
  } else {
    for (const p of result.problems) console.error(`check-image: ${p}`);
    process.exit(1);
  }
}
