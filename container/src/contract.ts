/**
 * The container contract (../shared/design/API.md, "The user's container") read from the
 * environment: what the Worker sets as Fly app secrets, plus a few knobs of this image. Pure: it
 * takes an env object, so tests can build one.
 */

/** Telegram through the Worker: the container never holds the bot's token, only the webhook secret. */
export interface TelegramContract {
  webhookSecret: string;
  /** The Worker's origin: its Bot API route makes every call with the user's bot. */
  workerUrl: string;
}

/**
 * The model the agent talks to: the Worker's model gateway (the Anthropic Messages API at
 * `$SOULPRINT_CALLBACK_URL/api/container/model`, authenticated with GATEWAY_TOKEN), which is what
 * the Worker provisions. An OpenAI-compatible endpoint (`SOULPRINT_MODEL_BASE_URL`) is for tests.
 */
export type ModelContract =
  | { kind: "gateway"; baseUrl: string; modelId: string }
  | { kind: "openai-compatible"; baseUrl: string; modelId: string; apiKeyEnv: string | null };

export interface Contract {
  /** The one public port (Fly `internal_port`). */
  port: number;
  /** Listen address of the front server; unset: every interface (Fly's proxy reaches it over 6PN). */
  host: string | undefined;
  /** Where Fly mounts the workspace secrets as files (`config.files`). */
  workspaceMountDir: string;
  gatewayToken: string;
  userId: string | null;
  callbackUrl: string | null;
  model: ModelContract;
  telegram: TelegramContract | null;
  /** Public origin of this app, used only as the (never registered) OpenClaw webhook URL. */
  publicUrl: string;
}

export class ContractError extends Error {
  override readonly name = "ContractError";
}

type Env = Record<string, string | undefined>;

const value = (env: Env, name: string): string | undefined => {
  const v = env[name]?.trim();
  return v ? v : undefined;
};

function port(env: Env, name: string, fallback: number): number {
  const raw = value(env, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new ContractError(`${name} must be a TCP port, got ${JSON.stringify(raw)}`);
  return n;
}

export function readContract(env: Env): Contract {
  const gatewayToken = value(env, "GATEWAY_TOKEN");
  if (!gatewayToken) throw new ContractError("GATEWAY_TOKEN is required: every call to /v1/* must carry it");

  const callbackUrl = value(env, "SOULPRINT_CALLBACK_URL")?.replace(/\/+$/, "") ?? null;
  const baseUrl = value(env, "SOULPRINT_MODEL_BASE_URL");
  let model: ModelContract;
  if (baseUrl) {
    model = {
      kind: "openai-compatible",
      baseUrl: baseUrl.replace(/\/+$/, ""),
      modelId: value(env, "SOULPRINT_MODEL_ID") ?? "default",
      apiKeyEnv: value(env, "SOULPRINT_MODEL_API_KEY") ? "SOULPRINT_MODEL_API_KEY" : null,
    };
  } else {
    if (!callbackUrl) throw new ContractError("SOULPRINT_CALLBACK_URL is required: the model is reached through the Worker's model gateway");
    // SOULPRINT_MODEL is a label: the Worker decides which Bedrock model answers.
    model = { kind: "gateway", baseUrl: `${callbackUrl}/api/container/model`, modelId: value(env, "SOULPRINT_MODEL") ?? "claude-opus-4-6" };
  }

  const webhookSecret = value(env, "TELEGRAM_WEBHOOK_SECRET");
  // Telegram needs the webhook secret (the Worker forwards updates with it) and the Worker's Bot API
  // route (the container answers through it); polling is never allowed.
  const telegram = webhookSecret && callbackUrl ? { webhookSecret, workerUrl: callbackUrl } : null;

  const flyApp = value(env, "FLY_APP_NAME");
  const publicUrl = (value(env, "SOULPRINT_PUBLIC_URL") ?? (flyApp ? `https://${flyApp}.fly.dev` : "https://localhost")).replace(/\/+$/, "");

  return {
    port: port(env, "CONTAINER_PORT", 8080),
    host: value(env, "CONTAINER_HOST"),
    workspaceMountDir: value(env, "CONTAINER_WORKSPACE_DIR") ?? "/workspace",
    gatewayToken,
    userId: value(env, "SOULPRINT_USER_ID") ?? null,
    callbackUrl,
    model,
    telegram,
    publicUrl,
  };
}

/** Internal (loopback) ports of the pieces behind the front server. */
export interface InternalPorts {
  gateway: number;
  telegram: number;
  botApi: number;
}

export function readInternalPorts(env: Env): InternalPorts {
  return {
    gateway: port(env, "SOULPRINT_GATEWAY_PORT", 18789),
    telegram: port(env, "SOULPRINT_TELEGRAM_PORT", 18790),
    botApi: port(env, "SOULPRINT_BOTAPI_PORT", 18791),
  };
}
