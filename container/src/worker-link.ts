/**
 * How the container calls the Worker back for what the user's object keeps (the workspace and its
 * write-back, OpenClaw's saved state, the schedule): `SOULPRINT_CALLBACK_URL` and a path, with the
 * container's one credential, its gateway token, and the user it belongs to. (The Bot API shim
 * proxies OpenClaw's own requests and builds its calls itself.)
 */
export interface WorkerLinkOptions {
  callbackUrl: string;
  userId: string;
  gatewayToken: string;
  /** Tests hand in their own fetch. */
  fetcher?: typeof fetch;
}

/** One call to the Worker: `path` under the callback URL, the credential headers added. */
export function workerFetcher(options: WorkerLinkOptions): (path: string, init?: RequestInit & { headers?: Record<string, string> }) => Promise<Response> {
  const base = options.callbackUrl.replace(/\/+$/, "");
  const fetcher = options.fetcher ?? ((input, init) => fetch(input, init));
  return (path, init = {}) =>
    fetcher(`${base}${path}`, { ...init, headers: { authorization: `Bearer ${options.gatewayToken}`, "x-soulprint-user": options.userId, ...init.headers } });
}
