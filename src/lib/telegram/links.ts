/** The URLs a claim hands out: the webhook Telegram calls, and the t.me link that binds the owner's chat. */

/**
 * Where Telegram delivers a user's updates. Telegram only delivers to HTTPS, and a deployed Worker
 * is always served over HTTPS, so an `http://` origin (as seen behind a proxy, or a PUBLIC_URL
 * typed without the s) is upgraded; loopback stays as it is for the local stand-in.
 */
export function webhookUrl(publicUrl: string, userId: string): string {
  const url = new URL(`${publicUrl.replace(/\/+$/, "")}/telegram/webhook/${encodeURIComponent(userId)}`);
  if (url.protocol === "http:" && !isLoopback(url.hostname)) url.protocol = "https:";
  return url.toString();
}

/** `https://t.me/<bot>?start=<code>` while the code is live; the plain bot link once it is spent. */
export function linkUrl(botUsername: string, linkCode: string | null): string {
  const base = `https://t.me/${encodeURIComponent(botUsername)}`;
  return linkCode ? `${base}?start=${encodeURIComponent(linkCode)}` : base;
}

function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" || /^127(\.\d{1,3}){3}$/.test(hostname);
}
