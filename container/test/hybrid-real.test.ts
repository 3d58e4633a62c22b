/**
 * Hybrid routing with the REAL container: the Worker (`wrangler dev`, dev/local-stack.ts) provisions a
 * paid user's app through the Fly stand-in, and FLY_APP_URL points at this package's entrypoint running
 * real OpenClaw with the secrets the Worker set. Chat then goes Worker → container → OpenClaw → the
 * model stand-in, carrying the user's SOUL.md; with the container gone, the same route falls back to
 * direct Bedrock (the Bedrock stand-in), one reply each.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startLocalStack, type LocalStack } from "../../dev/local-stack.ts";
import { startModelStandin, systemText, type ModelStandin } from "./helpers/model-standin.ts";
import { freePort, startContainer, type RunningContainer } from "./helpers/run-container.ts";

const EMAIL = "hybrid-real@example.com";
const SOUL = "# Soul\nYou are Juniper, a calm owl. HYBRID-SOUL-MARKER-51";
const auth = { authorization: `Email ${EMAIL}` };

let stack: LocalStack;
let model: ModelStandin;
let container: RunningContainer | null = null;
let containerPort = 0;

async function api<T>(path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const response = await fetch(`${stack.base}${path}`, init);
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : null) as T };
}

async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

describe("hybrid routing through the real container", { timeout: 600_000 }, () => {
  before(async () => {
    model = await startModelStandin();
    model.reply = () => "Hoo. Juniper here, answering from the real container.";
    containerPort = await freePort();
    stack = await startLocalStack({
      vars: {
        FLY_APP_URL: `http://127.0.0.1:${containerPort}`,
        // The production wake budget (20 s), which covers only the wait for the container's first
        // byte: real OpenClaw's first words take 7–14 s here, but its front server answers at once,
        // so the reply is never cut by the budget however loaded the machine is. The fallback test
        // below waits out this budget once (the stopped container refuses every connection).
        FLY_TUNING: JSON.stringify({ requestTimeoutMs: 5000, retryBaseMs: 50, jobBackoffBaseMs: 500, jobBackoffCapMs: 2000, syncDebounceMs: 100, statusCacheMs: 0, waitPollSeconds: 1, healthTimeoutMs: 3000 }),
      },
    });
    const admin = { authorization: `Bearer ${stack.vars.ADMIN_TOKEN}`, "content-type": "application/json" };
    assert.equal((await api(`/api/admin/users/${encodeURIComponent(EMAIL)}/tier`, { method: "PUT", headers: admin, body: JSON.stringify({ tier: "paid" }) })).status, 200);
    const saved = await fetch(`${stack.base}/api/workspace/SOUL.md`, { method: "PUT", headers: { ...auth, "content-type": "text/markdown" }, body: SOUL });
    assert.equal(saved.status, 200);
    const provision = await api<{ app: string }>("/api/fly/provision", { method: "POST", headers: auth });
    assert.equal(provision.status, 202);
    // Once the Worker has set the app's secrets on Fly, boot the real container with exactly them,
    // as a Fly machine would; the provisioner's health check then finds it.
    const secrets = await waitFor("the app's secrets", async () => {
      const app = (await (await fetch(`${stack.flyUrl}/__control/apps/${provision.body.app}`)).json()) as { secrets?: Record<string, string> };
      return app.secrets?.GATEWAY_TOKEN ? app.secrets : undefined;
    }, 60_000);
    container = await startContainer({
      env: { ...secrets, CONTAINER_PORT: String(containerPort), SOULPRINT_MODEL_BASE_URL: `${model.url}/v1`, SOULPRINT_MODEL_ID: "standin-model" },
    });
    await container.waitHealthy(180_000);
    // The provisioner's health check may give up while OpenClaw is still starting (it takes 15–45 s
    // here); provisioning again resumes from that step, as a user pressing the button would.
    let last = "";
    await waitFor(`the app to be ready (last status ${last})`, async () => {
      const status = await api<{ state: string; step: string | null; lastError: string | null }>("/api/fly/status", { headers: auth });
      last = JSON.stringify(status.body);
      if (status.body.state === "failed") await api("/api/fly/provision", { method: "POST", headers: auth });
      return status.body.state === "ready" ? status.body : undefined;
    }, 120_000);
  });

  after(async () => {
    await container?.stop();
    await stack?.stop();
    await model?.close();
  });

  it("routes the paid user's chat to their container, which answers with their SOUL.md", async () => {
    const me = await api<{ mode: string }>("/api/me", { headers: auth });
    assert.equal(me.body.mode, "container");
    const reply = await api<{ via: string; text: string; status: string }>("/api/chat", {
      method: "POST",
      headers: { ...auth, "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ id: "real-1", text: "Who are you?" }),
    });
    assert.equal(reply.status, 200);
    assert.equal(reply.body.via, "container");
    assert.equal(reply.body.status, "done");
    assert.match(reply.body.text, /answering from the real container/);
    assert.ok(model.requests.some((r) => systemText(r.body).includes("HYBRID-SOUL-MARKER-51")), "the model saw the user's SOUL.md");
  });

  it("falls back to direct Bedrock once the container is gone, with one reply", async () => {
    await container?.stop();
    container = null;
    const reply = await api<{ via: string; text: string; status: string }>("/api/chat", {
      method: "POST",
      headers: { ...auth, "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ id: "real-2", text: "Still there?" }),
    });
    assert.equal(reply.body.via, "bedrock");
    assert.equal(reply.body.status, "done");
    const history = await api<{ messages: { role: string; replyTo?: string }[] }>("/api/chat/history", { headers: auth });
    assert.equal(history.body.messages.filter((m) => m.role === "assistant" && m.replyTo === "real-2").length, 1);
  });
});
