/**
 * Local stand-in for the Fly Machines API (../shared/reference/fly-machines-api.md) and for each
 * app's container behind Fly's proxy. Stateful: apps in an org, secrets with a version per app,
 * IP assignments, machines moving `created → starting → started` (and stopping, suspending,
 * destroying) with small delays, `wait` long-polls that answer 408, the error shapes
 * `{"error", "status"?}` with 401, 403 (an app name owned by another org), 404, 408, 409/412, 422.
 * It is held to the reference's documented behaviour, not to what our code expects: machine names
 * are not unique (a client that creates twice gets two machines), a secret unset under a mounted
 * file makes the next boot fail, and `<app>.fly.dev` answers only once the app has public IPs.
 *
 * Each app's container lives under `/_apps/<app>/...` (FLY_APP_URL = `http://HOST:PORT/_apps/{app}`)
 * and honours the container contract of API.md with the secrets its machine booted with:
 * `GET /health`; `POST /v1/chat/completions` (Bearer GATEWAY_TOKEN; OpenAI shape, SSE with
 * `stream: true`) answering that it is a stand-in and quoting its SOUL.md; `POST /telegram-webhook`
 * (X-Telegram-Bot-Api-Secret-Token). A request to an app whose machines are stopped or suspended
 * wakes one first after a wake delay, as Fly's proxy does with `autostart`.
 *
 * Control API (JSON; not counted as Fly calls):
 *   GET    /__control/health
 *   POST   /__control/reset                 {seed?}  everything back to empty
 *   POST   /__control/faults                {rate?, kinds?: ["429","5xx","hang"], phase?: "before"|"after"|"mixed",
 *                                            retryAfterS?, appPattern?, seed?, on?: {method?, pathPattern?, status?,
 *                                            hang?, phase?, times?, retryAfterS?, app?}}   → {random, rules}
 *                                            "after": the call takes effect, then its answer is lost
 *   GET    /__control/faults                → {random, rules};   DELETE /__control/faults[?app=] clears them
 *   POST   /__control/settings              {transitionMs?, wakeDelayMs?, resumeDelayMs?, autostopAfterMs?, containerLife?}
 *                                            containerLife false: the containers are real ones elsewhere
 *   POST   /__control/apps/:app/container   {wakeDelayMs?, refuseWhileWaking?, failAfterPieces?, pieceDelayMs?} (replaces)
 *   POST   /__control/foreign-apps          {name}  a name owned by another org (GET → 403, create → 422)
 *   GET    /__control/apps                  → {apps: [{name, org, machines, secretsVersion, ips}]}
 *   GET    /__control/apps/:app             → everything of one app, secret values included
 *   DELETE /__control/apps/:app             the app vanishes behind the client's back
 *   POST   /__control/apps/:app/drift       {image?, deleteMachine?, unsetSecret?, releaseIps?}
 *   POST   /__control/apps/:app/machines/:id/stop   {suspend?}  as the proxy's autostop would
 *   POST   /__control/apps/:app/health      {failTimes}  the next n health checks answer 503
 *   GET    /__control/apps/:app/requests    → {requests}  what the container received
 *   POST   /__control/apps/:app/write-back  {name, content}  the container PUTs a file to SOULPRINT_CALLBACK_URL
 *   GET    /__control/calls?since=&app=     → {seq, total, byApp, byRoute, calls}  Machines API calls
 *
 * Layout (one concern a file, all over one state object): dev/fly/state.ts (the world),
 * lifecycle.ts (machine states and timers), machines-api.ts (auth, faults, call log, routing),
 * apps-routes.ts and machine-routes.ts (the routes), reply.ts (error shape), faults.ts, calls.ts,
 * app-proxy.ts (the proxy), container.ts (the container's answers), control.ts, util.ts.
 *
 * Run: `npx node dev/fly-standin.ts --port 9103 [--token T] [--seed 1]`
 */
import { flags, isMain, serve, type StandinHandle } from "./standin-util.ts";
import { handleProxy } from "./fly/app-proxy.ts";
import { handleControl, reset } from "./fly/control.ts";
import { handleApi } from "./fly/machines-api.ts";
import { createState } from "./fly/state.ts";

export interface FlyStandinOptions {
  port?: number;
  host?: string;
  /** The one accepted API token; absent: any non-empty token. */
  token?: string;
  seed?: number;
}

export interface FlyStandinHandle extends StandinHandle {
  /** FLY_APP_URL for the Worker: `http://127.0.0.1:PORT/_apps/{app}`. */
  appUrlTemplate: string;
}

export async function start(options: FlyStandinOptions = {}): Promise<FlyStandinHandle> {
  const s = createState(options);
  const base = await serve(
    async (req, res) => {
      const url = new URL(req.url ?? "/", "http://standin");
      if (url.pathname.startsWith("/__control/")) return handleControl(s, req, res, url);
      if (url.pathname.startsWith("/_apps/")) return handleProxy(s, req, res, url);
      return handleApi(s, req, res, url);
    },
    { port: options.port, host: options.host },
    () => {
      reset(s, s.seed);
      if (s.idleTimer) clearInterval(s.idleTimer);
    },
  );
  return { ...base, appUrlTemplate: `${base.url}/_apps/{app}` };
}

if (isMain(import.meta.url)) {
  const f = flags(process.argv.slice(2));
  const handle = await start({
    port: Number(f.get("port") ?? 9103),
    host: f.get("host"),
    token: f.get("token"),
    seed: f.get("seed") === undefined ? undefined : Number(f.get("seed")),
  });
  console.log(`Fly stand-in listening on ${handle.url} (apps at ${handle.appUrlTemplate})`);
  const stop = () => void handle.close().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
