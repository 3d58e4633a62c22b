/** Small pure formatting helpers (numbers, money, bytes, times). */

const compact = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });
const whole = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });

/** 950 → "950", 12_345 → "12.3K"; anything not a finite number → "—". */
export function formatTokens(n: unknown): string {
  if (typeof n !== "number" || !Number.isFinite(n)) return "—";
  return n < 10_000 ? whole.format(n) : compact.format(n);
}

/** US dollars; sub-cent amounts keep enough digits to be seen ($0.0042). */
export function formatUsd(n: unknown): string {
  if (typeof n !== "number" || !Number.isFinite(n)) return "—";
  const digits = n !== 0 && Math.abs(n) < 0.01 ? 4 : 2;
  return new Intl.NumberFormat("en-US", {
    style: "currency",
    currency: "USD",
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  }).format(n);
}

export function formatBytes(n: unknown): string {
  if (typeof n !== "number" || !Number.isFinite(n)) return "—";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10 * 1024 ? 1 : 0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** A server time (ISO string, epoch ms or epoch seconds) as epoch ms, or undefined. */
export function toMs(t: unknown): number | undefined {
  if (typeof t === "number" && Number.isFinite(t)) return t < 1e12 ? t * 1000 : t;
  if (typeof t === "string" && t) {
    if (/^\d+$/.test(t)) return toMs(Number(t));
    const ms = Date.parse(t);
    return Number.isNaN(ms) ? undefined : ms;
  }
  return undefined;
}

/** "just now", "5 min ago", "3 h ago", "2 d ago", or a date. */
export function formatRelative(t: unknown, now = Date.now()): string {
  const ms = toMs(t);
  if (ms === undefined) return "—";
  const s = Math.round((now - ms) / 1000);
  if (s < 45) return "just now";
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  if (s < 7 * 86_400) return `${Math.round(s / 86_400)} d ago`;
  return new Date(ms).toLocaleDateString();
}

export function formatClock(t: unknown): string {
  const ms = toMs(t);
  if (ms === undefined) return "";
  return new Date(ms).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

export function formatDateTime(t: unknown): string {
  const ms = toMs(t);
  if (ms === undefined) return "";
  return new Date(ms).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** Today's date as the server keys usage days (UTC, YYYY-MM-DD). */
export function utcDate(now = Date.now()): string {
  return new Date(now).toISOString().slice(0, 10);
}

/** Byte length of a string as UTF-8 (the unit of the 64 KiB file limit). */
export function utf8Length(s: string): number {
  return new TextEncoder().encode(s).length;
}
