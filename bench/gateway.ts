/**
 * What the model gateway adds to the first token (issue 13 item 7): a container's streamed Messages
 * call through the Worker (`wrangler dev` → the user's object → InvokeModelWithResponseStream → the
 * Bedrock stand-in) against the same call made straight to the stand-in with the AWS SDK in Node.
 * Both read the same stand-in, configured to answer at once, interleaved round by round.
 * `node bench/gateway.ts [--rounds 25]`. Figures are reported, not asserted.
 */
import { parseArgs } from "node:util";
import { BedrockRuntimeClient, InvokeModelWithResponseStreamCommand } from "@aws-sdk/client-bedrock-runtime";
import { FetchHttpHandler } from "@smithy/fetch-http-handler";
import { startLocalStack } from "../dev/local-stack.ts";
import { percentiles } from "../soak/soak-chat.ts";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "25" } } });
const ROUNDS = Number(values.rounds);
const MODEL = "global.anthropic.claude-opus-4-6-v1";
const body = (n: number) => ({ max_tokens: 256, system: "You are a benchmark.", messages: [{ role: "user", content: `ping ${n}` }] });

const stack = await startLocalStack({
  vars: { FLY_TUNING: JSON.stringify({ retryBaseMs: 20, jobBackoffBaseMs: 50, jobBackoffCapMs: 500, syncDebounceMs: 100, statusCacheMs: 0, waitPollSeconds: 1 }) },
});
const sdk = new BedrockRuntimeClient({
  region: "us-east-1", endpoint: stack.bedrockUrl, maxAttempts: 1,
  credentials: { accessKeyId: "AKIDBENCHGATEWAY", secretAccessKey: "bench-gateway-secret" },
  requestHandler: new FetchHttpHandler(),
});
try {
  const email = "bench-gateway@example.com";
  const auth = { authorization: `Email ${email}` };
  await fetch(`${stack.base}/api/admin/users/${encodeURIComponent(email)}/tier`, { method: "PUT", headers: { authorization: `Bearer ${stack.vars.ADMIN_TOKEN}`, "content-type": "application/json" }, body: '{"tier":"paid"}' });
  const provision = (await (await fetch(`${stack.base}/api/fly/provision`, { method: "POST", headers: auth })).json()) as { app: string };
  let token = "";
  for (let i = 0; i < 240 && !token; i++) {
    const app = (await (await fetch(`${stack.flyUrl}/__control/apps/${provision.app}`)).json()) as { secrets?: Record<string, string> };
    token = app.secrets?.GATEWAY_TOKEN ?? "";
    if (!token) await new Promise((r) => setTimeout(r, 250));
  }
  await fetch(`${stack.bedrockUrl}/__control/config`, { method: "POST", body: JSON.stringify({ pieces: 8, delayMs: 5 }) });

  const viaGateway = async (n: number): Promise<number> => {
    const started = performance.now();
    const response = await fetch(`${stack.base}/api/container/model/v1/messages`, {
      method: "POST",
      headers: { "x-api-key": token, "anthropic-version": "2023-06-01", "content-type": "application/json" },
      body: JSON.stringify({ ...body(n), stream: true }),
    });
    if (!response.ok) throw new Error(`gateway answered ${response.status}: ${await response.text()}`);
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let first = Number.NaN;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += value;
      if (Number.isNaN(first) && buffer.includes("event: content_block_delta")) first = performance.now() - started;
    }
    return first;
  };
  const straight = async (n: number): Promise<number> => {
    const started = performance.now();
    const out = await sdk.send(new InvokeModelWithResponseStreamCommand({
      modelId: MODEL, contentType: "application/json", accept: "application/json",
      body: new TextEncoder().encode(JSON.stringify({ anthropic_version: "bedrock-2023-05-31", ...body(n) })),
    }));
    let first = Number.NaN;
    for await (const item of out.body ?? []) {
      const event = item.chunk?.bytes ? (JSON.parse(new TextDecoder().decode(item.chunk.bytes)) as { type: string }) : null;
      if (Number.isNaN(first) && event?.type === "content_block_delta") first = performance.now() - started;
    }
    return first;
  };

  await viaGateway(-1); // warm-up: the object, the SDK client, the connection pools
  await straight(-1);
  const gateway: number[] = [];
  const direct: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    gateway.push(await viaGateway(i));
    direct.push(await straight(i));
  }
  const g = percentiles(gateway);
  const d = percentiles(direct);
  console.log(`time to first token, streamed Messages call, ${ROUNDS} rounds each (ms)`);
  console.log(`  container → gateway (wrangler dev) → stand-in: p50 ${g.p50} p90 ${g.p90} p99 ${g.p99}`);
  console.log(`  straight to the stand-in (AWS SDK in Node):     p50 ${d.p50} p90 ${d.p90} p99 ${d.p99}`);
  console.log(`  the gateway hop adds at p50: ${Math.round((g.p50 - d.p50) * 10) / 10} ms`);
} finally {
  sdk.destroy();
  await stack.stop();
}
