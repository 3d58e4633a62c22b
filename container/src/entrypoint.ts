/**
 * The image's entrypoint: turns the container contract (env from Fly secrets, files under
 * CONTAINER_WORKSPACE_DIR) into OpenClaw's configuration and workspace, runs the OpenClaw gateway
 * on loopback, serves the one public port, and writes changed workspace files back to the Worker.
 *
 * Run: `node src/entrypoint.ts` (Node ≥ 24.16, which strips the TypeScript types itself).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ContractError, readContract, readInternalPorts } from "./contract.ts";
import { collectWorkspaceFiles, seedWorkspace } from "./workspace.ts";
import { buildOpenClawConfig, openClawEnv, TELEGRAM_WEBHOOK_PATH } from "./openclaw-config.ts";
import { startBotApiShim, type BotApiShim } from "./botapi-shim.ts";
import { readiness, startFront, type FrontServer } from "./front.ts";
import { WriteBack } from "./writeback.ts";
import { WorkspaceSync } from "./workspace-sync.ts";
import { StateSync } from "./state-sync.ts";
import { ScheduleReporter } from "./schedule-report.ts";

const log = (line: string) => console.log(`[soulprint] ${line}`);

/** OpenClaw's CLI entry: the installed package next to this one, or OPENCLAW_ENTRY. */
function openClawEntry(env: NodeJS.ProcessEnv): string {
  if (env.OPENCLAW_ENTRY) return resolve(env.OPENCLAW_ENTRY);
  const here = dirname(fileURLToPath(import.meta.url));
  return resolve(here, "..", "node_modules", "openclaw", "openclaw.mjs");
}

async function main(): Promise<void> {
  const started = Date.now();
  const env = process.env;
  let contract;
  try {
    contract = readContract(env);
  } catch (error) {
    if (error instanceof ContractError) {
      console.error(`[soulprint] configuration error: ${error.message}`);
      process.exit(78); // EX_CONFIG: a restart will not help
    }
    throw error;
  }
  const ports = readInternalPorts(env);
  const home = env.HOME ?? "/home/node";
  const stateDir = resolve(env.OPENCLAW_STATE_DIR ?? join(home, ".openclaw"));
  const configPath = resolve(env.OPENCLAW_CONFIG_PATH ?? join(stateDir, "openclaw.json"));
  const workspace = resolve(env.SOULPRINT_AGENT_WORKSPACE ?? join(stateDir, "workspace"));
  mkdirSync(stateDir, { recursive: true });

  const callback = contract.callbackUrl && contract.userId ? { callbackUrl: contract.callbackUrl, userId: contract.userId, gatewayToken: contract.gatewayToken } : null;

  // 0. OpenClaw's state (sessions, memory notes, cron) from the Worker, before OpenClaw starts:
  //    /health cannot turn 200 before it is in place (issue 15).
  const stateSync = callback ? new StateSync({ ...callback, stateDir, debounceMs: numberEnv(env.SOULPRINT_STATE_DEBOUNCE_MS, 10_000), pollMs: numberEnv(env.SOULPRINT_STATE_POLL_MS, 5_000), log }) : null;
  if (stateSync) await stateSync.restore();

  // 1. The workspace: the secrets (the cold-boot fallback), then the Worker's current files.
  const collected = collectWorkspaceFiles(env, contract.workspaceMountDir);
  for (const problem of collected.problems) log(`workspace: ${problem}`);
  const seeded = seedWorkspace(workspace, collected.files);
  log(`workspace ${workspace}: ${seeded.written.map((n) => `${n} (${collected.sources.get(n)})`).join(", ") || "no files"}${seeded.removed.length ? `; removed ${seeded.removed.join(", ")}` : ""}`);
  const workspaceSync = callback ? new WorkspaceSync({ ...callback, dir: workspace, log }) : null;

  // 2. OpenClaw's configuration (no secrets in it: SecretRefs to the env).
  const config = buildOpenClawConfig(contract, ports, { workspace, logFile: join(stateDir, "logs", "openclaw.log") });
  mkdirSync(dirname(configPath), { recursive: true });
  writeFileSync(configPath, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  chmodSync(configPath, 0o600);
  log(`config ${configPath}: model ${contract.model.kind} ${contract.model.baseUrl} ${contract.model.modelId}, telegram ${contract.telegram ? "webhook" : "off"}`);

  // 3. Write-back, before OpenClaw starts, so nothing it writes is missed.
  let writeBack: WriteBack | null = null;
  if (callback) {
    writeBack = new WriteBack({
      dir: workspace,
      ...callback,
      baseline: collected.files,
      debounceMs: numberEnv(env.SOULPRINT_WRITEBACK_DEBOUNCE_MS, 1_500),
      pollMs: numberEnv(env.SOULPRINT_WRITEBACK_POLL_MS, 5_000),
      log,
      onConflict: (name) => void workspaceSync?.takeWorkerVersion(name),
    });
    workspaceSync?.setBaseline(writeBack);
    await workspaceSync?.refresh("boot");
    writeBack.start();
    workspaceSync?.watchResume();
  } else {
    log("write-back, workspace refresh and state saving off: SOULPRINT_CALLBACK_URL or SOULPRINT_USER_ID is not set");
  }

  // 4. The Bot API shim (the Worker owns the bot's webhook) and the public front server.
  let shim: BotApiShim | null = null;
  if (contract.telegram) {
    shim = await startBotApiShim({ worker: contract.telegram.workerUrl, gatewayToken: contract.gatewayToken, port: ports.botApi, log });
  }
  const front: FrontServer = await startFront({
    port: contract.port,
    host: contract.host,
    gatewayPort: ports.gateway,
    telegram: contract.telegram ? { port: ports.telegram, path: TELEGRAM_WEBHOOK_PATH, secret: contract.telegram.webhookSecret } : null,
    channels: contract.telegram ? ["telegram"] : [],
    beforeForward: workspaceSync ? (version) => workspaceSync.noteVersion(version) : undefined,
    log,
  });
  log(`listening on ${contract.host ?? "*"}:${front.port}`);

  // 5. OpenClaw itself.
  const entry = openClawEntry(env);
  if (!existsSync(entry)) throw new Error(`OpenClaw is not installed at ${entry}`);
  const child: ChildProcess = spawn(process.execPath, [entry, "gateway", "run", "--port", String(ports.gateway)], {
    env: openClawEnv(env, stateDir, configPath),
    cwd: workspace,
    stdio: ["ignore", "inherit", "inherit"],
  });
  log(`openclaw pid ${child.pid} (${entry})`);
  stateSync?.start();
  const schedule = callback ? new ScheduleReporter({ ...callback, stateDir, pollMs: numberEnv(env.SOULPRINT_SCHEDULE_POLL_MS, 10_000), log }) : null;
  schedule?.start();

  let stopping = false;
  void (async () => {
    while (!stopping) {
      const state = await readiness(ports.gateway, contract.telegram ? ["telegram"] : []);
      if (state.ok) {
        log(`ready after ${((Date.now() - started) / 1000).toFixed(1)} s (${state.status})`);
        return;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  })();

  const shutdown = async (code: number, why: string) => {
    if (stopping) return;
    stopping = true;
    const t0 = Date.now();
    log(`stopping: ${why}`);
    // Files first: the machine's disk does not survive a stop.
    await writeBack?.flush(numberEnv(env.SOULPRINT_WRITEBACK_FLUSH_MS, 3_000)).catch(() => {});
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise<boolean>((r) => child.once("exit", () => r(true)));
      child.kill("SIGTERM");
      const exited = await Promise.race([gone, new Promise<boolean>((r) => setTimeout(() => r(false), numberEnv(env.SOULPRINT_STOP_GRACE_MS, 8_000)))]);
      if (!exited) {
        log("openclaw did not exit in time: SIGKILL");
        child.kill("SIGKILL");
      }
    }
    schedule?.stop();
    workspaceSync?.stop();
    // OpenClaw has stopped writing: the last snapshot of its state is consistent.
    await stateSync?.flush(numberEnv(env.SOULPRINT_STATE_FLUSH_MS, 10_000)).catch(() => {});
    await Promise.allSettled([front.close(), shim?.close()]);
    log(`stopped in ${Date.now() - t0} ms`);
    process.exit(code);
  };

  child.on("exit", (code, signal) => {
    if (stopping) return;
    log(`openclaw exited (${signal ?? `code ${code}`})`);
    // The machine restarts us (restart policy on-failure); pending files go first.
    void shutdown(code === 0 ? 1 : (code ?? 1), "OpenClaw exited");
  });
  for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => void shutdown(0, signal));
}

function numberEnv(raw: string | undefined, fallback: number): number {
  const n = Number(raw);
  return raw !== undefined && raw.trim() !== "" && Number.isFinite(n) && n >= 0 ? n : fallback;
}

main().catch((error: unknown) => {
  console.error(`[soulprint] fatal: ${(error as Error)?.stack ?? error}`);
  process.exit(1);
});
