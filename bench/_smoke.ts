import { start } from "../dev/bedrock-standin.ts";
import { startWorker, processCpuMs } from "./chat-runtime.ts";
const t0 = performance.now();
const standin = await start({ port: 0 });
const w = await startWorker({ BEDROCK_ENDPOINT: standin.url, AWS_ACCESS_KEY_ID: "AKIDBENCH", AWS_SECRET_ACCESS_KEY: "x", ALLOW_EMAIL_AUTH: "true", FREE_DAILY_TOKENS: "1000000000000" });
console.log("ready", w.url, w.workerdPid, performance.now() - t0);
try {
  console.log(await (await fetch(w.url + "/api/health")).text());
  await fetch(standin.url + "/__control/bench", { method: "POST", body: JSON.stringify({ pieces: 3, intervalMs: 25 }) });
  const r = await fetch(w.url + "/api/chat", { method: "POST", headers: { authorization: "Email a@example.com", "content-type": "application/json" }, body: JSON.stringify({ id: "x1", text: "hi" }) });
  console.log(r.status, await r.text());
  console.log(processCpuMs(w.workerdPid!));
} finally { await w.dispose(); await standin.close(); }
