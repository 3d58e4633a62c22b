/**
 * Starts the stand-ins (Bedrock, Telegram, Fly + containers) once for the whole run, on random ports,
 * and hands their URLs to the Worker's bindings (vitest.config.ts) and to tests (`inject`).
 */
import type { TestProject } from "vitest/node";

interface Handle {
  url: string;
  close(): Promise<void>;
  appUrlTemplate?: string;
}

// The provided keys are declared for tests in test/env.d.ts.

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const bedrock: Handle = await (await import("../dev/bedrock-standin.ts")).start({ port: 0 });
  const telegram: Handle = await (await import("../dev/telegram-standin.ts")).start({ port: 0 });
  const fly: Handle = await (await import("../dev/fly-standin.ts")).start({ port: 0, token: "test-fly-token" });
  project.provide("bedrockUrl", bedrock.url);
  project.provide("telegramUrl", telegram.url);
  project.provide("flyUrl", fly.url);
  project.provide("flyAppUrlTemplate", fly.appUrlTemplate!);
  return async () => {
    await Promise.all([bedrock.close(), telegram.close(), fly.close()]);
  };
}
