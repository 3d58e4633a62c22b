/**
 * The machine config every agent machine gets, as a pure function of the configuration, and the
 * drift check the reconcile job uses. It does not depend on the workspace (no `files` mounts): a
 * new or deleted workspace file must not change the config, or it would reboot the machine; the
 * container reads the files from the Worker and falls back to the `<STEM>_MD_B64` env (issue 15).
 */
import type { AutostopMode, Machine, MachineConfig } from "./fly-types.ts";

export interface MachineConfigInput {
  image: string;
  port: number;
  memoryMb: number;
  autostop: AutostopMode;
  userId: string;
}

/** Memory a shared CPU may carry: Fly sizes shared-cpu-Nx at up to 2 GB per CPU. */
const SHARED_MB_PER_CPU = 2048;
/** Suspend snapshots the RAM; Fly allows it only up to 2 GB (reference, suspend-resume). */
const SUSPEND_MAX_MB = 2048;

/** Machine names: the first is the one that runs; the others are created stopped for load. */
export function machineNames(count: number): string[] {
  return Array.from({ length: Math.max(1, count) }, (_, i) => `agent-${i + 1}`);
}

/** Fly wants memory in multiples of 256 MB. */
export function roundMemory(memoryMb: number): number {
  return Math.max(256, Math.ceil(memoryMb / 256) * 256);
}

/** Suspend needs ≤ 2 GB; a bigger machine falls back to stop rather than being refused. */
export function effectiveAutostop(mode: AutostopMode, memoryMb: number): AutostopMode {
  return mode === "suspend" && roundMemory(memoryMb) > SUSPEND_MAX_MB ? "stop" : mode;
}

export function buildMachineConfig(input: MachineConfigInput): MachineConfig {
  const memoryMb = roundMemory(input.memoryMb);
  return {
    image: input.image,
    guest: { cpu_kind: "shared", cpus: Math.max(1, Math.ceil(memoryMb / SHARED_MB_PER_CPU)), memory_mb: memoryMb },
    services: [
      {
        protocol: "tcp",
        internal_port: input.port,
        ports: [
          { port: 80, handlers: ["http"], force_https: true },
          { port: 443, handlers: ["tls", "http"] },
        ],
        // Without autostop the proxy starts machines but never stops them: idle
        // users must cost only storage.
        autostop: effectiveAutostop(input.autostop, memoryMb),
        autostart: true,
        min_machines_running: 0,
        // One person's agent: a few parallel requests (chat stream, Telegram, a tool) is normal;
        // past the soft limit the proxy prefers waking another machine when there is one.
        concurrency: { type: "requests", soft_limit: 10, hard_limit: 25 },
        checks: [
          // The image's cold start at 1 CPU: 27–35 s, 62–78 s with the CPU contended (container/README.md);
          // the grace period covers the slow case, like the image's own HEALTHCHECK start period.
          { type: "http", port: input.port, method: "GET", path: "/health", interval: "15s", timeout: "10s", grace_period: "90s" },
        ],
      },
    ],
    restart: { policy: "on-failure", max_retries: 10 },
    // On SIGTERM the container sends pending files, stops OpenClaw, then saves OpenClaw's state
    // (issue 15): up to ~20 s, more than Fly's default grace before it kills the machine.
    stop_config: { signal: "SIGTERM", timeout: "30s" },
    metadata: { soulprint_user: input.userId, soulprint_role: "agent" },
  };
}

/**
 * Does a machine run what we want? Lists the top-level fields that differ. Only what we set is
 * compared (desired must be contained in actual): Fly fills in defaults and fields of its own,
 * which are not drift and must not cause a reboot on every reconcile.
 */
export function configDrift(actual: MachineConfig | undefined, desired: MachineConfig): string[] {
  if (!actual) return ["config"];
  const have = actual as unknown as Record<string, unknown>;
  return Object.entries(desired as unknown as Record<string, unknown>)
    .filter(([key, want]) => !contains(have[key], want))
    .map(([key]) => key);
}

/** True when every field of `want` is in `have` with the same value (arrays: same length, in order). */
export function contains(have: unknown, want: unknown): boolean {
  if (Array.isArray(want)) {
    return Array.isArray(have) && have.length === want.length && want.every((w, i) => contains(have[i], w));
  }
  if (want !== null && typeof want === "object") {
    if (have === null || typeof have !== "object" || Array.isArray(have)) return false;
    const h = have as Record<string, unknown>;
    return Object.entries(want as Record<string, unknown>).every(([k, w]) => contains(h[k], w));
  }
  return have === want;
}

/** A short fingerprint of a config, to notice "this machine already has it" without a Fly call. */
export function configKey(config: MachineConfig): string {
  return stableJson(config);
}

/** JSON with object keys sorted, so two equal configs serialise the same. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** One of this user's agent machines (by our metadata, or by name when Fly dropped the metadata). */
export function isAgentMachine(machine: Pick<Machine, "name" | "config">, userId: string): boolean {
  return machine.config?.metadata?.soulprint_user === userId || /^agent-\d+$/.test(machine.name);
}

/** The machine that should run; the others stay stopped until the proxy wants them. */
export function isPrimary(machine: Pick<Machine, "name">): boolean {
  return machine.name === machineNames(1)[0];
}
