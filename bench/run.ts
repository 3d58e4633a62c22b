/**
 * `npm run bench`: how much latency and CPU the Worker and the user's Durable Object add to a
 * streamed chat reply, over HTTP SSE and over WebSocket (issue 3 item 9, issue 4 item 5).
 *
 * In one Node process: the Bedrock stand-in (dev/bedrock-standin.ts) in benchmark mode (20 pieces,
 * 25 ms apart, each piece's text = `⟨t=<write time>⟩`), the Worker in workerd through Miniflare
 * (bench/chat-runtime.ts explains why not `wrangler dev`), and the clients (bench/chat-clients.ts).
 * For each piece: latency = arrival at the client − the stand-in's write stamp (one clock). The floor
 * is the same stand-in read by the AWS SDK in Node with no Worker in between, measured in the same
 * phase, interleaved with the paths; "added" = the path's percentile − the floor's percentile.
 *
 * Phases: 1 user (replies one after another, floor/SSE/WebSocket interleaved); 50 distinct users at
 * once (all start together, per path); 100 WebSocket users looping for a few seconds (replies/s).
 * CPU: workerd's own CPU time (sum of its threads' /proc/<pid>/task/<tid>/schedstat, ns precision;
 * utime+stime as a cross-check) across each reply, minus its idle rate. Inside workerd the clock
 * stops during execution, so the Worker cannot time its own CPU; its structured logs carry no CPU
 * time either. The figure therefore covers everything workerd does for a reply: the Worker, the
 * object, SQLite, the SDK's signing and event-stream decoding, and Miniflare's entry/asset router.
 *
 * Figures are reported, not asserted: exit 0 whenever the bench ran. Only 127.0.0.1 is contacted.
 *
 * Flags: --rounds 25 (1-user replies per path)  --users 50  --concurrent-rounds 4
 *        --throughput-users 100  --throughput-seconds 8  --pieces 20  --interval-ms 25  --json
 */
import { readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { createRequire } from "node:module";
import { start } from "../dev/bedrock-standin.ts";
import { flags } from "../dev/standin-util.ts";
import { startWorker, processCpuMs, type WorkerRuntime } from "./chat-runtime.ts";
import { BenchSocket, FloorClient, now, sseReply, warmUser, type ReplySample } from "./chat-clients.ts";
import { fmt, mean, percentile, sum, table } from "./stats.ts";

const f = flags(process.argv.slice(2));
const num = (name: string, dflt: number) => {
  const v = f.get(name);
  return v === undefined ? dflt : Number(v);
};
const PIECES = num("pieces", 20);
const INTERVAL_MS = num("interval-ms", 25);
const ROUNDS = num("rounds", 25);
const USERS = num("users", 50);
const CONCURRENT_ROUNDS = num("concurrent-rounds", 4);
const TP_USERS = num("throughput-users", 100);
const TP_SECONDS = num("throughput-seconds", 8);
const JSON_OUT = f.get("json") !== undefined;
const WATCHDOG_MS = 170_000;
const MODEL = "global.anthropic.claude-opus-4-6-v1";

const TARGETS = { firstAddedMs: 1.5, p50AddedMs: 1.5, p99AddedMs: 3, cpuPerReplyMs: 10, p50Added50Ms: 50, framesPerPiece: 1 };

const t0 = performance.now();
const log = (msg: string) => console.error(`[bench ${((performance.now() - t0) / 1000).toFixed(1)}s] ${msg}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- cleanup: nothing may outlive the bench, also on error, Ctrl-C or a hang ----------------------
const cleanups: (() => Promise<void> | void)[] = [];
let cleaning: Promise<void> | null = null;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch (err) {
        console.error(`cleanup: ${(err as Error).message}`);
      }
    }
  })();
  return cleaning;
}
const bail = (code: number) => void cleanup().finally(() => process.exit(code));
process.on("SIGINT", () => bail(130));
process.on("SIGTERM", () => bail(143));
const watchdog = setTimeout(() => {
  console.error(`bench: still running after ${WATCHDOG_MS / 1000} s; stopping.`);
  bail(1);
}, WATCHDOG_MS);

// ---- helpers ----------------------------------------------------------------------------------
async function pool<T, R>(items: T[], width: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

interface PathResult {
  samples: ReplySample[];
  cpuMs: number[]; // per reply (1 user) or per reply averaged over a concurrent round
}
const emptyPath = (): PathResult => ({ samples: [], cpuMs: [] });

function summarize(samples: ReplySample[]) {
  const ok = samples.filter((s) => !s.error);
  const all = ok.flatMap((s) => s.latencies);
  const first = ok.map((s) => s.latencies[0]).filter((v): v is number => v !== undefined);
  const pieces = sum(ok.map((s) => s.latencies.length));
  return {
    replies: samples.length,
    errors: samples.filter((s) => s.error).map((s) => s.error!),
    incomplete: ok.filter((s) => s.latencies.length !== PIECES).length,
    pieces,
    firstP50: percentile(first, 50),
    firstP99: percentile(first, 99),
    p50: percentile(all, 50),
    p99: percentile(all, 99),
    max: all.length ? Math.max(...all) : Number.NaN,
    frames: sum(ok.map((s) => s.frames)),
    framesPerPiece: pieces ? sum(ok.map((s) => s.frames)) / pieces : Number.NaN,
    splitFrames: sum(ok.map((s) => s.framesWithoutPiece)),
    coalescedFrames: sum(ok.map((s) => s.framesWithSeveralPieces)),
    replyMsP50: percentile(ok.map((s) => s.totalMs), 50),
  };
}
type Summary = ReturnType<typeof summarize>;

async function main(): Promise<void> {
  const loadBefore = loadavg();
  log("starting the Bedrock stand-in and the Worker (workerd via Miniflare)...");
  const standin = await start({ port: 0, host: "127.0.0.1" });
  cleanups.push(() => standin.close());
  const control = async (path: string, body: unknown) => {
    const res = await fetch(`${standin.url}/__control/${path}`, { method: "POST", body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`stand-in ${path}: ${res.status} ${await res.text()}`);
  };
  await control("bench", { pieces: PIECES, intervalMs: INTERVAL_MS });

  const worker: WorkerRuntime = await startWorker({
    BEDROCK_ENDPOINT: standin.url,
    AWS_ACCESS_KEY_ID: "AKIDBENCHWORKER",
    AWS_SECRET_ACCESS_KEY: "bench-worker-secret",
    ALLOW_EMAIL_AUTH: "true",
    FREE_DAILY_TOKENS: "1000000000000",
    PAID_DAILY_TOKENS: "1000000000000",
    PUBLIC_URL: "http://127.0.0.1",
  });
  cleanups.push(() => worker.dispose());
  const base = worker.url;
  const pid = worker.workerdPid;
  const cpu = (): number => {
    if (pid === null) return Number.NaN;
    const c = processCpuMs(pid);
    return c.schedMs ?? c.tickMs;
  };
  const ticks = (): number => (pid === null ? Number.NaN : processCpuMs(pid).tickMs);
  log(`Worker at ${base}, workerd pid ${pid ?? "not found"}, stand-in at ${standin.url}`);

  const floor = new FloorClient(standin.url, MODEL);
  cleanups.push(() => floor.destroy());
  const sockets: BenchSocket[] = [];
  cleanups.push(() => sockets.forEach((s) => s.close()));

  // ---- users and warm-up --------------------------------------------------------------------
  const sseUsers = Array.from({ length: USERS }, (_, i) => `sse-${i}`);
  const wsUsers = Array.from({ length: Math.max(USERS, TP_USERS) }, (_, i) => `ws-${i}`);
  await pool(["solo-sse", "solo-ws", ...sseUsers, ...wsUsers], 8, (u) => warmUser(base, u));
  log(`${2 + sseUsers.length + wsUsers.length} users created`);
  const soloSocket = await BenchSocket.open(base, "solo-ws");
  sockets.push(soloSocket);
  for (let i = 0; i < 3; i++) {
    const warm = await Promise.all([floor.reply(), sseReply(base, "solo-sse", `warm-${i}`), soloSocket.reply(`warm-${i}`)]);
    const bad = warm.find((s) => s.error);
    if (bad) throw new Error(`warm-up reply failed: ${bad.error}\n${worker.logs.slice(-5).join("\n")}`);
  }
  await sleep(200);
  const idle0 = cpu();
  const idleT0 = now();
  await sleep(1000);
  const idleRate = (cpu() - idle0) / (now() - idleT0); // workerd ms of CPU per ms of wall time, idle
  log(`warm; workerd idle CPU ${fmt(idleRate * 1000)} ms/s`);

  /** Runs `fn`, then waits for workerd to finish storing, and returns the CPU it used beyond idle. */
  async function withCpu<T>(fn: () => Promise<T>) {
    const c0 = cpu();
    const k0 = ticks();
    const n0 = process.cpuUsage();
    const m0 = machineCpu();
    const w0 = now();
    const value = await fn();
    await sleep(40);
    const wallMs = now() - w0;
    const n = process.cpuUsage(n0);
    const m1 = machineCpu();
    return {
      value,
      cpuMs: cpu() - c0 - idleRate * wallMs,
      tickMs: ticks() - k0,
      wallMs,
      nodeMs: (n.user + n.system) / 1000,
      machineBusyCores: (m1.busy - m0.busy) / Math.max(1, m1.total - m0.total) * cpus().length,
    };
  }

  // ---- phase 1: one user ----------------------------------------------------------------------
  log(`1 user: ${ROUNDS} replies per path, interleaved...`);
  const one = { floor: emptyPath(), sse: emptyPath(), ws: emptyPath() };
  const oneTicks = { sse: 0, ws: 0 };
  const busy = (a: { busy: number; total: number }, b: { busy: number; total: number }) => ((b.busy - a.busy) / Math.max(1, b.total - a.total)) * cpus().length;
  const p1m0 = machineCpu();
  const order = ["floor", "sse", "ws"] as const;
  for (let r = 0; r < ROUNDS; r++) {
    for (let k = 0; k < 3; k++) {
      const which = order[(r + k) % 3]!;
      if (which === "floor") one.floor.samples.push(await floor.reply());
      else if (which === "sse") {
        const m = await withCpu(() => sseReply(base, "solo-sse", `one-${r}`));
        one.sse.samples.push(m.value);
        one.sse.cpuMs.push(m.cpuMs);
        oneTicks.sse += m.tickMs;
      } else {
        const m = await withCpu(() => soloSocket.reply(`one-${r}`));
        one.ws.samples.push(m.value);
        one.ws.cpuMs.push(m.cpuMs);
        oneTicks.ws += m.tickMs;
      }
    }
  }

  const phase1Busy = busy(p1m0, machineCpu());

  // ---- phase 2: 50 users at once --------------------------------------------------------------
  log(`${USERS} users at once: ${CONCURRENT_ROUNDS} rounds per path...`);
  const wsConc = await pool(wsUsers.slice(0, USERS), 10, (u) => BenchSocket.open(base, u));
  sockets.push(...wsConc);
  const many = { floor: emptyPath(), sse: emptyPath(), ws: emptyPath() };
  const p2m0 = machineCpu();
  for (let r = 0; r < CONCURRENT_ROUNDS; r++) {
    for (let k = 0; k < 3; k++) {
      const which = order[(r + k) % 3]!;
      if (which === "floor") {
        many.floor.samples.push(...(await Promise.all(sseUsers.map(() => floor.reply()))));
      } else if (which === "sse") {
        const m = await withCpu(() => Promise.all(sseUsers.map((u) => sseReply(base, u, `many-${r}`))));
        many.sse.samples.push(...m.value);
        many.sse.cpuMs.push(m.cpuMs / USERS);
      } else {
        const m = await withCpu(() => Promise.all(wsConc.map((s) => s.reply(`many-${r}`))));
        many.ws.samples.push(...m.value);
        many.ws.cpuMs.push(m.cpuMs / USERS);
      }
      await sleep(100);
    }
  }

  const phase2Busy = busy(p2m0, machineCpu());

  // ---- phase 3: replies per second, 100 WebSocket users on one runtime ---------------------------
  log(`${TP_USERS} WebSocket users for ${TP_SECONDS} s: replies per second...`);
  const more = await pool(wsUsers.slice(USERS, TP_USERS), 10, (u) => BenchSocket.open(base, u));
  sockets.push(...more);
  const tpSockets = [...wsConc, ...more].slice(0, TP_USERS);
  const tpSamples: ReplySample[] = [];
  const deadline = now() + TP_SECONDS * 1000;
  const tp = await withCpu(() =>
    Promise.all(
      tpSockets.map(async (s, i) => {
        for (let k = 0; now() < deadline; k++) tpSamples.push(await s.reply(`tp-${i}-${k}`));
      }),
    ),
  );
  const tpOk = tpSamples.filter((s) => !s.error).length;
  const tpWall = tp.wallMs - 40;
  const throughput = {
    users: tpSockets.length,
    seconds: tpWall / 1000,
    replies: tpOk,
    errors: tpSamples.length - tpOk,
    repliesPerSecond: (tpOk / tpWall) * 1000,
    ceilingPerSecond: (tpSockets.length / (PIECES * INTERVAL_MS)) * 1000,
    cpuPerReplyMs: tp.cpuMs / Math.max(1, tpOk),
    workerdCpuShare: (tp.cpuMs + idleRate * tp.wallMs) / tp.wallMs,
    nodeCpuShare: tp.nodeMs / tp.wallMs,
    machineBusyCores: tp.machineBusyCores,
    latency: summarize(tpSamples),
  };
  const loadAfter = loadavg();
  log("done; stopping workerd and the stand-in");
  const logs = worker.logs.slice();
  await cleanup();

  // ---- report -----------------------------------------------------------------------------------
  const s1 = { floor: summarize(one.floor.samples), sse: summarize(one.sse.samples), ws: summarize(one.ws.samples) };
  const s50 = { floor: summarize(many.floor.samples), sse: summarize(many.sse.samples), ws: summarize(many.ws.samples) };
  const cpu1 = { sse: percentile(one.sse.cpuMs, 50), ws: percentile(one.ws.cpuMs, 50), sseMean: mean(one.sse.cpuMs), wsMean: mean(one.ws.cpuMs) };
  const cpu50 = { sse: mean(many.sse.cpuMs), ws: mean(many.ws.cpuMs) };
  const versions = runtimeVersions();

  const added = (path: Summary, fl: Summary, key: "firstP50" | "firstP99" | "p50" | "p99") => path[key] - fl[key];
  const met = (value: number, target: number) => (!Number.isFinite(value) ? "n/a" : value <= target ? "yes" : "NO");
  type Row = { label: string; target: string; targetValue: number; floor: number; sse: number; ws: number; sseAdded: number; wsAdded: number };
  const latencyRow = (label: string, targetValue: number, s: typeof s1, key: "firstP50" | "firstP99" | "p50" | "p99"): Row => ({
    label,
    target: Number.isFinite(targetValue) ? `≤ ${targetValue} ms added` : "(info)",
    targetValue,
    floor: s.floor[key],
    sse: s.sse[key],
    ws: s.ws[key],
    sseAdded: added(s.sse, s.floor, key),
    wsAdded: added(s.ws, s.floor, key),
  });
  const rows: Row[] = [
    latencyRow("1 user: first piece, p50", TARGETS.firstAddedMs, s1, "firstP50"),
    latencyRow("1 user: first piece, p99", Number.NaN, s1, "firstP99"),
    latencyRow("1 user: each piece, p50", TARGETS.p50AddedMs, s1, "p50"),
    latencyRow("1 user: each piece, p99", TARGETS.p99AddedMs, s1, "p99"),
    latencyRow(`${USERS} users: first piece, p50`, Number.NaN, s50, "firstP50"),
    latencyRow(`${USERS} users: each piece, p50`, TARGETS.p50Added50Ms, s50, "p50"),
    latencyRow(`${USERS} users: each piece, p99`, Number.NaN, s50, "p99"),
  ];
  const latencyTable = [
    ["latency (arrival − write), ms", "target", "floor", "SSE", "SSE added", "met", "WS", "WS added", "met"],
    ...rows.map((r) => [
      r.label, r.target, fmt(r.floor), fmt(r.sse), fmt(r.sseAdded), Number.isFinite(r.targetValue) ? met(r.sseAdded, r.targetValue) : "",
      fmt(r.ws), fmt(r.wsAdded), Number.isFinite(r.targetValue) ? met(r.wsAdded, r.targetValue) : "",
    ]),
  ];
  const otherTable = [
    ["other", "target", "SSE", "met", "WS", "met"],
    ["workerd CPU per 20-piece reply, 1 user (p50), ms", `≤ ${TARGETS.cpuPerReplyMs} ms`, fmt(cpu1.sse), met(cpu1.sse, TARGETS.cpuPerReplyMs), fmt(cpu1.ws), met(cpu1.ws, TARGETS.cpuPerReplyMs)],
    ["  same, mean over the 1-user replies, ms", "(info)", fmt(cpu1.sseMean), "", fmt(cpu1.wsMean), ""],
    ["  same, utime+stime cross-check (10 ms ticks), ms", "(info)", fmt(oneTicks.sse / ROUNDS), "", fmt(oneTicks.ws / ROUNDS), ""],
    [`workerd CPU per reply, ${USERS} users at once, ms`, "(info)", fmt(cpu50.sse), "", fmt(cpu50.ws), ""],
    ["delta frames per piece, 1 user", `≤ ${TARGETS.framesPerPiece}`, fmt(s1.sse.framesPerPiece), "", fmt(s1.ws.framesPerPiece), met(s1.ws.framesPerPiece, TARGETS.framesPerPiece)],
    [`delta frames per piece, ${USERS} users`, `≤ ${TARGETS.framesPerPiece}`, fmt(s50.sse.framesPerPiece), "", fmt(s50.ws.framesPerPiece), met(s50.ws.framesPerPiece, TARGETS.framesPerPiece)],
    [`  frames with no whole piece / with several`, "(info)", `${s1.sse.splitFrames + s50.sse.splitFrames} / ${s1.sse.coalescedFrames + s50.sse.coalescedFrames}`, "", `${s1.ws.splitFrames + s50.ws.splitFrames} / ${s1.ws.coalescedFrames + s50.ws.coalescedFrames}`, ""],
    ["reply duration p50 (request → last frame), 1 user, ms", "(info)", fmt(s1.sse.replyMsP50, 0), "", fmt(s1.ws.replyMsP50, 0), ""],
  ];
  const tpTable = [
    [`WebSocket, ${throughput.users} users on one runtime, ${fmt(throughput.seconds, 1)} s`, "value"],
    ["replies per second", fmt(throughput.repliesPerSecond, 1)],
    [`  ceiling set by the stand-in's pacing (${throughput.users} × 1 / (${PIECES} × ${INTERVAL_MS} ms))`, fmt(throughput.ceilingPerSecond, 1)],
    ["replies completed / failed", `${throughput.replies} / ${throughput.errors}`],
    ["workerd CPU per reply, ms", fmt(throughput.cpuPerReplyMs)],
    ["workerd CPU use, cores", fmt(throughput.workerdCpuShare)],
    ["this Node process (stand-in + clients) CPU use, cores", fmt(throughput.nodeCpuShare)],
    [`whole machine busy (everyone's work), cores of ${cpus().length}`, fmt(throughput.machineBusyCores)],
    ["each piece p50 / p99 (absolute, no floor at this load), ms", `${fmt(throughput.latency.p50)} / ${fmt(throughput.latency.p99)}`],
  ];

  const problems: string[] = [];
  for (const [name, s] of Object.entries({ "1-user floor": s1.floor, "1-user SSE": s1.sse, "1-user WS": s1.ws, [`${USERS}-user floor`]: s50.floor, [`${USERS}-user SSE`]: s50.sse, [`${USERS}-user WS`]: s50.ws })) {
    if (s.errors.length) problems.push(`${name}: ${s.errors.length} of ${s.replies} replies failed, e.g. ${s.errors[0]}`);
    if (s.incomplete) problems.push(`${name}: ${s.incomplete} replies did not carry all ${PIECES} pieces`);
  }
  if (throughput.errors) problems.push(`throughput: ${throughput.errors} replies failed, e.g. ${tpSamples.find((s) => s.error)?.error}`);
  if (pid === null) problems.push("workerd's pid was not found: CPU figures are n/a");

  const out: string[] = [];
  out.push("");
  out.push(`SoulPrint Home chat benchmark: ${PIECES} pieces ${INTERVAL_MS} ms apart per reply`);
  out.push(`workerd ${versions.workerd} via Miniflare ${versions.miniflare} (wrangler ${versions.wrangler}'s), Node ${process.versions.node}, ${cpus().length} CPUs`);
  out.push(`load average (1 min) before ${fmt(loadBefore[0]!)} / after ${fmt(loadAfter[0]!)}; machine busy ${fmt(phase1Busy)} cores (1 user), ${fmt(phase2Busy)} (${USERS} users) of ${cpus().length}:`);
  out.push("other work on this machine (and this bench itself) makes the figures noisy, the p99s most of all");
  out.push(`samples: 1 user ${s1.floor.replies}/${s1.sse.replies}/${s1.ws.replies} replies (floor/SSE/WS, ${s1.sse.pieces} SSE pieces); ${USERS} users ${s50.floor.replies}/${s50.sse.replies}/${s50.ws.replies} replies`);
  out.push("latency = a piece's arrival at the client − the stand-in's write stamp; floor = the stand-in straight to the AWS SDK in Node;");
  out.push("added = the path's percentile − the floor's percentile in the same phase (floor, SSE and WS interleaved).");
  out.push("");
  out.push(table(latencyTable));
  out.push("");
  out.push(table(otherTable));
  out.push("");
  out.push(table(tpTable));
  out.push("");
  out.push(`CPU = workerd's own CPU time (all threads, /proc/<pid>/task/*/schedstat) from sending a request until 40 ms after its`);
  out.push(`last frame, minus workerd's idle rate (${fmt(idleRate * 1000)} ms/s); it covers the Worker, the object, SQLite, the SDK, Miniflare's router.`);
  if (problems.length) {
    out.push("");
    out.push("PROBLEMS:");
    for (const p of problems) out.push(`  - ${p}`);
    if (logs.length) out.push(`  Worker warn/error logs (last 5):\n${logs.slice(-5).map((l) => `    ${l}`).join("\n")}`);
  }
  console.log(out.join("\n"));
  if (JSON_OUT) {
    console.log(JSON.stringify({ pieces: PIECES, intervalMs: INTERVAL_MS, oneUser: s1, manyUsers: { users: USERS, ...s50 }, cpu: { oneUser: cpu1, manyUsers: cpu50, idleMsPerS: idleRate * 1000, oneUserSse: one.sse.cpuMs, oneUserWs: one.ws.cpuMs },
      perIndex: { sse: perIndex(one.sse.samples), ws: perIndex(one.ws.samples), floor: perIndex(one.floor.samples) }, throughput, versions, loadBefore, loadAfter }, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v)));
  }
}

/** Jiffies the whole machine spent busy and in total (/proc/stat), to show how loaded it was. */
function machineCpu(): { busy: number; total: number } {
  const v = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = sum(v.slice(0, 8));
  return { busy: total - v[3]! - v[4]!, total };
}

/** Per piece index: the max latency over the replies (where the slow pieces sit in a reply). */
function perIndex(samples: ReplySample[]): number[] {
  return Array.from({ length: PIECES }, (_, i) => Math.max(...samples.map((s) => s.latencies[i] ?? Number.NaN)));
}

function runtimeVersions(): { wrangler: string; miniflare: string; workerd: string } {
  const read = (path: string) => JSON.parse(readFileSync(path, "utf8")) as { version: string; dependencies?: Record<string, string> };
  try {
    const req = createRequire(new URL("../node_modules/wrangler/package.json", import.meta.url));
    const wrangler = read(req.resolve("wrangler/package.json"));
    const mfPath = req.resolve("miniflare/package.json");
    const mf = read(mfPath);
    return { wrangler: wrangler.version, miniflare: mf.version, workerd: mf.dependencies?.workerd ?? "?" };
  } catch {
    return { wrangler: "?", miniflare: "?", workerd: "?" };
  }
}

let exitCode = 0;
try {
  await main();
} catch (err) {
  console.error(`bench failed: ${(err as Error).stack ?? err}`);
  exitCode = 1;
}
await cleanup();
clearTimeout(watchdog);
// Everything started here is stopped by now; exit rather than wait for idle keep-alive sockets.
process.exit(exitCode);
