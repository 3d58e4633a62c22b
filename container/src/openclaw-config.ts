/**
 * The contract turned into OpenClaw's `openclaw.json` (openclaw 2026.9.6; every key checked against
 * `openclaw config schema` and the package docs). Pure, so it is covered by unit tests. Secrets stay
 * out of the file: they are SecretRefs to the env (`{source: "env", provider: "default", id}`),
 * resolved by OpenClaw at start. The one secret the container holds is GATEWAY_TOKEN: the model and
 * Telegram are both reached through the Worker with it.
 */
import type { Contract, InternalPorts } from "./contract.ts";

export interface ConfigPaths {
  /** OpenClaw's agent workspace (AGENTS.md, SOUL.md, USER.md, IDENTITY.md, MEMORY.md, ...). */
  workspace: string;
  /** OpenClaw's own log file. */
  logFile: string;
}

/** Where OpenClaw's Telegram listener serves the webhook (also the public path of the front server). */
export const TELEGRAM_WEBHOOK_PATH = "/telegram-webhook";

/** The provider ids the agent's model lives under. */
export const GATEWAY_PROVIDER = "soulprint-gateway";
export const OPENAI_COMPAT_PROVIDER = "soulprint";
/**
 * OpenClaw's Telegram channel wants a bot token; the real one stays in the Worker. The Bot API shim
 * ignores this placeholder and makes every call through the Worker with the gateway token.
 */
export const PLACEHOLDER_BOT_TOKEN = "0:the-worker-holds-this-bots-token";

/** The Worker's file route cap (MAX_CONTAINER_FILE_BYTES in src/lib/telegram/container-bot-file.ts), in MiB. */
export const TELEGRAM_MEDIA_MAX_MB = 10;

const envRef = (id: string) => ({ source: "env", provider: "default", id });

/** Sizes for a model OpenClaw may not know (explicit entries bypass Bedrock discovery). */
export interface ModelLimits {
  contextWindow: number;
  maxTokens: number;
}

export const DEFAULT_LIMITS: ModelLimits = { contextWindow: 200_000, maxTokens: 8_192 };

export function modelRef(contract: Contract): string {
  return contract.model.kind === "gateway" ? `${GATEWAY_PROVIDER}/${contract.model.modelId}` : `${OPENAI_COMPAT_PROVIDER}/${contract.model.modelId}`;
}

function providers(contract: Contract, limits: ModelLimits): Record<string, unknown> {
  const model = contract.model;
  const entry = {
    id: model.modelId,
    name: model.modelId,
    reasoning: false,
    input: model.kind === "gateway" ? ["text", "image"] : ["text"],
    cost: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 },
    contextWindow: limits.contextWindow,
    maxTokens: limits.maxTokens,
  };
  if (model.kind === "gateway") {
    return {
      [GATEWAY_PROVIDER]: {
        // The Worker's model gateway speaks Anthropic's Messages API (the client appends /v1/messages)
        // and answers with Bedrock, budgeted and recorded for this user; its key is the gateway token.
        baseUrl: model.baseUrl,
        api: "anthropic-messages",
        apiKey: envRef("GATEWAY_TOKEN"),
        // In local dev and tests the Worker is on loopback.
        request: { allowPrivateNetwork: true },
        models: [entry],
      },
    };
  }
  return {
    [OPENAI_COMPAT_PROVIDER]: {
      baseUrl: model.baseUrl,
      api: "openai-completions",
      // An OpenAI-compatible endpoint wants some key; a local one accepts any.
      apiKey: model.apiKeyEnv ? envRef(model.apiKeyEnv) : "unused",
      // Loopback / private endpoints (tests, an in-VPC proxy) pass the SSRF guard.
      request: { allowPrivateNetwork: true },
      models: [entry],
    },
  };
}

export function buildOpenClawConfig(contract: Contract, ports: InternalPorts, paths: ConfigPaths, limits: ModelLimits = DEFAULT_LIMITS): Record<string, unknown> {
  const config: Record<string, unknown> = {
    gateway: {
      mode: "local",
      // Only the front server is public; OpenClaw listens on loopback.
      bind: "loopback",
      port: ports.gateway,
      auth: { mode: "token", token: envRef("GATEWAY_TOKEN") },
      http: { endpoints: { chatCompletions: { enabled: true } } },
      // Not reachable through the front server anyway; no reason to build and serve it.
      controlUi: { enabled: false },
    },
    agents: {
      defaults: {
        workspace: paths.workspace,
        model: { primary: modelRef(contract) },
        // The workspace files come from the Worker; OpenClaw must not add its templates (they
        // would be written back as if the agent had made them).
        skipBootstrap: true,
        // No unsolicited paid model turns every 30 minutes while the machine is awake.
        heartbeat: { every: "0m" },
      },
    },
    models: {
      mode: "merge",
      providers: providers(contract, limits),
      catalogRefresh: { enabled: false },
    },
    update: { checkOnStart: false },
    discovery: { mdns: { mode: "off" } },
    logging: { file: paths.logFile },
  };

  if (contract.telegram) {
    config.channels = {
      telegram: {
        enabled: true,
        botToken: PLACEHOLDER_BOT_TOKEN,
        // Webhook mode (a webhookUrl + webhookSecret), never long polling. The URL is what OpenClaw
        // would register; the Bot API shim swallows that call: the Worker owns the webhook.
        webhookUrl: `${contract.publicUrl}${TELEGRAM_WEBHOOK_PATH}`,
        webhookSecret: envRef("TELEGRAM_WEBHOOK_SECRET"),
        webhookPath: TELEGRAM_WEBHOOK_PATH,
        webhookHost: "127.0.0.1",
        webhookPort: ports.telegram,
        apiRoot: `http://127.0.0.1:${ports.botApi}`,
        // The Worker forwards only its owner's private chat (strangers never reach the container)
        // and the webhook secret guards the door, so the owner needs no pairing here.
        dmPolicy: "open",
        allowFrom: ["*"],
        joinIntro: false,
        // The answer streams into one preview message (sendMessage, then editMessageText about once
        // a second), finalised in place: the direct route's Telegram streaming, through the Worker's
        // Bot API route, which paces those edits per chat and honours 429s (issue 18). OpenClaw's
        // default ("progress") shows a status draft and the answer only at the end. Tool lines stay
        // out of the preview, so what streams is the answer's own text, as on the direct route.
        streaming: { mode: "partial", preview: { toolProgress: false } },
        // Photos and files the person sends are downloaded through the Worker, which takes at most
        // this much (container-bot-file.ts); OpenClaw skips a bigger one before asking.
        mediaMaxMb: TELEGRAM_MEDIA_MAX_MB,
      },
    };
  }
  return config;
}

/** The child's environment: the contract's secrets stay in env, where the SecretRefs read them. */
export function openClawEnv(base: Record<string, string | undefined>, stateDir: string, configPath: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined) env[k] = v;
  Object.assign(env, {
    OPENCLAW_STATE_DIR: stateDir,
    OPENCLAW_CONFIG_PATH: configPath,
    OPENCLAW_DISABLE_BONJOUR: "1",
    OPENCLAW_NO_AUTO_UPDATE: "1",
    // docs/gateway/embedding.md: the supervisor keeps the PID; no login-shell snapshot.
    OPENCLAW_NO_RESPAWN: "1",
    OPENCLAW_EXEC_SHELL_SNAPSHOT: "0",
  });
  return env;
}
