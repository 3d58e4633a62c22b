/**
 * Typed configuration from the Worker's vars and secrets (the table in README.md), timing included
 * (lib/tuning.ts). Each user's object parses it once and hands it to its services; the edge parses
 * it per use (a handful of string reads). No module-level singleton holds configuration.
 */
import { HttpError } from "./errors.ts";
import { DEFAULT_BEDROCK_RETRY, parseFlyTuning, type BedrockRetry, type ContainerTuning, type FlyTuning } from "./tuning.ts";

export interface Prices {
  inputPerMTok: number;
  cacheWritePerMTok: number;
  cacheReadPerMTok: number;
  outputPerMTok: number;
  perImage: number;
}

export interface Config {
  awsRegion: string;
  bedrockModelId: string;
  bedrockFallbackModelId: string;
  bedrockImageModelId: string;
  bedrockEndpoint: string | undefined;
  prices: Prices;
  flyApiBase: string;
  flyOrg: string;
  flyRegion: string;
  flyAppPrefix: string;
  flyAppUrlTemplate: string;
  /** The agent image (`npm run image:push` prints it); undefined until an operator sets it. */
  containerImage: string | undefined;
  containerPort: number;
  containerWorkspaceDir: string;
  flyMachineMemoryMb: number;
  flyMaxMachines: number;
  flyAutostop: "suspend" | "stop" | "off";
  /** Timing of the Fly work (FLY_TUNING), of the container route and of Bedrock's retries: lib/tuning.ts. */
  fly: FlyTuning;
  container: ContainerTuning;
  bedrockRetry: BedrockRetry;
  telegramApiRoot: string;
  publicUrl: string | undefined;
  freeDailyTokens: number;
  paidDailyTokens: number;
  allowEmailAuth: boolean;
}

export function loadConfig(env: Env): Config {
  const autostop = str(env.FLY_AUTOSTOP, "suspend");
  return {
    awsRegion: str(env.AWS_REGION, "us-east-1"),
    bedrockModelId: str(env.BEDROCK_MODEL_ID, "global.anthropic.claude-opus-4-6-v1"),
    bedrockFallbackModelId: str(env.BEDROCK_FALLBACK_MODEL_ID, "global.anthropic.claude-sonnet-4-6"),
    bedrockImageModelId: str(env.BEDROCK_IMAGE_MODEL_ID, "amazon.nova-canvas-v1:0"),
    bedrockEndpoint: optional(env.BEDROCK_ENDPOINT),
    prices: {
      inputPerMTok: num(env.PRICE_INPUT_PER_MTOK, 5),
      cacheWritePerMTok: num(env.PRICE_CACHE_WRITE_PER_MTOK, 6.25),
      cacheReadPerMTok: num(env.PRICE_CACHE_READ_PER_MTOK, 0.5),
      outputPerMTok: num(env.PRICE_OUTPUT_PER_MTOK, 25),
      perImage: num(env.PRICE_PER_IMAGE, 0.04),
    },
    flyApiBase: str(env.FLY_API_BASE, "https://api.machines.dev").replace(/\/+$/, ""),
    flyOrg: str(env.FLY_ORG, "personal"),
    flyRegion: str(env.FLY_REGION, "iad"),
    flyAppPrefix: str(env.FLY_APP_PREFIX, "sp-"),
    flyAppUrlTemplate: str(env.FLY_APP_URL, "https://{app}.fly.dev"),
    // No default: any image named here runs with the user's gateway token and workspace.
    containerImage: optional(env.CLAWDBOT_IMAGE),
    containerPort: num(env.CONTAINER_PORT, 8080),
    containerWorkspaceDir: str(env.CONTAINER_WORKSPACE_DIR, "/workspace"),
    flyMachineMemoryMb: num(env.FLY_MACHINE_MEMORY_MB, 2048),
    flyMaxMachines: Math.max(1, Math.min(3, num(env.FLY_MAX_MACHINES, 1))),
    flyAutostop: autostop === "stop" || autostop === "off" ? autostop : "suspend",
    fly: parseFlyTuning(env.FLY_TUNING),
    container: {
      wakeBudgetMs: num(env.CONTAINER_WAKE_BUDGET_MS, 20_000),
      retryBaseMs: 250,
      idleTimeoutMs: num(env.CONTAINER_IDLE_TIMEOUT_MS, 120_000),
      replyCapMs: num(env.CONTAINER_REPLY_CAP_MS, 900_000),
      cooldownMs: num(env.CONTAINER_COOLDOWN_MS, 60_000),
    },
    bedrockRetry: { ...DEFAULT_BEDROCK_RETRY },
    telegramApiRoot: str(env.TELEGRAM_API_ROOT, "https://api.telegram.org").replace(/\/+$/, ""),
    publicUrl: optional(env.PUBLIC_URL)?.replace(/\/+$/, ""),
    freeDailyTokens: num(env.FREE_DAILY_TOKENS, 200_000),
    paidDailyTokens: num(env.PAID_DAILY_TOKENS, 2_000_000),
    allowEmailAuth: env.ALLOW_EMAIL_AUTH === "true",
  };
}

/**
 * Local development is `npm run dev` (and the e2e stack): the only place ALLOW_EMAIL_AUTH is true.
 * There, and only there, a missing PUBLIC_URL may fall back to the request's own origin.
 */
export function isLocalDev(env: Env): boolean {
  return env.ALLOW_EMAIL_AUTH === "true";
}

/**
 * This Worker's public origin for webhooks and container callbacks. Outside local dev a missing
 * PUBLIC_URL fails closed: a container told to call back http://127.0.0.1:8787 (or a webhook set
 * from a spoofable Host header) would silently never reach us.
 */
export function requirePublicUrl(env: Env, localFallback: string): string {
  const configured = optional(env.PUBLIC_URL)?.replace(/\/+$/, "");
  if (configured) return configured;
  if (isLocalDev(env)) return localFallback;
  throw new HttpError(503, "public_url_missing", "The server does not know its public URL, so containers and Telegram could not call it back. An operator must set PUBLIC_URL.");
}

/** The names of the settings this deployment lacks (names only, never values). */
export function missingSecrets(env: Env): string[] {
  const missing: string[] = [];
  if (!optional(env.PUBLIC_URL) && !isLocalDev(env)) missing.push("PUBLIC_URL");
  // An external identity provider without both checks would accept tokens minted for other apps.
  if (optional(env.AUTH_JWKS_URL)) {
    if (!optional(env.AUTH_ISSUER)) missing.push("AUTH_ISSUER");
    if (!optional(env.AUTH_AUDIENCE)) missing.push("AUTH_AUDIENCE");
  }
  for (const name of ["AUTH_SECRET", "USER_ID_SALT", "ADMIN_TOKEN", "ENCRYPTION_KEY"] as const) {
    if (!optional(env[name])) missing.push(name);
  }
  const hasKeys = optional(env.AWS_ACCESS_KEY_ID) && optional(env.AWS_SECRET_ACCESS_KEY);
  if (!hasKeys && !optional(env.AWS_BEARER_TOKEN_BEDROCK)) missing.push("AWS_ACCESS_KEY_ID+AWS_SECRET_ACCESS_KEY or AWS_BEARER_TOKEN_BEDROCK");
  if (!optional(env.FLY_API_TOKEN)) missing.push("FLY_API_TOKEN");
  if (!optional(env.CLAWDBOT_IMAGE)) missing.push("CLAWDBOT_IMAGE");
  return missing;
}

/** A secret the current operation cannot work without: fails at the edge, naming it. */
export function requireSecret(env: Env, name: "AUTH_SECRET" | "USER_ID_SALT" | "ADMIN_TOKEN" | "ENCRYPTION_KEY" | "FLY_API_TOKEN"): string {
  const value = optional(env[name]);
  if (!value) throw new HttpError(503, "not_configured", `The server is missing the secret ${name}. An operator must set it with \`wrangler secret put ${name}\`.`);
  return value;
}

/** The agent image provisioning needs: fails at the edge (503, naming it) while CLAWDBOT_IMAGE is unset. */
export function requireContainerImage(env: Env): string {
  const image = optional(env.CLAWDBOT_IMAGE);
  if (!image) {
    throw new HttpError(503, "not_configured", "The server has no agent image: an operator must build and push it (npm run image, npm run image:push) and set CLAWDBOT_IMAGE in wrangler.toml.");
  }
  return image;
}

function optional(value: string | undefined): string | undefined {
  return value && value.trim() !== "" ? value.trim() : undefined;
}
function str(value: string | undefined, fallback: string): string {
  return optional(value) ?? fallback;
}
function num(value: string | undefined, fallback: number): number {
  const parsed = Number(optional(value));
  return Number.isFinite(parsed) && optional(value) !== undefined ? parsed : fallback;
}
