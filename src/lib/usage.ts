/** Token usage and its cost, per message and per UTC day, and the daily budgets per tier. */
import { HttpError } from "./errors.ts";
import type { Prices } from "./config.ts";
import type { Sql } from "./sql.ts";
import type { Tier } from "./profile.ts";

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  images: number;
}

/** Who made the model calls: direct chat (Bedrock) or the user's container through the gateway. */
export type UsageVia = "bedrock" | "container";

export interface DayUsage extends Usage {
  date: string;
  costUsd: number;
  /** The same day split by route; a route without use that day is absent. */
  byVia: Partial<Record<UsageVia, Usage & { costUsd: number }>>;
}

export const ZERO_USAGE: Usage = { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, images: 0 };

export const USAGE_SCHEMA = `CREATE TABLE IF NOT EXISTS usage_daily (
  day TEXT PRIMARY KEY, input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
  cache_read_tokens INTEGER NOT NULL DEFAULT 0, cache_write_tokens INTEGER NOT NULL DEFAULT 0,
  images INTEGER NOT NULL DEFAULT 0, cost_usd REAL NOT NULL DEFAULT 0
)`;

/** The day's usage per route (`via`), next to the totals of usage_daily (migration 6). */
export const USAGE_BY_VIA_SCHEMA = `CREATE TABLE IF NOT EXISTS usage_by_via (
  day TEXT NOT NULL, via TEXT NOT NULL, input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
  cache_read_tokens INTEGER NOT NULL DEFAULT 0, cache_write_tokens INTEGER NOT NULL DEFAULT 0,
  images INTEGER NOT NULL DEFAULT 0, cost_usd REAL NOT NULL DEFAULT 0, PRIMARY KEY (day, via)
)`;

export function addUsage(a: Usage, b: Usage): Usage {
  return {
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    cacheReadTokens: a.cacheReadTokens + b.cacheReadTokens,
    cacheWriteTokens: a.cacheWriteTokens + b.cacheWriteTokens,
    images: a.images + b.images,
  };
}

/** What `a` counts beyond `b` (b is a part of a already charged). */
export function subtractUsage(a: Usage, b: Usage): Usage {
  return {
    inputTokens: a.inputTokens - b.inputTokens,
    outputTokens: a.outputTokens - b.outputTokens,
    cacheReadTokens: a.cacheReadTokens - b.cacheReadTokens,
    cacheWriteTokens: a.cacheWriteTokens - b.cacheWriteTokens,
    images: a.images - b.images,
  };
}

/**
 * Cost in USD. Bedrock reports `inputTokens` without the cached ones, so each counter has its own
 * price and they simply add up. Rounded to micro-dollars so sums stay stable.
 */
export function costUsd(usage: Usage, prices: Prices): number {
  const cost =
    (usage.inputTokens * prices.inputPerMTok +
      usage.cacheWriteTokens * prices.cacheWritePerMTok +
      usage.cacheReadTokens * prices.cacheReadPerMTok +
      usage.outputTokens * prices.outputPerMTok) /
      1_000_000 +
    usage.images * prices.perImage;
  return Math.round(cost * 1e6) / 1e6;
}

/** Tokens that count against the daily budget. Cache reads are excluded, as in Bedrock's own quotas. */
export function budgetTokens(usage: Usage): number {
  return usage.inputTokens + usage.outputTokens + usage.cacheWriteTokens;
}

export function utcDay(at = Date.now()): string {
  return new Date(at).toISOString().slice(0, 10);
}

/** Adds the counters of one model call (or one turn's part) to every column of the day's row. */
const ADD_COUNTERS = `input_tokens = input_tokens + excluded.input_tokens,
  output_tokens = output_tokens + excluded.output_tokens, cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
  cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens, images = images + excluded.images,
  cost_usd = cost_usd + excluded.cost_usd`;

export function recordUsage(sql: Sql, usage: Usage, cost: number, options: { via?: UsageVia; at?: number } = {}): void {
  const day = utcDay(options.at ?? Date.now());
  const counters = [usage.inputTokens, usage.outputTokens, usage.cacheReadTokens, usage.cacheWriteTokens, usage.images, cost];
  sql.run(
    `INSERT INTO usage_daily (day, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, images, cost_usd)
     VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(day) DO UPDATE SET ${ADD_COUNTERS}`,
    day, ...counters,
  );
  if (!options.via) return;
  sql.run(
    `INSERT INTO usage_by_via (day, via, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, images, cost_usd)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(day, via) DO UPDATE SET ${ADD_COUNTERS}`,
    day, options.via, ...counters,
  );
}

interface DayRow {
  day: string;
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  images: number;
  cost_usd: number;
}

/** The last `days` days, newest first, days without use included as zeros. */
export function usageDays(sql: Sql, days: number, now = Date.now()): DayUsage[] {
  const since = utcDay(now - (days - 1) * 86_400_000);
  const rows = new Map(sql.all<DayRow>("SELECT * FROM usage_daily WHERE day >= ?", since).map((r) => [r.day, r]));
  const routes = sql.all<DayRow & { via: UsageVia }>("SELECT * FROM usage_by_via WHERE day >= ?", since);
  const out: DayUsage[] = [];
  for (let i = 0; i < days; i++) {
    const date = utcDay(now - i * 86_400_000);
    const byVia: DayUsage["byVia"] = {};
    for (const route of routes) if (route.day === date) byVia[route.via] = fromRow(route);
    out.push({ date, ...fromRow(rows.get(date)), byVia });
  }
  return out;
}

function fromRow(row: DayRow | undefined): Usage & { costUsd: number } {
  return {
    inputTokens: row?.input_tokens ?? 0,
    outputTokens: row?.output_tokens ?? 0,
    cacheReadTokens: row?.cache_read_tokens ?? 0,
    cacheWriteTokens: row?.cache_write_tokens ?? 0,
    images: row?.images ?? 0,
    costUsd: Math.round((row?.cost_usd ?? 0) * 1e6) / 1e6,
  };
}

export function dailyBudget(tier: Tier, limits: { freeDailyTokens: number; paidDailyTokens: number }): number {
  return tier === "paid" ? limits.paidDailyTokens : limits.freeDailyTokens;
}

/** Throws 429 budget_exceeded, with the reset time, when today's budget is spent. */
export function assertWithinBudget(sql: Sql, budget: number, now = Date.now()): void {
  const today = usageDays(sql, 1, now)[0]!;
  if (budgetTokens(today) >= budget) throw budgetExceeded(budget, now);
}

/** The 429 `budget_exceeded` refusal, with the reset time (next midnight UTC) and Retry-After. */
export function budgetExceeded(budget: number, now = Date.now()): HttpError {
  const reset = new Date(utcDay(now) + "T00:00:00Z").getTime() + 86_400_000;
  const retryAfter = Math.max(1, Math.ceil((reset - now) / 1000));
  // "daily usage limit" is also what tells the container's agent (OpenClaw) that this 429 lasts until
  // the reset: it then relays this message at once, instead of retrying the call for hours and then
  // saying "try again in a few minutes".
  return new HttpError(429, "budget_exceeded", `You have reached your daily usage limit of ${budget.toLocaleString("en-US")} tokens. It resets at ${new Date(reset).toISOString()}.`, {
    "retry-after": String(retryAfter),
  });
}
