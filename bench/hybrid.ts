/**
 * Time to first piece through the user's container (the Fly stand-in's container) vs. direct Bedrock
 * (the Bedrock stand-in), on one `wrangler dev`, for the same paid user (chatMode toggled). Both
 * stand-ins stamp nothing, so this compares whole paths as a client sees them; the container path's
 * extra cost is the second upstream hop (object → container → its own stream) and the OpenAI SSE
 * parsing. `node bench/hybrid.ts [--rounds 25]` (at most 29: 60 chat messages a minute per user is the rate limit).
 */
import { parseArgs } from "node:util";
import { startLocalStack } from "../dev/local-stack.ts";
import { percentiles } from "../soak/soak-chat.ts";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "25" } } });
const ROUNDS = Number(values.rounds);
const stack = await startLocalStack({
  vars: { FLY_TUNING: JSON.stringify({ retryBaseMs: 20, jobBackoffBaseMs: 50, jobBackoffCapMs: 500, syncDebounceMs: 100, statusCacheMs: 0, waitPollSeconds: 1 }) },
});
try {
  const email = "bench-hybrid@example.com";
  const auth = { authorization: `Email ${email}` };
  await fetch(`${stack.base}/api/admin/users/${encodeURIComponent(email)}/tier`, { method: "PUT", headers: { authorization: `Bearer ${stack.vars.ADMIN_TOKEN}`, "content-type": "application/json" }, body: '{"tier":"paid"}' });
  await fetch(`${stack.base}/api/fly/provision`, { method: "POST", headers: auth });
  for (let i = 0; i < 240; i++) {
    const status = (await (await fetch(`${stack.base}/api/fly/status`, { headers: auth })).json()) as { state: string };
    if (status.state === "ready") break;
    await new Promise((r) => setTimeout(r, 250));
  }
  // The two stand-ins stream at their own pace; make Bedrock's first piece as immediate as the container's.
  await fetch(`${stack.bedrockUrl}/__control/config`, { method: "POST", body: JSON.stringify({ pieces: 8, delayMs: 5 }) });

  const firstPiece = async (n: number): Promise<{ ms: number; via: string }> => {
    const started = performance.now();
    const response = await fetch(`${stack.base}/api/chat`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ id: `b${n}-${Date.now()}`, text: `ping ${n}` }) });
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let ms = NaN;
    let via = "?";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += value;
      if (Number.isNaN(ms) && buffer.includes("event: delta")) ms = performance.now() - started;
      const doneMatch = /"type":"done"[^}]*"via":"(\w+)"/.exec(buffer);
      if (doneMatch) via = doneMatch[1]!;
    }
    return { ms, via };
  };
  const measure = async (mode: "auto" | "direct") => {
    await fetch(`${stack.base}/api/me`, { method: "PATCH", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ chatMode: mode }) });
    await firstPiece(-1); // warm-up
    const results: { ms: number; via: string }[] = [];
    for (let i = 0; i < ROUNDS; i++) results.push(await firstPiece(i));
    return results;
  };
  const container = await measure("auto");
  const direct = await measure("direct");
  const p = (r: { ms: number }[]) => percentiles(r.map((x) => x.ms));
  console.log(`time to first piece over HTTP SSE, ${ROUNDS} replies each (ms)`);
  console.log(`  via container (${container.filter((r) => r.via === "container").length}/${ROUNDS} via container): p50 ${p(container).p50} p90 ${p(container).p90} p99 ${p(container).p99}`);
  console.log(`  direct Bedrock (${direct.filter((r) => r.via === "bedrock").length}/${ROUNDS} via bedrock):   p50 ${p(direct).p50} p90 ${p(direct).p90} p99 ${p(direct).p99}`);
  console.log(`  container path added at p50: ${p(container).p50 - p(direct).p50} ms`);
} finally {
  await stack.stop();
}
