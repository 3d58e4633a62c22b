/**
 * Runs the container's entrypoint (and so the real OpenClaw) as a local process, the way Fly runs
 * the image, minus Docker: same env contract, its own HOME/state dir, free loopback ports. Also
 * samples the memory of the whole process tree, for the README's sizing figures.
 *
 * Usable by other test suites (e.g. the hybrid tests' real-container mode):
 *   const c = await startContainer({ env: { GATEWAY_TOKEN, SOULPRINT_MODEL_BASE_URL, ... } });
 *   await c.waitHealthy(); ... await c.stop();
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const CONTAINER_DIR = resolve(import.meta.dirname, "..", "..");
export const ENTRYPOINT = join(CONTAINER_DIR, "src", "entrypoint.ts");

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const server = createServer();
    server.once("error", rej);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => res(port));
    });
  });
}

export interface MemorySample {
  at: number;
  /** Sum of VmRSS over the entrypoint and all its descendants (kB). */
  totalRssKb: number;
  processes: number;
}

export interface RunningContainer {
  url: string;
  port: number;
  pid: number;
  home: string;
  stateDir: string;
  workspace: string;
  logs: string[];
  startedAt: number;
  child: ChildProcess;
  /** Resolves with the ms from spawn to the first /health 200; `statuses` lists what /health said before. */
  waitHealthy(timeoutMs?: number): Promise<{ ms: number; statuses: (number | string)[] }>;
  /** Highest total RSS seen so far, and the per-process peak (VmHWM) of the biggest process. */
  memory(): { peakTotalRssKb: number; peakProcessHwmKb: number; samples: number };
  /** SIGTERM, wait for exit (ms it took), clean up the temp dirs. */
  /** `signal` "SIGKILL" in the answer: it did not exit within 30 s and was killed. */
  stop(signal?: NodeJS.Signals): Promise<{ ms: number; code: number | null; signal: NodeJS.Signals | null }>;
}

function readStatus(pid: number): Record<string, string> {
  try {
    const out: Record<string, string> = {};
    for (const line of readFileSync(`/proc/${pid}/status`, "utf8").split("\n")) {
      const i = line.indexOf(":");
      if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
    }
    return out;
  } catch {
    return {};
  }
}

/** The pid and every descendant (Linux /proc). */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const ppid = Number(readStatus(Number(entry)).PPid);
    if (!Number.isFinite(ppid)) continue;
    children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop()!;
    out.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** A process's start time (clock ticks since boot): with the pid, it names one process for good. */
function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}

const kb = (v: string | undefined) => Number((v ?? "0").replace(/\s*kB$/, "")) || 0;

export async function startContainer(options: {
  env: Record<string, string>;
  /** Files Fly would mount under CONTAINER_WORKSPACE_DIR (config.files). */
  mountFiles?: Record<string, string>;
  echo?: boolean;
  /**
   * HOME at this path (created empty; removed by stop) instead of a fresh temp dir: every machine of
   * one image has the same paths (/home/node on Fly), and OpenClaw files its cron jobs under the
   * absolute path of its state directory.
   */
  home?: string;
}): Promise<RunningContainer> {
  const home = options.home ?? mkdtempSync(join(tmpdir(), "soulprint-container-"));
  if (options.home) {
    if (existsSync(home) && readdirSync(home).length > 0) throw new Error(`${home} is not empty: a new machine starts with an empty disk`);
    mkdirSync(home, { recursive: true });
  }
  const stateDir = join(home, ".openclaw");
  const port = Number(options.env.CONTAINER_PORT ?? (await freePort()));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: home,
    TMPDIR: home,
    OPENCLAW_STATE_DIR: stateDir,
    CONTAINER_PORT: String(port),
    CONTAINER_HOST: "127.0.0.1",
    CONTAINER_WORKSPACE_DIR: join(home, "workspace-mount"),
    SOULPRINT_GATEWAY_PORT: String(await freePort()),
    SOULPRINT_TELEGRAM_PORT: String(await freePort()),
    SOULPRINT_BOTAPI_PORT: String(await freePort()),
    ...options.env,
  };
  mkdirSync(env.CONTAINER_WORKSPACE_DIR!, { recursive: true });
  for (const [name, content] of Object.entries(options.mountFiles ?? {})) writeFileSync(join(env.CONTAINER_WORKSPACE_DIR!, name), content);
  const startedAt = Date.now();
  const child = spawn(process.execPath, [ENTRYPOINT], { env, cwd: CONTAINER_DIR, stdio: ["ignore", "pipe", "pipe"] });
  const logs: string[] = [];
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString("utf8").split("\n")) {
      if (!line) continue;
      logs.push(line);
      if (options.echo) process.stderr.write(`    │ ${line}\n`);
    }
    if (logs.length > 5000) logs.splice(0, logs.length - 5000);
  };
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once("exit", (code, signal) => r({ code, signal })));

  let peakTotalRssKb = 0;
  let peakProcessHwmKb = 0;
  let samples = 0;
  const sample = () => {
    if (child.exitCode !== null || !child.pid) return;
    let total = 0;
    for (const pid of processTree(child.pid)) {
      const status = readStatus(pid);
      total += kb(status.VmRSS);
      peakProcessHwmKb = Math.max(peakProcessHwmKb, kb(status.VmHWM));
    }
    peakTotalRssKb = Math.max(peakTotalRssKb, total);
    samples++;
  };
  const sampler = setInterval(sample, 500);
  sampler.unref();

  const url = `http://127.0.0.1:${port}`;
  return {
    url, port, pid: child.pid!, home, stateDir, workspace: join(stateDir, "workspace"), logs, startedAt, child,
    async waitHealthy(timeoutMs = 240_000) {
      const statuses: (number | string)[] = [];
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (child.exitCode !== null) throw new Error(`the container exited with ${child.exitCode}:\n${logs.slice(-40).join("\n")}`);
        try {
          const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(5_000) });
          await res.body?.cancel();
          if (statuses.at(-1) !== res.status) statuses.push(res.status);
          if (res.ok) return { ms: Date.now() - startedAt, statuses };
        } catch (error) {
          const what = (error as Error).name;
          if (statuses.at(-1) !== what) statuses.push(what);
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error(`/health not 200 after ${timeoutMs} ms:\n${logs.slice(-40).join("\n")}`);
    },
    memory() {
      sample();
      return { peakTotalRssKb, peakProcessHwmKb, samples };
    },
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      clearInterval(sampler);
      const t0 = Date.now();
      const tree = (child.pid ? processTree(child.pid) : []).map((pid) => ({ pid, started: startTime(pid) }));
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timeout = new Promise<null>((r) => setTimeout(() => r(null), 30_000));
      const result = await Promise.race([exited, timeout]);
      // Whatever is left of the tree we started (same pid and start time: never anything else).
      for (const { pid, started } of tree) {
        if (started === null || startTime(pid) !== started) continue;
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
      rmSync(home, { recursive: true, force: true });
      return { ms: Date.now() - t0, code: result ? result.code : null, signal: result ? result.signal : "SIGKILL" };
    },
  };
}
