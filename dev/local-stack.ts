/**
 * The whole product on this machine for scripts (soak, end-to-end): the stand-ins on free ports and
 * `wrangler dev` pointed at them, with fresh random secrets and a fresh state directory. A developer's
 * `.dev.vars` is never read (an explicit --env-file replaces it), so real credentials cannot leak in.
 * `stop()` ends wrangler's whole process group (wrangler and its workerd) and the stand-ins.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SECRET_NAMES = ["AUTH_SECRET", "USER_ID_SALT", "ADMIN_TOKEN", "ENCRYPTION_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_BEARER_TOKEN_BEDROCK", "FLY_API_TOKEN"];

export interface LocalStack {
  /** The Worker, `http://127.0.0.1:<port>`. */
  base: string;
  bedrockUrl: string;
  telegramUrl: string;
  flyUrl: string;
  vars: Record<string, string>;
  /** The last lines wrangler printed (for failure reports). */
  log(): string;
  stop(): Promise<void>;
  /** Synchronous last resort for `process.on("exit")`: SIGKILL wrangler's group, remove the files. */
  kill(): void;
}

interface Standin {
  url: string;
  appUrlTemplate?: string;
  close(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startLocalStack(options: { vars?: Record<string, string>; readyTimeoutMs?: number } = {}): Promise<LocalStack> {
  const hex = (n: number) => randomBytes(n).toString("hex");
  const standins: Standin[] = [];
  const bedrock: Standin = await (await import("./bedrock-standin.ts")).start({ port: 0 });
  standins.push(bedrock);
  const telegram: Standin = await (await import("./telegram-standin.ts")).start({ port: 0 });
  standins.push(telegram);
  const flyToken = `local-fly-${hex(8)}`;
  const fly: Standin = await (await import("./fly-standin.ts")).start({ port: 0, token: flyToken });
  standins.push(fly);

  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const tempDir = mkdtempSync(join(tmpdir(), "soulprint-stack-"));
  const vars: Record<string, string> = {
    AUTH_SECRET: hex(32),
    USER_ID_SALT: hex(32),
    ADMIN_TOKEN: hex(32),
    ENCRYPTION_KEY: hex(32),
    AWS_ACCESS_KEY_ID: "AKIDLOCALSTACK",
    AWS_SECRET_ACCESS_KEY: "local-stack-secret",
    AWS_BEARER_TOKEN_BEDROCK: "",
    BEDROCK_ENDPOINT: bedrock.url,
    TELEGRAM_API_ROOT: telegram.url,
    FLY_API_BASE: fly.url,
    FLY_APP_URL: fly.appUrlTemplate ?? "",
    FLY_API_TOKEN: flyToken,
    // The Fly stand-in only records the image; this is the name `npm run image` builds.
    CLAWDBOT_IMAGE: "localhost/soulprint-agent:dev",
    ALLOW_EMAIL_AUTH: "true",
    PUBLIC_URL: base,
    ...options.vars,
  };
  const envFile = join(tempDir, "stack.env");
  writeFileSync(envFile, Object.entries(vars).map(([k, v]) => `${k}=${v}`).join("\n") + "\n");
  const args = [
    join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js"), "dev",
    "--port", String(port), "--ip", "127.0.0.1",
    "--inspector-port", String(await freePort()), "--inspector-ip", "127.0.0.1",
    "--show-interactive-dev-session=false",
    "--persist-to", join(tempDir, "state"),
    "--env-file", envFile,
    "--log-level", "warn",
  ];
  for (const [key, value] of Object.entries(vars)) args.push("--var", `${key}:${value}`);
  // WRANGLER_HIDE_BANNER: the banner would ask the npm registry for updates (127.0.0.1 only here).
  const env: NodeJS.ProcessEnv = { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true" };
  // With --env-file wrangler still merges required secrets from its environment: remove them.
  for (const name of SECRET_NAMES) delete env[name];
  // Its own process group, so wrangler and its workerd stop together, by wrangler's pid.
  const wrangler: ChildProcess = spawn(process.execPath, args, { cwd: ROOT, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  const keep = (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-20_000);
  };
  wrangler.stdout?.on("data", keep);
  wrangler.stderr?.on("data", keep);

  const kill = () => {
    try {
      if (wrangler.pid) process.kill(-wrangler.pid, "SIGKILL");
    } catch {
      // already gone
    }
    rmSync(tempDir, { recursive: true, force: true });
  };
  let stopped: Promise<void> | null = null;
  const stop = () =>
    (stopped ??= (async () => {
      if (wrangler.pid && wrangler.exitCode === null) {
        try {
          process.kill(-wrangler.pid, "SIGTERM");
        } catch {
          // already gone
        }
        const until = Date.now() + 5_000;
        while (wrangler.exitCode === null && wrangler.signalCode === null && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
        try {
          process.kill(-wrangler.pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
      await Promise.allSettled(standins.map((s) => s.close()));
      rmSync(tempDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    })());

  const deadline = Date.now() + (options.readyTimeoutMs ?? 90_000);
  for (;;) {
    if (wrangler.exitCode !== null || wrangler.signalCode !== null) {
      await stop();
      throw new Error(`wrangler dev exited early:\n${log}`);
    }
    try {
      const res = await fetch(`${base}/api/health`, { signal: AbortSignal.timeout(5_000) });
      if (res.ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler dev did not answer /api/health in time:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { base, bedrockUrl: bedrock.url, telegramUrl: telegram.url, flyUrl: fly.url, vars, log: () => log, stop, kill };
}
