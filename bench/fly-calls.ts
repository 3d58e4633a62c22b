/**
 * Fly API calls per provision, per one-file sync, per no-change sync and per reconcile, counted by
 * the Fly stand-in's call log; and the monthly cost of an idle user against an always-on one,
 * from the price table in src/lib/fly/fly-prices.ts.
 *
 * Run: `npx node --experimental-transform-types bench/fly-calls.ts [--users 5] [--machines 1] [--faults 0.3]`
 * With `--faults`, that share of Fly calls fails (429, 5xx, hangs; half of them after taking effect)
 * and the script also checks that every user still ends with exactly one app and its machines.
 */
import { start } from "../dev/fly-standin.ts";
import { flags } from "../dev/standin-util.ts";
import { FLY_PRICES, HOURS_PER_MONTH, monthlyCost } from "../src/lib/fly/fly-prices.ts";
import { roundMemory } from "../src/lib/fly/machine-config.ts";
import { benchUser } from "./fly-host.ts";

// The job scheduler and the client log a JSON line per job or failed call; the figures are what
// this script is for.
for (const level of ["log", "warn"] as const) {
  const original = console[level];
  console[level] = (...args: unknown[]) => {
    if (typeof args[0] === "string" && args[0].startsWith('{"event"')) return;
    original(...args);
  };
}

const f = flags(process.argv.slice(2));
const users = Number(f.get("users") ?? 5);
const machines = Number(f.get("machines") ?? 1);
const memoryMb = 2048;
const faultRate = Number(f.get("faults") ?? 0);

const standin = await start({ port: 0, token: "bench-token" });
const env: Record<string, string> = {
  FLY_API_BASE: standin.url,
  FLY_APP_URL: standin.appUrlTemplate,
  FLY_API_TOKEN: "bench-token",
  // Local: the callback URL falls back to the local dev origin, as in `npm run dev`.
  ALLOW_EMAIL_AUTH: "true",
  CLAWDBOT_IMAGE: "localhost/soulprint-agent:dev",
  ENCRYPTION_KEY: "bench-encryption-key",
  AWS_ACCESS_KEY_ID: "AKIDBENCH",
  AWS_SECRET_ACCESS_KEY: "bench-secret",
  FLY_MAX_MACHINES: String(machines),
  FLY_MACHINE_MEMORY_MB: String(memoryMb),
};
const tuning = { jobBackoffBaseMs: 20, retryBaseMs: 5, syncDebounceMs: 0, statusCacheMs: 0, requestTimeoutMs: 500, waitPollSeconds: 2, healthTimeoutMs: 3000, provisionMaxAttempts: 20, syncMaxAttempts: 20, deleteMaxAttempts: 20 };
if (faultRate > 0) {
  await fetch(`${standin.url}/__control/faults`, { method: "POST", body: JSON.stringify({ rate: faultRate, kinds: ["429", "5xx", "hang"], phase: "mixed", retryAfterS: 0, seed: 7 }) });
}

async function callsSince(since: number, app: string): Promise<{ total: number; byRoute: Record<string, number> }> {
  const res = await fetch(`${standin.url}/__control/calls?since=${since}&app=${encodeURIComponent(app)}`);
  return (await res.json()) as { total: number; byRoute: Record<string, number> };
}
async function seqNow(): Promise<number> {
  return ((await (await fetch(`${standin.url}/__control/calls`)).json()) as { seq: number }).seq;
}

const rows: Record<string, number[]> = { provision: [], oneFileSync: [], noChangeSync: [], reconcile: [], delete: [] };
const routes: Record<string, Record<string, number>> = {};
const elapsed: number[] = [];
for (let i = 0; i < users; i++) {
  // A user id as the Worker derives them (20 hex digits): gateway tokens refuse any other shape.
  const userId = `be${String(i).padStart(6, "0")}${Date.now().toString(16)}`.padEnd(20, "0").slice(0, 20);
  const app = `sp-${userId}`;
  const u = benchUser(userId, env, tuning);
  await u.workspace.seedStarterFiles();
  await u.workspace.write("SOUL.md", "# Soul\n\nWarm, curious, speaks plainly. 🌱✨ Καλημέρα, 世界.\n", { source: "user", notify: false });

  let since = await seqNow();
  const t0 = Date.now();
  await u.fly.provision();
  await u.drive(() => u.fly.state() === "ready" && u.jobs.get("fly_sync") === null);
  elapsed.push(Date.now() - t0);
  if (u.fly.state() !== "ready") throw new Error(`user ${i} did not become ready: ${JSON.stringify(await u.fly.status())}`);
  let c = await callsSince(since, app);
  rows.provision!.push(c.total);
  const held = (await (await fetch(`${standin.url}/__control/apps/${app}`)).json()) as { machines: { name: string }[]; ips: unknown[] };
  if (held.machines.length !== machines || held.ips.length !== 2) throw new Error(`user ${i}: ${held.machines.length} machines, ${held.ips.length} IPs`);
  routes.provision ??= c.byRoute;

  since = await seqNow();
  await u.workspace.write("MEMORY.md", `Remembered on run ${i}: tea, not coffee ☕`, { source: "tool", notify: false });
  const synced = await u.fly.sync();
  c = await callsSince(since, app);
  if (faultRate === 0 && (!("changed" in synced) || synced.changed.join() !== "MEMORY.md")) throw new Error(`unexpected sync result ${JSON.stringify(synced)}`);
  rows.oneFileSync!.push(c.total);
  routes.oneFileSync ??= c.byRoute;

  since = await seqNow();
  await u.fly.sync();
  c = await callsSince(since, app);
  rows.noChangeSync!.push(c.total);
  routes.noChangeSync ??= c.byRoute;

  since = await seqNow();
  const repaired = await u.fly.reconcile();
  if (faultRate === 0 && repaired.length > 0) throw new Error(`reconcile found drift on a fresh app: ${repaired.join(", ")}`);
  c = await callsSince(since, app);
  rows.reconcile!.push(c.total);
  routes.reconcile ??= c.byRoute;

  since = await seqNow();
  await u.fly.deleteApp();
  await u.drive(() => u.fly.state() === "none");
  if (u.fly.state() !== "none" || (await fetch(`${standin.url}/__control/apps/${app}`)).status !== 404) throw new Error(`user ${i}: app left after delete`);
  c = await callsSince(since, app);
  rows.delete!.push(c.total);
  routes.delete ??= c.byRoute;
}
await standin.close();

const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
console.log(`Fly API calls (stand-in call log; ${users} users, FLY_MAX_MACHINES=${machines}${faultRate > 0 ? `, ${faultRate * 100}% faults, retries included` : ""}):`);
for (const [name, xs] of Object.entries(rows)) {
  console.log(`  ${name.padEnd(14)} ${avg(xs).toFixed(1).padStart(5)}  (min ${Math.min(...xs)}, max ${Math.max(...xs)})`);
}
for (const [name, byRoute] of Object.entries(routes)) {
  console.log(`  ${name} by route: ${Object.entries(byRoute).map(([r, n]) => `${r} ×${n}`).join(", ")}`);
}
console.log(`  provision wall time against the stand-in: ${avg(elapsed).toFixed(0)} ms on average`);

const cpus = Math.max(1, Math.ceil(roundMemory(memoryMb) / 2048));
const scenarios: [string, number][] = [
  ["idle (machines stopped/suspended all month)", 0],
  ["light (1 h a day awake)", 30.4],
  ["busy (8 h a day awake)", 243],
  ["always on (the seed: no autostop)", HOURS_PER_MONTH],
];
console.log(`\nMonthly cost per user, shared-cpu-${cpus}x ${memoryMb} MB, ${machines} machine(s), rootfs ${FLY_PRICES.rootfsGb} GB:`);
for (const [label, hours] of scenarios) {
  const cost = monthlyCost({ machines, memoryMb: roundMemory(memoryMb), cpus, startedHours: hours });
  console.log(`  ${label.padEnd(46)} $${cost.total.toFixed(2).padStart(6)}  (compute $${cost.compute.toFixed(2)}, storage $${cost.storage.toFixed(2)}, IPs $${cost.ips.toFixed(2)})`);
}
