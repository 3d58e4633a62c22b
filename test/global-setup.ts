/**
 * Starts the stand-ins (Bedrock, Telegram, Fly + containers) once for the whole run, on random ports,
 * and hands their URLs to the Worker's bindings (vitest.config.ts) and to tests (`inject`).
 */
import type { TestProject } from "vitest/node";
import { existsSync } from "node:fs";

interface Handle {
  url: string;
  close(): Promise<void>;
  appUrlTemplate?: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    bedrockUrl: string;
    telegramUrl: string;
    flyUrl: string;
    flyAppUrlTemplate: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const bedrock: Handle = await (await import("../dev/bedrock-standin.ts")).start({ port: 0 });
  const telegram: Handle = await (await import("../dev/telegram-standin.ts")).start({ port: 0 });
  const flyPath = new URL("../dev/fly-standin.ts", import.meta.url);
  const fly: Handle | null = existsSync(flyPath) ? await (await import(flyPath.href)).start({ port: 0, token: "test-fly-token" }) : null;
  project.provide("bedrockUrl", bedrock.url);
  project.provide("telegramUrl", telegram.url);
  project.provide("flyUrl", fly?.url ?? "http://127.0.0.1:9");
  project.provide("flyAppUrlTemplate", fly?.appUrlTemplate ?? "http://127.0.0.1:9/_apps/{app}");
  return async () => {
    await Promise.all([bedrock.close(), telegram.close(), fly?.close()]);
  };
}
