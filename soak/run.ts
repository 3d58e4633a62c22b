/**
 * `npm run soak`: the whole system under load and faults on one `wrangler dev` with the stand-ins.
 *   - web chat: USERS users over WebSocket, each sending MESSAGES messages, with random disconnects
 *     in the middle of replies (and reconnects that must recover them from hello.pending + history);
 *   - Telegram: TG_USERS users with their own bots, updates with 20% duplicates and some out of order;
 *   - Fly: FLY_USERS paid users provisioning while 30% of Fly API calls fail (429, 5xx, hangs).
 * At the end it checks: every user message has exactly one stored reply, every Telegram update one
 * reply, every app `ready` or cleanly `failed`, no duplicate apps or machines. It prints counts and
 * latency percentiles and exits non-zero on any loss. Bounded in time; 127.0.0.1 only.
 *
 *   npm run soak [-- --users 200 --messages 4 --tg-users 40 --fly-users 20]
 */
import { parseArgs } from "node:util";
import { startLocalStack, type LocalStack } from "../dev/local-stack.ts";
import { percentiles, chatOverSocket, type ChatTiming } from "./soak-chat.ts";
import { runTelegram } from "./soak-telegram.ts";
import { runFly } from "./soak-fly.ts";

const { values } = parseArgs({
  options: {
    users: { type: "string", default: "200" },
    messages: { type: "string", default: "4" },
    "tg-users": { type: "string", default: "40" },
    "fly-users": { type: "string", default: "20" },
    "disconnect-rate": { type: "string", default: "0.3" },
    seed: { type: "string", default: "42" },
  },
});
const USERS = Number(values.users);
const MESSAGES = Number(values.messages);
const TG_USERS = Number(values["tg-users"]);
const FLY_USERS = Number(values["fly-users"]);
const DISCONNECT_RATE = Number(values["disconnect-rate"]);
const RUN_BUDGET_MS = 8 * 60_000;

// Set by main(); read by the watchdog, the signal handlers and the final cleanup.
let stack = null as LocalStack | null;
const watchdog = setTimeout(() => {
  console.error(`soak: over its ${RUN_BUDGET_MS / 60_000}-minute budget, stopping`);
  void (stack?.stop() ?? Promise.resolve()).finally(() => process.exit(2));
}, RUN_BUDGET_MS);
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => void (stack?.stop() ?? Promise.resolve()).finally(() => process.exit(130)));

async function main(): Promise<number> {
  const started = performance.now();
  stack = await startLocalStack({
    vars: {
      FREE_DAILY_TOKENS: "1000000000",
      PAID_DAILY_TOKENS: "1000000000",
      // Fly faults cost milliseconds instead of the production backoffs.
      FLY_TUNING: JSON.stringify({ requestTimeoutMs: 1500, retryBaseMs: 20, retryCapMs: 200, jobBackoffBaseMs: 50, jobBackoffCapMs: 500, syncDebounceMs: 100, statusCacheMs: 0, waitPollSeconds: 1, healthTimeoutMs: 3000 }),
    },
  });
  console.log(`soak: stack up in ${((performance.now() - started) / 1000).toFixed(1)} s at ${stack.base}`);
  // Replies of 6 pieces 40 ms apart: long enough that disconnects land in the middle of them.
  await fetch(`${stack.bedrockUrl}/__control/config`, { method: "POST", body: JSON.stringify({ pieces: 6, delayMs: 40 }) });
  await fetch(`${stack.flyUrl}/__control/faults`, { method: "POST", body: JSON.stringify({ rate: 0.3, kinds: ["429", "5xx", "hang"], phase: "mixed", seed: Number(values.seed) }) });

  const [chat, telegram, fly] = await Promise.all([
    chatOverSocket(stack, { users: USERS, messages: MESSAGES, disconnectRate: DISCONNECT_RATE }),
    runTelegram(stack, { users: TG_USERS, updatesPerUser: 5, duplicateRate: 0.2 }),
    runFly(stack, { users: FLY_USERS }),
  ]);

  const problems = [...chat.problems, ...telegram.problems, ...fly.problems];
  const first = percentiles(chat.timings.map((t: ChatTiming) => t.firstPieceMs));
  const done = percentiles(chat.timings.map((t: ChatTiming) => t.doneMs));
  console.log("");
  console.log("soak results");
  console.log(`  web chat   users ${USERS}, messages ${chat.sent}, replies stored ${chat.replies}, disconnects ${chat.disconnects}, recovered mid-reply ${chat.recovered}`);
  console.log(`             first piece ms p50 ${first.p50} p90 ${first.p90} p99 ${first.p99}; reply done ms p50 ${done.p50} p90 ${done.p90} p99 ${done.p99}`);
  console.log(`  telegram   users ${TG_USERS}, updates ${telegram.updates} (+${telegram.duplicates} duplicates, ${telegram.reordered} out of order), replies ${telegram.replies}`);
  console.log(`             webhook ack ms p50 ${percentiles(telegram.ackMs).p50} p99 ${percentiles(telegram.ackMs).p99}`);
  console.log(`  fly        users ${FLY_USERS}, ready ${fly.ready}, failed cleanly ${fly.failed}, apps on Fly ${fly.apps}, machines ${fly.machines}, Fly calls ${fly.calls} (${fly.faults} faulted)`);
  console.log(`             time to ready ms p50 ${percentiles(fly.readyMs).p50} p99 ${percentiles(fly.readyMs).p99}`);
  console.log(`  wall time  ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (problems.length) {
    console.log(`\nsoak: ${problems.length} problem(s):`);
    for (const p of problems.slice(0, 30)) console.log(`  - ${p}`);
    return 1;
  }
  console.log("\nsoak: no loss: every message one reply, every update one reply, every app ready or cleanly failed");
  return 0;
}

let code = 1;
try {
  code = await main();
} catch (error) {
  console.error(`soak: ${(error as Error).stack ?? error}`);
  if (stack) console.error(stack.log().slice(-3000));
} finally {
  clearTimeout(watchdog);
  await stack?.stop();
}
process.exit(code);
