/**
 * Figures for issue 15: the size of OpenClaw's state archive after a day-like session, and how long
 * a new machine takes to restore it. Real OpenClaw, the model stand-in answering ~600-character
 * replies, a stand-in of the Worker's container routes. Not a test (minutes long):
 *   cd container && PATH="$PWD/node_modules/.bin:$PATH" node bench/state-size.ts [turns=40]
 */
import { gunzipSync } from "node:zlib";
import { currentTurn, startModelStandin, textOf } from "../test/helpers/model-standin.ts";
import { startContainer } from "../test/helpers/run-container.ts";
import { startWorkerStandin } from "../test/helpers/worker-standin.ts";

const turns = Number(process.argv[2] ?? 40);
const USER_ID = "0123456789abcdef0123";
const model = await startModelStandin();
model.reply = (request) => {
  const said = currentTurn(request.body).filter((m) => m.role === "user").map(textOf).join(" ");
  return `About "${said.slice(0, 60)}": ${"Here is a thoughtful, ordinary-length answer with a few sentences of substance. ".repeat(7)}`;
};
const worker = await startWorkerStandin({ "SOUL.md": "You are Pixel.", "MEMORY.md": "" });
const env = {
  GATEWAY_TOKEN: worker.token, SOULPRINT_USER_ID: USER_ID, SOULPRINT_CALLBACK_URL: worker.url,
  SOULPRINT_MODEL_BASE_URL: `${model.url}/v1`, SOULPRINT_MODEL_ID: "standin-model",
};
const chat = async (url: string, content: string) => {
  const r = await fetch(`${url}/v1/chat/completions`, {
    method: "POST", headers: { authorization: `Bearer ${worker.token}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "openclaw", user: `soulprint:${USER_ID}`, messages: [{ role: "user", content }] }),
  });
  await r.text();
};
const first = await startContainer({ env });
await first.waitHealthy(600_000);
const t0 = Date.now();
for (let i = 1; i <= turns; i++) await chat(first.url, `Message ${i} of the day: ${"something the person wants to talk about, ".repeat(3)}`);
const chatMs = Date.now() - t0;
await first.stop();
const archive = worker.states.at(-1)!;
const tar = gunzipSync(archive);
const second = await startContainer({ env });
const ready = await second.waitHealthy(600_000);
const restored = second.logs.find((l) => l.includes("state: restored")) ?? "(no restore line)";
await second.stop();
console.log(JSON.stringify({ turns, chatSeconds: Math.round(chatMs / 1000), saves: worker.states.length, archiveKiB: +(archive.length / 1024).toFixed(1), tarKiB: +(tar.length / 1024).toFixed(1), restored: restored.replace(/^.*state: /, ""), secondHealthySeconds: +(ready.ms / 1000).toFixed(1) }));
await Promise.allSettled([model.close(), worker.close()]);
process.exit(0);
