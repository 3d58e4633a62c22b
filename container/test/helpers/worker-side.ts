/**
 * The Worker's side of a container test with the real OpenClaw, as test/openclaw.test.ts and
 * test-image/run.test.ts both need it: the model stand-in answering as a scripted agent, the
 * Telegram stand-in with the Worker's own webhook registered (the Worker owns the bot's webhook),
 * and the callback stand-in on one origin (SOULPRINT_CALLBACK_URL) passing the model gateway to the
 * model stand-in and the Bot API route to Telegram with the bot's token the container never has.
 *
 * The agent's script: a turn saying `REMEMBER: x` makes it write MEMORY.md (`memory` plus `- x`)
 * with its write tool, and once the tool has run it says `noted`; "telegram-ping" is answered with
 * "Hello Telegram, Pixel here."; anything else with "Hello from the model stand-in.".
 */
import assert from "node:assert/strict";
import { start as startTelegram } from "../../../dev/telegram-standin.ts";
import { startCallbackStandin, type CallbackStandin } from "./callback-standin.ts";
import { currentTurn, hasToolResult, startModelStandin, textOf, type ModelStandin } from "./model-standin.ts";

export type TelegramStandin = Awaited<ReturnType<typeof startTelegram>>;

export interface WorkerSideOptions {
  /** The container's GATEWAY_TOKEN. */
  gatewayToken: string;
  /** The bot's real token: only the Worker (the callback stand-in) holds it. */
  botToken: string;
  /** The Worker's webhook URL and secret, registered at Telegram as the Worker does. */
  webhook: { url: string; secret: string };
  /** The MEMORY.md the container starts with. */
  memory: string;
  /** What the agent says after its write tool ran. */
  noted: string;
}

export interface WorkerSide {
  model: ModelStandin;
  telegram: TelegramStandin;
  callback: CallbackStandin;
}

export async function startWorkerSide(options: WorkerSideOptions): Promise<WorkerSide> {
  const started: { close(): Promise<void> }[] = [];
  try {
    const model = await startModelStandin();
    started.push(model);
    model.reply = (request) => {
      const turn = currentTurn(request.body);
      if (hasToolResult(turn)) return options.noted;
      const said = turn.filter((m) => m.role === "user").map(textOf).join("\n");
      const remember = /REMEMBER: ([^\n]+)/.exec(said);
      if (remember) return { tool: "write", arguments: { path: "MEMORY.md", content: `${options.memory}- ${remember[1]}\n` } };
      if (said.includes("telegram-ping")) return "Hello Telegram, Pixel here.";
      return "Hello from the model stand-in.";
    };
    const telegram = await startTelegram({ port: 0 });
    started.push(telegram);
    const callback = await startCallbackStandin({ gatewayToken: options.gatewayToken, gateway: { url: model.url }, telegram: { url: telegram.url, botToken: options.botToken } });
    started.push(callback);
    const set = await fetch(`${telegram.url}/bot${options.botToken}/setWebhook`, {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ url: options.webhook.url, secret_token: options.webhook.secret }),
    });
    assert.equal(set.status, 200);
    return { model, telegram, callback };
  } catch (error) {
    // A half-started side would keep the test process alive: close what did start.
    await Promise.allSettled(started.map((s) => s.close()));
    throw error;
  }
}
