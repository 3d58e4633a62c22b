/** Abuse limits on the Workers Rate Limiting bindings: per client IP and per user. */
import { HttpError } from "./errors.ts";

/** The client's IP as Cloudflare reports it (the header is set by the edge and cannot be forged there). */
export function clientIp(request: Request): string {
  return request.headers.get("cf-connecting-ip") ?? "unknown";
}

export async function enforceLimit(binding: RateLimit | undefined, key: string, what: string): Promise<void> {
  if (!binding) return;
  const { success } = await binding.limit({ key });
  if (!success) {
    throw new HttpError(429, "rate_limited", `Too many ${what} in a short time. Wait a minute and try again.`, { "retry-after": "60" });
  }
}
