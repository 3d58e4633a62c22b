/**
 * Issue 15 with the real OpenClaw: the container keeps its life across a kill and a fresh machine.
 * Against a stand-in of the Worker's container routes (workspace, state, schedule) and the model
 * stand-in: the workspace read from the Worker wins over the boot secrets; a SOUL.md edit reaches the
 * running container with no restart; then the machine is stopped (SIGTERM) and a new one (a new,
 * empty disk) starts — the session goes on (the second machine's model call carries the first
 * machine's turns) and the agent's memory/ note is back. Prints the figures of the closing note.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { currentTurn, startModelStandin, systemText, textOf, type ModelStandin } from "./helpers/model-standin.ts";
import { startContainer, type RunningContainer } from "./helpers/run-container.ts";
import { startWorkerStandin, type WorkerStandin } from "./helpers/worker-standin.ts";
import { waitFor } from "./helpers/callback-standin.ts";

const USER_ID = "0123456789abcdef0123";
const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64");
const figures: string[] = [];

let model: ModelStandin;
let worker: WorkerStandin;
let first: RunningContainer | null = null;
let second: RunningContainer | null = null;

function env(): Record<string, string> {
  return {
    GATEWAY_TOKEN: worker.token,
    SOULPRINT_USER_ID: USER_ID,
    SOULPRINT_CALLBACK_URL: worker.url,
    SOULPRINT_MODEL_BASE_URL: `${model.url}/v1`,
    SOULPRINT_MODEL_ID: "standin-model",
    // The cold-boot fallback, older than what the Worker has: the Worker's copy must win.
    SOUL_MD_B64: b64("You are Stale, an outdated soul."),
    SOULPRINT_WRITEBACK_DEBOUNCE_MS: "300",
    SOULPRINT_WRITEBACK_POLL_MS: "1000",
    SOULPRINT_STATE_DEBOUNCE_MS: "1000",
    SOULPRINT_STATE_POLL_MS: "500",
    SOULPRINT_SCHEDULE_POLL_MS: "1000",
  };
}

async function chat(container: RunningContainer, content: string, headers: Record<string, string> = {}): Promise<string> {
  const response = await fetch(`${container.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${worker.token}`, "content-type": "application/json", ...headers },
    body: JSON.stringify({ model: "openclaw", stream: false, user: `soulprint:${USER_ID}`, messages: [{ role: "user", content }] }),
    signal: AbortSignal.timeout(180_000),
  });
  assert.equal(response.status, 200, await response.clone().text());
  const body = (await response.json()) as { choices: { message: { content: string } }[] };
  return body.choices[0]!.message.content;
}

/** Every text the model saw in the last request that carried `marker` in its current turn. */
function lastRequestWith(marker: string): { system: string; all: string } {
  const request = [...model.requests].reverse().find((r) => currentTurn(r.body).some((m) => textOf(m).includes(marker)));
  assert.ok(request, `no model request carried ${marker}`);
  const messages = Array.isArray(request.body.messages) ? (request.body.messages as Record<string, unknown>[]) : [];
  return { system: systemText(request.body), all: messages.map(textOf).join("\n") };
}

describe("the container keeps its life (real OpenClaw)", { timeout: 900_000 }, () => {
  before(async () => {
    model = await startModelStandin();
    model.reply = (request) => {
      const turn = currentTurn(request.body);
      if (turn.some((m) => m.role === "tool")) return "Noted in my memory folder.";
      const said = turn.filter((m) => m.role === "user").map(textOf).join("\n");
      const note = /NOTE: ([^\n]+)/.exec(said);
      if (note) return { tool: "write", arguments: { path: "memory/notes.md", content: `- ${note[1]}\n` } };
      return `I heard: ${said.slice(-80)}`;
    };
    worker = await startWorkerStandin({ "SOUL.md": "You are Pixel, soul version one.", "MEMORY.md": "" });
    first = await startContainer({ env: env(), echo: process.env.CONTAINER_TEST_ECHO === "1" });
  });

  after(async () => {
    await Promise.allSettled([first?.stop(), second?.stop()]);
    await Promise.allSettled([model?.close(), worker?.close()]);
    console.log(`\n[issue 15 figures]\n  ${figures.join("\n  ")}\n`);
  });

  it("boots with the Worker's workspace, not the older secrets", async () => {
    const ready = await first!.waitHealthy();
    figures.push(`first machine: /health 200 after ${(ready.ms / 1000).toFixed(1)} s (nothing to restore)`);
    await chat(first!, "hello-one");
    const seen = lastRequestWith("hello-one");
    assert.match(seen.system, /soul version one/);
    assert.doesNotMatch(seen.system, /outdated soul/);
  });

  it("takes a SOUL.md edit while running, with no restart, when the Worker says the version moved on", async () => {
    const pid = first!.pid;
    worker.files.set("SOUL.md", "You are Pixel, soul version two ✨.");
    await chat(first!, "hello-two", { "x-soulprint-workspace-version": worker.etag() });
    assert.match(lastRequestWith("hello-two").system, /soul version two ✨/);
    assert.equal(first!.child.exitCode, null);
    assert.equal(first!.pid, pid);
  });

  it("keeps the session and the memory/ notes when the machine is stopped and a new one starts", async () => {
    await chat(first!, "NOTE: the code word is PAPAYA");
    await waitFor("the note on disk", () => existsSync(join(first!.workspace, "memory", "notes.md")), 60_000);
    await chat(first!, "My favourite colour is teal.");
    const stopped = await first!.stop();
    figures.push(`first machine: SIGTERM → exit in ${(stopped.ms / 1000).toFixed(1)} s, state saved on the way out`);
    assert.ok(worker.states.length >= 1, "no state was saved");
    const last = worker.states.at(-1)!;
    figures.push(`state snapshot: ${(last.length / 1024).toFixed(1)} KiB gzip'd after 4 turns (${worker.states.length} saves)`);
    first = null;

    second = await startContainer({ env: env(), echo: process.env.CONTAINER_TEST_ECHO === "1" });
    const ready = await second.waitHealthy();
    const restoredLine = second.logs.find((l) => l.includes("state: restored"));
    assert.ok(restoredLine, "the second machine restored no state");
    figures.push(`second machine (empty disk): ${restoredLine!.replace(/^.*state: /, "")}; /health 200 after ${(ready.ms / 1000).toFixed(1)} s`);
    assert.match(readFileSync(join(second.workspace, "memory", "notes.md"), "utf8"), /PAPAYA/);

    await chat(second, "What colour did I name?");
    const seen = lastRequestWith("What colour did I name?");
    assert.match(seen.all, /favourite colour is teal/, "the second machine's model call does not carry the first machine's turns");
    assert.match(seen.system, /soul version two/);
  });
});
