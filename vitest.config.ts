import { defineConfig } from "vitest/config";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { TEST_SECRETS } from "./test/test-secrets.ts";

export { TEST_SECRETS };

/** The agent image the Fly tests provision with (never pulled: the Fly stand-in only records it). */
export const TEST_IMAGE = "registry.fly.io/soulprint-agent-test:0.0.0-test";

export default defineConfig({
  plugins: [
    cloudflareTest(({ inject }) => ({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          ...TEST_SECRETS,
          BEDROCK_ENDPOINT: inject<string>("bedrockUrl"),
          TELEGRAM_API_ROOT: inject<string>("telegramUrl"),
          FLY_API_BASE: inject<string>("flyUrl"),
          FLY_APP_URL: inject<string>("flyAppUrlTemplate"),
          PUBLIC_URL: "http://soulprint.test",
          // wrangler.toml names no image (an operator sets the one they pushed); a test-only name.
          CLAWDBOT_IMAGE: TEST_IMAGE,
          ALLOW_EMAIL_AUTH: "false",
          FREE_DAILY_TOKENS: "200000",
          FLY_TUNING: JSON.stringify({ requestTimeoutMs: 400, retryBaseMs: 5, jobBackoffBaseMs: 10, jobBackoffCapMs: 80, syncDebounceMs: 20, statusCacheMs: 0, waitPollSeconds: 1, healthTimeoutMs: 2000, scheduleRecheckMs: 50 }),
        },
      },
    })),
  ],
  test: {
    include: ["test/**/*.test.ts"],
    exclude: ["test/e2e/**"],
    globalSetup: ["./test/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Without the optimizer every test file imports ~900 SDK modules one by one.
    deps: { optimizer: { ssr: { enabled: true, include: ["@aws-sdk/client-bedrock-runtime", "grammy"] } } },
  },
});
