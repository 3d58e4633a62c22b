/**
 * What a user's Fly app costs, from a price table (USD). Sources and assumptions, from
 * ../shared/reference/fly-machines-api.md §3 (Fly's pricing page renders its numbers from data that
 * is not public, so these are the known points, not a quote):
 * - shared-cpu-1x with 256 MB: $1.94 per 30 days always on (Fly's 2020 "dollar menu"; ≈ $2.02 seen
 *   in 2026); each further GB of RAM about $5 per 30 days (Fly docs). Together 2 GB = $10.69, which
 *   matches the $10.70 published for 2 GB. Billed per second of the `started` state.
 * - A stopped or suspended machine pays only its root filesystem, $0.15 per GB-month (about/billing).
 *   The rootfs of the agent image is assumed to be 1.3 GB (the reference's ~1–1.3 GB).
 * - Shared IPv4 and IPv6 are free per app; a dedicated IPv4 would be $2 a month (not used).
 */
export interface FlyPriceTable {
  /** shared-cpu-1x with its included 256 MB, per 30 days of `started`. */
  sharedCpuPer30Days: number;
  /** Each GB of RAM beyond the included 256 MB per shared CPU, per 30 days of `started`. */
  extraRamPerGbPer30Days: number;
  includedRamMbPerCpu: number;
  /** Root filesystem of a stopped or suspended machine, per GB-month. */
  rootfsPerGbMonth: number;
  rootfsGb: number;
  sharedIpv4PerMonth: number;
  ipv6PerMonth: number;
}

export const FLY_PRICES: FlyPriceTable = {
  sharedCpuPer30Days: 1.94,
  extraRamPerGbPer30Days: 5,
  includedRamMbPerCpu: 256,
  rootfsPerGbMonth: 0.15,
  rootfsGb: 1.3,
  sharedIpv4PerMonth: 0,
  ipv6PerMonth: 0,
};

const SECONDS_PER_30_DAYS = 30 * 24 * 3600;
export const HOURS_PER_MONTH = 730;

/** Price of one started machine per second. */
export function startedPricePerSecond(memoryMb: number, cpus: number, prices: FlyPriceTable = FLY_PRICES): number {
  const extraGb = Math.max(0, memoryMb - prices.includedRamMbPerCpu * cpus) / 1024;
  return (prices.sharedCpuPer30Days * cpus + prices.extraRamPerGbPer30Days * extraGb) / SECONDS_PER_30_DAYS;
}

export interface MonthlyCostInput {
  machines: number;
  memoryMb: number;
  cpus: number;
  /** Hours per month the first machine is `started`; the others are assumed never started. */
  startedHours: number;
}

/** A month (730 h) of one user's app: compute while started, rootfs while not, and the IPs. */
export function monthlyCost(input: MonthlyCostInput, prices: FlyPriceTable = FLY_PRICES): { compute: number; storage: number; ips: number; total: number } {
  const started = Math.min(HOURS_PER_MONTH, Math.max(0, input.startedHours));
  const compute = startedPricePerSecond(input.memoryMb, input.cpus, prices) * started * 3600;
  const stoppedMachineHours = (HOURS_PER_MONTH - started) + (input.machines - 1) * HOURS_PER_MONTH;
  const storage = (stoppedMachineHours / HOURS_PER_MONTH) * prices.rootfsGb * prices.rootfsPerGbMonth;
  const ips = prices.sharedIpv4PerMonth + prices.ipv6PerMonth;
  return { compute, storage, ips, total: compute + storage + ips };
}
