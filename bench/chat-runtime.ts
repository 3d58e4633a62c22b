/**
 * The Worker for the chat benchmark, in workerd through Miniflare's API, configured from wrangler.toml.
 *
 * Why Miniflare directly (not `wrangler dev` / `unstable_startWorker`): both put wrangler's own proxy
 * worker (a second hop through another workerd) in front of the Worker, which is the extra latency
 * /work/shared/reference/toolchain.md warns about, and the wrangler CLI also checks npm for updates
 * (the bench talks to 127.0.0.1 only). Here requests go client → workerd → Worker → Durable Object,
 * as on the edge. The configuration is still wrangler's: `unstable_getMiniflareWorkerOptions` turns
 * wrangler.toml into Miniflare options (vars, SQLite Durable Objects, R2, static assets and
 * `run_worker_first`), and the Miniflare used is the one wrangler itself depends on. The code is
 * bundled with esbuild using the options `wrangler deploy` uses (conditions workerd/worker/browser,
 * ESM, es2024, keepNames), so the bundle is what would ship. Storage is in memory: nothing is left
 * on disk.
 */
import { createRequire } from "node:module";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { randomBytes } from "node:crypto";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

export interface WorkerRuntime {
  /** Base URL of the Worker, `http://127.0.0.1:<port>`. */
  url: string;
  /** Process id of workerd (a child of this Node process), or null when it could not be found. */
  workerdPid: number | null;
  /** Secrets the Worker was started with (the bench mints nothing with them: it uses Email auth). */
  secrets: Record<string, string>;
  /** Lines the Worker logged at warn/error level (shown when something fails). */
  logs: string[];
  dispose(): Promise<void>;
}

/** Loads the Miniflare wrangler depends on (nested under wrangler, or hoisted). */
async function loadMiniflare(): Promise<typeof import("miniflare")> {
  try {
    const fromWrangler = createRequire(`${ROOT}node_modules/wrangler/package.json`).resolve("miniflare");
    return (await import(pathToFileURL(fromWrangler).href)) as typeof import("miniflare");
  } catch {
    return await import("miniflare");
  }
}

async function bundle(entry: string): Promise<string> {
  const esbuild = await import("esbuild");
  const result = await esbuild.build({
    entryPoints: [entry],
    absWorkingDir: ROOT,
    bundle: true,
    write: false,
    format: "esm",
    target: "es2024",
    conditions: ["workerd", "worker", "browser"],
    keepNames: true,
    external: ["cloudflare:*", "node:*", "__STATIC_CONTENT_MANIFEST"],
    define: {
      "process.env.NODE_ENV": '"production"',
      "global.process.env.NODE_ENV": '"production"',
      "globalThis.process.env.NODE_ENV": '"production"',
      "navigator.userAgent": '"Cloudflare-Workers"',
    },
    logLevel: "silent",
  });
  return result.outputFiles[0]!.text;
}

/** workerd processes whose parent is this Node process. */
export function childWorkerdPids(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const ppid = Number(stat.slice(close + 2).split(" ")[1]);
      if (ppid === process.pid && comm.includes("workerd")) pids.push(Number(name));
    } catch {
      // the process went away while we looked
    }
  }
  return pids;
}

export async function startWorker(overrides: Record<string, string>): Promise<WorkerRuntime> {
  process.env.WRANGLER_LOG ??= "error";
  process.env.WRANGLER_SEND_METRICS = "false";
  process.env.CLOUDFLARE_CF_FETCH_ENABLED = "false";
  const { unstable_getMiniflareWorkerOptions, unstable_readConfig } = await import("wrangler");
  const config = unstable_readConfig({ config: `${ROOT}wrangler.toml` });
  // envFiles (honoured at runtime, missing from the published types): a path that does not exist, so
  // the developer's .dev.vars (maybe real keys) is not read; every secret comes from here.
  const noEnvFiles = { envFiles: [`${ROOT}bench/.no-env-file`] } as Parameters<typeof unstable_getMiniflareWorkerOptions>[2];
  const { workerOptions, main } = unstable_getMiniflareWorkerOptions(config, undefined, noEnvFiles);
  const script = await bundle(main ?? `${ROOT}src/index.ts`);
  const { Miniflare, Log, LogLevel, convertV4MiniflareOptions } = await loadMiniflare();

  const secret = () => randomBytes(32).toString("hex");
  const secrets = {
    AUTH_SECRET: secret(),
    USER_ID_SALT: secret(),
    ADMIN_TOKEN: secret(),
    ENCRYPTION_KEY: secret(),
  };
  const logs: string[] = [];
  const before = new Set(childWorkerdPids());
  const options = workerOptions as Record<string, unknown>;
  // Miniflare 5 takes `{ workers: [{ config, dev }] }`; wrangler builds the v4 shape and converts it
  // with convertV4MiniflareOptions, and so does this (the v4 adapter also leaves the dev registry off).
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      host: "127.0.0.1",
      port: 0,
      cf: false, // no fetch of workers.cloudflare.com/cf.json: a fixed Request.cf
      log: new Log(LogLevel.WARN),
      handleStructuredLogs: ({ level, message }: { level: string; message: string }) => {
        if (level === "warn" || level === "error") logs.push(message);
      },
      ...options,
      name: "soulprint-home",
      modules: [{ type: "ESModule", path: `${ROOT}bench/.bundle/index.js`, contents: script }],
      bindings: {
        ...(options.bindings as Record<string, unknown>),
        AWS_BEARER_TOKEN_BEDROCK: "",
        FLY_API_TOKEN: "",
        ...secrets,
        ...overrides,
      },
    } as Parameters<typeof convertV4MiniflareOptions>[0]),
  );
  let disposed = false;
  const dispose = async () => {
    if (disposed) return;
    disposed = true;
    const pids = childWorkerdPids().filter((p) => !before.has(p));
    try {
      await mf.dispose();
    } finally {
      for (const pid of pids) {
        try {
          process.kill(pid, "SIGKILL"); // only if dispose left it behind (our own child, by pid)
        } catch {
          // already gone
        }
      }
    }
  };
  try {
    const url = (await mf.ready).toString().replace(/\/$/, "");
    const pids = childWorkerdPids().filter((p) => !before.has(p));
    return { url, workerdPid: pids[0] ?? null, secrets, logs, dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}

/** CPU time of a process in ms: all its threads' on-CPU time from schedstat (ns), else utime+stime (ticks). */
export function processCpuMs(pid: number): { schedMs: number | null; tickMs: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  const tickMs = ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  let schedNs = 0;
  let ok = true;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        schedNs += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
      } catch {
        // a thread ended between readdir and read
      }
    }
  } catch {
    ok = false;
  }
  return { schedMs: ok ? schedNs / 1e6 : null, tickMs };
}
