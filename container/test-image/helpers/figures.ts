/**
 * Memory of a running container for the README's sizing figures, read inside it: the cgroup's
 * charge (what an OOM kill is decided on; cgroup v1 or v2) and the sum of every process's RSS.
 */
import type { StartedContainer } from "./podman.ts";

export interface MemoryFigures {
  cgroupMb: number;
  cgroupPeakMb: number | null;
  rssMb: number;
  processes: number;
}

const PROBE = `
const fs = require("fs");
const read = (p) => { try { return fs.readFileSync(p, "utf8").trim(); } catch { return null; } };
const cg = read("/sys/fs/cgroup/memory.current") ?? read("/sys/fs/cgroup/memory/memory.usage_in_bytes");
const peak = read("/sys/fs/cgroup/memory.peak") ?? read("/sys/fs/cgroup/memory/memory.max_usage_in_bytes");
let rss = 0, n = 0;
for (const pid of fs.readdirSync("/proc").filter((d) => /^\\d+$/.test(d))) {
  const m = /VmRSS:\\s+(\\d+) kB/.exec(read("/proc/" + pid + "/status") ?? "");
  if (m) { rss += Number(m[1]); n++; }
}
console.log(JSON.stringify({ cg: Number(cg), peak: peak === null ? null : Number(peak), rssKb: rss, n }));
`;

export async function memory(container: StartedContainer): Promise<MemoryFigures> {
  const run = await container.exec(["node", "-e", PROBE]);
  if (run.code !== 0) throw new Error(`memory probe failed: ${run.stderr}`);
  const m = JSON.parse(run.stdout) as { cg: number; peak: number | null; rssKb: number; n: number };
  const mb = (bytes: number) => Math.round(bytes / 1024 / 1024);
  // The probe's own node process is counted in RSS (~40 MB); subtracting a guess would be worse.
  return { cgroupMb: mb(m.cg), cgroupPeakMb: m.peak === null ? null : mb(m.peak), rssMb: Math.round(m.rssKb / 1024), processes: m.n };
}

export const describeMemory = (f: MemoryFigures) =>
  `cgroup ${f.cgroupMb} MB (peak ${f.cgroupPeakMb ?? "?"} MB), RSS ${f.rssMb} MB over ${f.processes} processes (the probe's own node included)`;
