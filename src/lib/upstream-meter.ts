/**
 * Counts the calls a user's object makes to each upstream (Bedrock, Fly, Telegram, the container), so
 * job and reply log lines can say what they cost. Counts are per object instance; a line reports the
 * difference over its own run (approximate when two pieces of work overlap in one object).
 */
export type Upstream = "bedrock" | "fly" | "telegram" | "container";

export class UpstreamMeter {
  private readonly counts: Record<Upstream, number> = { bedrock: 0, fly: 0, telegram: 0, container: 0 };

  count(upstream: Upstream): void {
    this.counts[upstream] += 1;
  }

  /** A fetch that counts each call under `upstream` (wrapped: workerd's fetch must not be rebound). */
  fetch(upstream: Upstream): typeof fetch {
    return (input, init) => {
      this.count(upstream);
      return fetch(input, init);
    };
  }

  snapshot(): Record<Upstream, number> {
    return { ...this.counts };
  }

  /** Calls made since `before`, only the non-zero ones. */
  since(before: Record<Upstream, number>): Partial<Record<Upstream, number>> {
    const out: Partial<Record<Upstream, number>> = {};
    for (const key of Object.keys(this.counts) as Upstream[]) {
      const delta = this.counts[key] - before[key];
      if (delta > 0) out[key] = delta;
    }
    return out;
  }
}
