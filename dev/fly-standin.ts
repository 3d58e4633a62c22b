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
 * Run: `npx node dev/fly-standin.ts --port 9103 [--token T] [--seed 1]`
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { createHash, randomBytes } from "node:crypto";
import { flags, isMain, isObject, readBody, sendJson, serve, sleep, type StandinHandle } from "./standin-util.ts";
import { bootLife, catchUpWorkspace, newLife, saveLife, type ContainerLife } from "./standin-container-life.ts";

type Obj = Record<string, unknown>;
type MachineState =
  | "created" | "starting" | "started" | "stopping" | "stopped" | "suspending" | "suspended"
  | "replacing" | "destroying" | "destroyed" | "failed";

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

interface Secret { value: string; digest: string; createdAt: string; updatedAt: string }
interface Ip { ip: string; type: string; region: string; shared: boolean; created_at: string }
interface Machine {
  id: string; name: string; region: string; state: MachineState; instanceId: string; privateIp: string;
  config: Obj; createdAt: string; updatedAt: string; events: Obj[];
  minSecretsVersion: number | null;
  /** The secrets the running machine booted with (its env); a suspended machine keeps them. */
  bootEnv: Record<string, string> | null;
  bootSecretsVersion: number | null;
  failure: string | null;
  timers: ReturnType<typeof setTimeout>[];
  lastRequestAt: number;
  /** What the container holds on its disk (issue 15): lost at a fresh boot, kept by a suspend. */
  life: ContainerLife;
}
interface App {
  id: string; name: string; org: string; network: string; createdAt: number;
  secrets: Map<string, Secret>; secretsVersion: number; ips: Ip[]; machines: Map<string, Machine>;
  requests: Obj[];
  /** The container answers its next n health checks with 503 (a slow or broken start). */
  healthFailures: number;
  /** How this app's container misbehaves (hybrid routing tests): see POST /__control/apps/:app/container. */
  behaviour: ContainerBehaviour;
}
interface ContainerBehaviour {
  /** Wake delay for this app's machines (ms), overriding the global setting. */
  wakeDelayMs?: number;
  /** While a machine is not started, answer 502 at once (and start it) instead of holding the request. */
  refuseWhileWaking?: boolean;
  /** Drop the connection after this many pieces of a streamed chat reply. */
  failAfterPieces?: number;
  /** Delay between streamed pieces (ms, default 5). */
  pieceDelayMs?: number;
}
interface Reply { status: number; body?: unknown; headers?: Record<string, string> }
interface FaultRule {
  method?: string; pathPattern?: string; status?: number; hang?: boolean; phase: "before" | "after";
  times: number; retryAfterS: number; app?: string;
}
interface RandomFaults { rate: number; kinds: string[]; phase: "before" | "after" | "mixed"; retryAfterS: number; appPattern?: string }
interface Call { seq: number; at: number; method: string; path: string; route: string; app: string | null; status: number | "hang"; fault?: string; detail?: Obj }
interface Settings {
  transitionMs: number; wakeDelayMs: number; resumeDelayMs: number; autostopAfterMs: number | null;
  /**
   * False when the apps' containers run elsewhere (the real image, FLY_APP_URL pointing at it): a
   * machine that boots then plays no container life of its own (no state, workspace or schedule
   * calls to the Worker, which would race the real container's).
   */
  containerLife: boolean;
}

const DEFAULT_SETTINGS: Settings = { transitionMs: 30, wakeDelayMs: 150, resumeDelayMs: 30, autostopAfterMs: null, containerLife: true };
const APP_NAME = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;
const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** mulberry32: a small seedable RNG, so a fault pattern can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const err = (status: number, error: string, code?: string): Reply => ({ status, body: code ? { error, status: code } : { error } });
const now = () => new Date().toISOString();
const hex = (bytes: number) => randomBytes(bytes).toString("hex");
const ULID_CHARS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const instanceId = () => Array.from(randomBytes(26), (b) => ULID_CHARS[b % 32]).join("");

export async function start(options: FlyStandinOptions = {}): Promise<FlyStandinHandle> {
  const apps = new Map<string, App>();
  const foreign = new Set<string>();
  const hung = new Set<ServerResponse>();
  let rules: FaultRule[] = [];
  let random: RandomFaults = { rate: 0, kinds: ["429", "5xx"], phase: "before", retryAfterS: 1 };
  let settings: Settings = { ...DEFAULT_SETTINGS };
  let seed = options.seed ?? 1;
  let rand = rng(seed);
  let calls: Call[] = [];
  let seq = 0;
  let idleTimer: ReturnType<typeof setInterval> | null = null;
  const waiters = new Map<Machine, Set<() => void>>();

  // --- machine lifecycle ---

  function setState(app: App, m: Machine, state: MachineState, event?: string): void {
    m.state = state;
    m.updatedAt = now();
    m.events.unshift({ type: event ?? state, status: state, source: "flyd", timestamp: Date.now() });
    if (m.events.length > 20) m.events.length = 20;
    for (const wake of waiters.get(m) ?? []) wake();
    if (state === "destroyed") app.machines.delete(m.id);
  }

  function later(m: Machine, ms: number, fn: () => void): void {
    m.timers.push(setTimeout(fn, ms));
  }

  function clearTimers(m: Machine): void {
    for (const t of m.timers) clearTimeout(t);
    m.timers = [];
  }

  /** Boot: the env is the app's secrets now; a mount naming a missing secret, or an old version, fails it. */
  function boot(app: App, m: Machine): void {
    const files = Array.isArray(m.config.files) ? (m.config.files as Obj[]) : [];
    const missing = files.map((f) => f.secret_name).filter((n): n is string => typeof n === "string" && !app.secrets.has(n));
    if (missing.length > 0 || (m.minSecretsVersion ?? 0) > app.secretsVersion) {
      m.failure = missing.length > 0 ? `secret ${missing.join(", ")} not found for config.files` : "secrets version not yet available";
      setState(app, m, "failed", "exit");
      return;
    }
    m.failure = null;
    m.bootEnv = Object.fromEntries([...app.secrets].map(([k, s]) => [k, s.value]));
    m.bootSecretsVersion = app.secretsVersion;
    m.lastRequestAt = Date.now();
    m.life = newLife();
    setState(app, m, "started", "start");
    if (settings.containerLife) void bootLife(m.bootEnv, m.life);
  }

  function startMachine(app: App, m: Machine, delayMs = settings.transitionMs): void {
    if (m.state === "started" || m.state === "starting") return;
    clearTimers(m);
    // A suspended machine resumes its snapshot (same env); anything else boots afresh.
    const resuming = m.state === "suspended" && m.bootEnv !== null;
    const finish = () => {
      if (!resuming) return boot(app, m);
      m.lastRequestAt = Date.now();
      setState(app, m, "started", "resume");
      if (settings.containerLife) void catchUpWorkspace(m.bootEnv ?? {}, m.life);
    };
    if (m.state === "created") {
      later(m, delayMs, () => {
        setState(app, m, "starting");
        later(m, delayMs, finish);
      });
      return;
    }
    setState(app, m, "starting");
    later(m, delayMs, finish);
  }

  function stopMachine(app: App, m: Machine, suspend: boolean): void {
    if (!["started", "starting"].includes(m.state)) return;
    clearTimers(m);
    setState(app, m, suspend ? "suspending" : "stopping");
    later(m, settings.transitionMs, () => {
      if (!suspend) m.bootEnv = null;
      setState(app, m, suspend ? "suspended" : "stopped");
    });
  }

  function destroyMachine(app: App, m: Machine): void {
    clearTimers(m);
    m.bootEnv = null;
    setState(app, m, "destroying");
    later(m, settings.transitionMs, () => setState(app, m, "destroyed"));
  }

  function machineJson(m: Machine): Obj {
    const image = String(m.config.image ?? "");
    const [repository, tag = "latest"] = image.split(":");
    return {
      id: m.id, name: m.name, state: m.state, region: m.region, instance_id: m.instanceId, private_ip: m.privateIp,
      config: m.config, created_at: m.createdAt, updated_at: m.updatedAt, events: m.events.slice(0, 5),
      image_ref: { registry: repository?.split("/")[0] ?? "", repository, tag, digest: `sha256:${createHash("sha256").update(image).digest("hex")}` },
    };
  }

  function autostopMode(m: Machine): string {
    const services = Array.isArray(m.config.services) ? (m.config.services as Obj[]) : [];
    const mode = services[0]?.autostop;
    return mode === true ? "stop" : mode === false || mode === undefined ? "off" : String(mode);
  }

  // --- the Machines API ---

  async function api(method: string, path: string, query: URLSearchParams, body: unknown): Promise<Reply & { route: string; app: string | null }> {
    const parts = path.split("/").filter(Boolean).map(decodeURIComponent); // v1, apps, :app, ...
    const appName = parts[2] ?? (method === "POST" && parts.length === 2 && isObject(body) ? String(body.app_name ?? body.name ?? "") || null : null);
    const route = routeOf(path);
    const done = (reply: Reply) => ({ ...reply, route: `${method} ${route}`, app: appName });
    if (parts[0] !== "v1" || parts[1] !== "apps") return done(err(404, "not found"));
    if (parts.length === 2) return done(method === "POST" ? createApp(body) : method === "GET" ? listApps(query) : err(405, "method not allowed"));
    const name = parts[2]!;
    if (foreign.has(name)) return done(err(403, "You are not authorized to access this app", "unauthorized"));
    const app = apps.get(name);
    if (!app) return done(err(404, `app not found: ${name}`, "not_found"));
    if (parts.length === 3) {
      if (method === "GET") return done({ status: 200, body: appJson(app) });
      if (method === "DELETE") return done(deleteApp(app, query.get("force") === "true"));
      return done(err(405, "method not allowed"));
    }
    switch (parts[3]) {
      case "secrets":
        return done(secrets(app, method, parts[4], body));
      case "ip_assignments":
        return done(ipAssignments(app, method, parts[4], body));
      case "machines":
        return done(await machines(app, method, parts[4], parts[5], query, body));
      default:
        return done(err(404, "not found"));
    }
  }

  function appJson(app: App): Obj {
    return { id: app.id, name: app.name, status: app.machines.size > 0 ? "deployed" : "pending", organization: { name: app.org, slug: app.org }, network: app.network, machine_count: app.machines.size };
  }

  function createApp(body: unknown): Reply {
    if (!isObject(body)) return err(400, "invalid JSON body");
    const name = String(body.app_name ?? body.name ?? "");
    const org = String(body.org_slug ?? "");
    if (!APP_NAME.test(name)) return err(422, `invalid app name: ${name}`, "invalid_name");
    if (!org) return err(400, "org_slug is required");
    if (apps.has(name) || foreign.has(name)) return err(422, `Name has already been taken`, "name_taken");
    const app: App = {
      id: hex(8), name, org, network: typeof body.network === "string" && body.network ? body.network : "default", createdAt: Date.now(),
      secrets: new Map(), secretsVersion: 0, ips: [], machines: new Map(), requests: [], healthFailures: 0, behaviour: {},
    };
    apps.set(name, app);
    return { status: 201, body: { id: app.id, created_at: app.createdAt } };
  }

  function listApps(query: URLSearchParams): Reply {
    const org = query.get("org_slug");
    const list = [...apps.values()].filter((a) => !org || a.org === org);
    return { status: 200, body: { total_apps: list.length, apps: list.map((a) => ({ id: a.id, name: a.name, machine_count: a.machines.size, volume_count: 0, network: a.network })) } };
  }

  function deleteApp(app: App, force: boolean): Reply {
    const running = [...app.machines.values()].some((m) => m.state === "started" || m.state === "starting");
    // Assumption: without force, running machines refuse the delete (force "stops machines first").
    if (running && !force) return err(412, "failed_precondition: app has running machines, use force=true", "failed_precondition");
    removeApp(app);
    return { status: 202 };
  }

  function removeApp(app: App): void {
    for (const m of app.machines.values()) clearTimers(m);
    apps.delete(app.name);
  }

  function secrets(app: App, method: string, name: string | undefined, body: unknown): Reply {
    const list = () => [...app.secrets].map(([n, s]) => ({ name: n, digest: s.digest, created_at: s.createdAt, updated_at: s.updatedAt }));
    const put = (n: string, value: string) => {
      const prev = app.secrets.get(n);
      app.secrets.set(n, { value, digest: createHash("sha256").update(value).digest("hex").slice(0, 16), createdAt: prev?.createdAt ?? now(), updatedAt: now() });
    };
    if (name === undefined) {
      if (method === "GET") return { status: 200, body: { secrets: list() } };
      if (method !== "POST") return err(405, "method not allowed");
      if (!isObject(body) || !isObject(body.values)) return err(400, "body must be {\"values\": {NAME: value|null}}");
      for (const [n, v] of Object.entries(body.values)) {
        if (!SECRET_NAME.test(n)) return err(400, `invalid secret name: ${n}`);
        if (v !== null && (typeof v !== "string" || v === "")) return err(400, `secret ${n} must be a non-empty string or null`);
      }
      for (const [n, v] of Object.entries(body.values)) {
        if (v === null) app.secrets.delete(n);
        else put(n, v as string);
      }
      app.secretsVersion++;
      return { status: 200, body: { secrets: list(), version: app.secretsVersion } };
    }
    if (method === "POST") {
      if (!SECRET_NAME.test(name) || !isObject(body) || typeof body.value !== "string" || body.value === "") return err(400, "body must be {\"value\": \"...\"}");
      put(name, body.value);
      app.secretsVersion++;
      return { status: 200, body: { ...list().find((s) => s.name === name), version: app.secretsVersion } };
    }
    if (method === "DELETE") {
      if (!app.secrets.delete(name)) return err(404, `secret not found: ${name}`, "not_found");
      app.secretsVersion++;
      return { status: 200, body: { version: app.secretsVersion } };
    }
    return err(405, "method not allowed");
  }

  function ipAssignments(app: App, method: string, ip: string | undefined, body: unknown): Reply {
    if (ip !== undefined) {
      if (method !== "DELETE") return err(405, "method not allowed");
      const before = app.ips.length;
      app.ips = app.ips.filter((i) => i.ip !== ip);
      return before === app.ips.length ? err(404, "ip not found", "not_found") : { status: 204 };
    }
    if (method === "GET") return { status: 200, body: { ips: app.ips.map(ipJson) } };
    if (method !== "POST") return err(405, "method not allowed");
    if (!isObject(body) || typeof body.type !== "string") return err(400, "type is required");
    const type = body.type;
    const region = typeof body.region === "string" ? body.region : "";
    // flyctl: shared v4 and private v6 are not regional, and the API rejects a region for them.
    if ((type === "shared_v4" || type === "private_v6") && region) return err(400, `a ${type} address takes no region`);
    const n = () => Math.floor(rand() * 250) + 1;
    let address: string;
    if (type === "shared_v4") {
      if (app.ips.some((i) => i.type === "shared_v4")) return err(422, "app already has a shared IPv4 address");
      address = `66.241.124.${n()}`;
    } else if (type === "v4") address = `149.248.${n()}.${n()}`;
    else if (type === "v6") address = `2a09:8280:1::${hex(2)}:${hex(2)}`;
    else if (type === "private_v6") address = `fdaa:0:${hex(2)}::${hex(1)}`;
    else return err(400, `unknown ip type: ${type}`);
    const assignment: Ip = { ip: address, type, region: region || "global", shared: type === "shared_v4", created_at: now() };
    app.ips.push(assignment);
    return { status: 200, body: ipJson(assignment) };
  }

  function ipJson(i: Ip): Obj {
    return { ip: i.ip, region: i.region, service_name: "", shared: i.shared, created_at: i.created_at };
  }

  function validateConfig(config: unknown): string | null {
    if (!isObject(config)) return "config is required";
    if (typeof config.image !== "string" || config.image === "") return "config.image is required";
    const guest = config.guest;
    if (isObject(guest) && typeof guest.memory_mb === "number" && guest.memory_mb % 256 !== 0) return "guest.memory_mb must be a multiple of 256";
    for (const f of Array.isArray(config.files) ? config.files : []) {
      if (!isObject(f) || typeof f.guest_path !== "string" || (typeof f.secret_name !== "string" && typeof f.raw_value !== "string")) return "each config.files entry needs guest_path and secret_name or raw_value";
    }
    return null;
  }

  async function machines(app: App, method: string, id: string | undefined, action: string | undefined, query: URLSearchParams, body: unknown): Promise<Reply> {
    if (id === undefined) {
      if (method === "GET") {
        const all = query.get("include_deleted") === "true";
        const filters = [...query].filter(([k]) => k.startsWith("metadata."));
        const list = [...app.machines.values()].filter((m) => (all || m.state !== "destroyed") &&
          filters.every(([k, v]) => isObject(m.config.metadata) && m.config.metadata[k.slice(9)] === v));
        return { status: 200, body: list.map(machineJson) };
      }
      if (method !== "POST") return err(405, "method not allowed");
      if (!isObject(body)) return err(400, "invalid JSON body");
      const problem = validateConfig(body.config);
      if (problem) return err(422, problem, "invalid_config");
      const minVersion = typeof body.min_secrets_version === "number" ? body.min_secrets_version : null;
      if (minVersion !== null && minVersion > app.secretsVersion) return err(422, `secrets version ${minVersion} not found`);
      const m: Machine = {
        id: hex(7), name: typeof body.name === "string" && body.name ? body.name : `machine-${hex(3)}`,
        region: typeof body.region === "string" && body.region ? body.region : "iad",
        state: "created", instanceId: instanceId(), privateIp: `fdaa:0:${hex(2)}:a7b:${hex(2)}::2`,
        config: body.config as Obj, createdAt: now(), updatedAt: now(), events: [{ type: "launch", status: "created", source: "user", timestamp: Date.now() }],
        minSecretsVersion: minVersion, bootEnv: null, bootSecretsVersion: null, failure: null, timers: [], lastRequestAt: Date.now(), life: newLife(),
      };
      app.machines.set(m.id, m);
      if (body.skip_launch !== true) startMachine(app, m);
      return { status: 200, body: machineJson(m) };
    }
    const m = app.machines.get(id);
    if (!m) return err(404, `machine not found: ${id}`, "not_found");
    if (action === undefined) {
      if (method === "GET") return { status: 200, body: machineJson(m) };
      if (method === "DELETE") {
        if ((m.state === "started" || m.state === "starting") && query.get("force") !== "true" && query.get("kill") !== "true") {
          return err(412, "failed_precondition: unable to destroy machine, not currently stopped", "failed_precondition");
        }
        destroyMachine(app, m);
        return { status: 200, body: { ok: true } };
      }
      if (method === "POST") return updateMachine(app, m, body);
      return err(405, "method not allowed");
    }
    if (action === "wait") return method === "GET" ? waitFor(m, query) : err(405, "method not allowed");
    if (method !== "POST") return err(405, "method not allowed");
    if (m.state === "destroyed" || m.state === "destroying") return err(412, "failed_precondition: machine is being destroyed", "failed_precondition");
    const previous = m.state;
    if (action === "start") {
      startMachine(app, m);
      return { status: 200, body: { previous_state: previous, migrated: false, new_host: "" } };
    }
    if (action === "stop" || action === "suspend") {
      stopMachine(app, m, action === "suspend");
      return { status: 200, body: { ok: true } };
    }
    if (action === "restart") {
      stopMachine(app, m, false);
      later(m, settings.transitionMs * 2, () => startMachine(app, m));
      return { status: 200, body: { ok: true } };
    }
    return err(404, "not found");
  }

  /** The whole config is replaced; a running machine reboots; `skip_launch` leaves it (or puts it) down. */
  function updateMachine(app: App, m: Machine, body: unknown): Reply {
    if (!isObject(body)) return err(400, "invalid JSON body");
    const problem = validateConfig(body.config);
    if (problem) return err(422, problem, "invalid_config");
    if (typeof body.name === "string" && body.name !== m.name) return err(400, "name cannot be changed");
    if (typeof body.current_version === "string" && body.current_version !== m.instanceId) return err(409, "current_version does not match", "conflict");
    const minVersion = typeof body.min_secrets_version === "number" ? body.min_secrets_version : null;
    if (minVersion !== null && minVersion > app.secretsVersion) return err(422, `secrets version ${minVersion} not found`);
    const wasUp = m.state === "started" || m.state === "starting";
    clearTimers(m);
    m.config = body.config as Obj;
    m.minSecretsVersion = minVersion ?? m.minSecretsVersion;
    m.instanceId = instanceId();
    // The suspend snapshot is discarded on update (reference): the machine comes back as stopped.
    m.bootEnv = null;
    if (m.state !== "created") setState(app, m, wasUp ? "replacing" : "stopped", "update");
    if (body.skip_launch === true) {
      if (m.state === "replacing") later(m, settings.transitionMs, () => setState(app, m, "stopped"));
    } else {
      if (m.state === "replacing") setState(app, m, "stopped");
      startMachine(app, m);
    }
    return { status: 200, body: machineJson(m) };
  }

  async function waitFor(m: Machine, query: URLSearchParams): Promise<Reply> {
    const state = query.get("state") ?? "started";
    const timeoutS = Number(query.get("timeout") ?? 60);
    if (!["started", "stopped", "suspended", "destroyed"].includes(state)) return err(400, `invalid state: ${state}`);
    if (!Number.isFinite(timeoutS) || timeoutS < 1 || timeoutS > 60) return err(400, "timeout must be between 1 and 60 seconds");
    if (state === "stopped" && !query.get("instance_id")) return err(400, "instance_id is required to wait for stopped");
    const reached = () => m.state === state;
    if (!reached()) {
      await new Promise<void>((resolve) => {
        const set = waiters.get(m) ?? new Set();
        waiters.set(m, set);
        const finish = () => {
          clearTimeout(timer);
          set.delete(check);
          resolve();
        };
        const check = () => {
          if (reached() || m.state === "destroyed") finish();
        };
        const timer = setTimeout(finish, timeoutS * 1000);
        set.add(check);
      });
    }
    if (reached()) return { status: 200, body: { ok: true } };
    return err(408, `deadline_exceeded: machine ${m.id} did not reach state ${state} in ${timeoutS}s`, "deadline_exceeded");
  }

  // --- faults and the call log ---

  function pickFault(method: string, path: string, app: string | null): { status?: number; hang?: boolean; phase: "before" | "after"; retryAfterS: number; label: string } | null {
    for (const rule of rules) {
      if (rule.times <= 0) continue;
      if (rule.method && rule.method.toUpperCase() !== method) continue;
      if (rule.pathPattern && !new RegExp(rule.pathPattern).test(path)) continue;
      if (rule.app && rule.app !== app) continue;
      rule.times--;
      return { status: rule.status, hang: rule.hang, phase: rule.phase, retryAfterS: rule.retryAfterS, label: rule.hang ? `hang:${rule.phase}` : `${rule.status}:${rule.phase}` };
    }
    if (random.rate > 0 && (!random.appPattern || new RegExp(random.appPattern).test(app ?? "")) && rand() < random.rate) {
      const kind = random.kinds[Math.floor(rand() * random.kinds.length)] ?? "5xx";
      const phase = random.phase === "mixed" ? (rand() < 0.5 ? "before" : "after") : random.phase;
      // A 429 is refused before any work, as a rate limiter does.
      if (kind === "429") return { status: 429, phase: "before", retryAfterS: random.retryAfterS, label: "429:before" };
      if (kind === "hang") return { hang: true, phase, retryAfterS: 0, label: `hang:${phase}` };
      const status = [500, 502, 503][Math.floor(rand() * 3)] ?? 503;
      return { status, phase, retryAfterS: 0, label: `${status}:${phase}` };
    }
    return null;
  }

  async function handleApi(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const method = req.method ?? "GET";
    const raw = await readBody(req);
    const auth = req.headers.authorization ?? "";
    const presented = auth.replace(/^(Bearer|FlyV1)\s+/i, "");
    const record = (route: string, app: string | null, status: number | "hang", fault?: string) => {
      calls.push({ seq: ++seq, at: Date.now(), method, path: url.pathname, route, app, status, ...(fault ? { fault } : {}), ...(detail ? { detail } : {}) });
    };
    let detail: Obj | undefined;
    if (!/^(Bearer|FlyV1)\s+\S/i.test(auth) || (options.token !== undefined && presented !== options.token)) {
      record("unauthorized", null, 401);
      return sendJson(res, 401, { error: "unauthorized" });
    }
    let body: unknown;
    try {
      body = raw.length ? JSON.parse(raw.toString("utf8")) : undefined;
    } catch {
      record("bad_json", null, 400);
      return sendJson(res, 400, { error: "invalid JSON body" });
    }
    detail = describeBody(body);
    const parts = url.pathname.split("/").filter(Boolean);
    const appGuess = parts[2] ? decodeURIComponent(parts[2]) : isObject(body) ? String(body.app_name ?? body.name ?? "") || null : null;
    const fault = pickFault(method, url.pathname, appGuess);
    const inject = (route: string, app: string | null): void => {
      if (!fault) return;
      if (fault.hang) {
        record(route, app, "hang", fault.label);
        hung.add(res);
        res.on("close", () => hung.delete(res));
        return;
      }
      const status = fault.status ?? 503;
      record(route, app, status, fault.label);
      const headers: Record<string, string> = status === 429 ? { "retry-after": String(fault.retryAfterS) } : {};
      sendJson(res, status, status === 429 ? { error: "rate limit exceeded", status: "rate_limited" } : { error: "internal server error (injected)", status: "unknown" }, headers);
    };
    if (fault?.phase === "before") return inject(`${method} ${routeOf(url.pathname)}`, appGuess);
    const reply = await api(method, url.pathname, url.searchParams, body);
    if (fault) return inject(reply.route, reply.app);
    record(reply.route, reply.app, reply.status);
    if (reply.body === undefined) {
      res.writeHead(reply.status, reply.headers ?? {});
      res.end();
    } else sendJson(res, reply.status, reply.body, reply.headers);
  }

  function callSummary(since: number, app: string | null): Obj {
    const window = calls.filter((c) => c.seq > since && (!app || c.app === app));
    const byApp: Record<string, number> = {};
    const byRoute: Record<string, number> = {};
    for (const c of window) {
      const a = c.app ?? "-";
      byApp[a] = (byApp[a] ?? 0) + 1;
      byRoute[c.route] = (byRoute[c.route] ?? 0) + 1;
    }
    return { seq, total: window.length, byApp, byRoute, calls: window.slice(-500) };
  }

  // --- the proxy and the containers ---

  async function handleProxy(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const parts = url.pathname.split("/");
    const name = decodeURIComponent(parts[2] ?? "");
    const path = `/${parts.slice(3).join("/")}`;
    const app = apps.get(name);
    const raw = await readBody(req);
    // No app, or an app without public IPs: `<app>.fly.dev` does not resolve. A connection error is the honest answer.
    if (!app || !app.ips.some((i) => i.type === "shared_v4" || i.type === "v6" || i.type === "v4")) {
      res.destroy();
      return;
    }
    if (app.behaviour.refuseWhileWaking && ![...app.machines.values()].some((x) => x.state === "started")) {
      void routeToMachine(app); // starts it, as the proxy would, but this request is refused meanwhile
      return sendJson(res, 502, { error: `${name} is starting` });
    }
    const m = await routeToMachine(app);
    if (!m) return sendJson(res, 503, { error: `no machine of ${name} could take the request` });
    m.lastRequestAt = Date.now();
    const env = m.bootEnv ?? {};
    const entry: Obj = { at: Date.now(), method: req.method, path, machine: m.id, authorized: false };
    const workspaceVersion = req.headers["x-soulprint-workspace-version"];
    if (typeof workspaceVersion === "string") entry.workspaceVersion = workspaceVersion;
    app.requests.push(entry);
    if (app.requests.length > 200) app.requests.shift();
    if (req.method === "GET" && path === "/health") {
      if (app.healthFailures > 0) {
        app.healthFailures--;
        return sendJson(res, 503, { ok: false, error: "starting" });
      }
      return sendJson(res, 200, { ok: true, app: name, machine: m.id });
    }
    if (req.method === "POST" && path === "/v1/chat/completions") {
      if (!env.GATEWAY_TOKEN || req.headers.authorization !== `Bearer ${env.GATEWAY_TOKEN}`) {
        return sendJson(res, 401, { error: { message: "Invalid gateway token", type: "invalid_request_error", code: "invalid_api_key" } });
      }
      entry.authorized = true;
      return chat(res, app, m, env, raw, entry);
    }
    if (req.method === "POST" && path === "/telegram-webhook") {
      const secret = req.headers["x-telegram-bot-api-secret-token"];
      if (!env.TELEGRAM_WEBHOOK_SECRET || secret !== env.TELEGRAM_WEBHOOK_SECRET) return sendJson(res, 401, { ok: false, error: "bad secret" });
      entry.authorized = true;
      entry.body = safeJson(raw);
      sendJson(res, 200, { ok: true });
      // Like the real image: answer the chat through the Worker's Bot API route (npm run dev; under
      // vitest the Worker has no port and the stand-in stays silent).
      void answerTelegram(env, entry.body);
      return;
    }
    return sendJson(res, 404, { error: "not found" });
  }

  /** Fly's proxy: a started machine, or one woken (`autostart`) after the wake delay. */
  async function routeToMachine(app: App): Promise<Machine | null> {
    const all = [...app.machines.values()].sort((a, b) => a.name.localeCompare(b.name));
    const up = all.find((m) => m.state === "started");
    if (up) return up;
    const booting = all.find((m) => m.state === "starting" || m.state === "replacing");
    const sleeping = all.find((m) => ["stopped", "suspended", "created"].includes(m.state) && autostartOn(m));
    const target = booting ?? sleeping;
    if (!target) return null;
    if (target === sleeping) startMachine(app, target, target.state === "suspended" ? settings.resumeDelayMs : (app.behaviour.wakeDelayMs ?? settings.wakeDelayMs));
    const until = Date.now() + 30_000;
    while (Date.now() < until && target.state !== "started" && target.state !== "failed" && target.state !== "destroyed") await sleep(5);
    return target.state === "started" ? target : null;
  }

  function autostartOn(m: Machine): boolean {
    const services = Array.isArray(m.config.services) ? (m.config.services as Obj[]) : [];
    return services.some((s) => s.autostart === true);
  }

  async function answerTelegram(env: Record<string, string>, update: unknown): Promise<void> {
    const message = isObject(update) && isObject(update.message) ? update.message : null;
    const chatId = message && isObject(message.chat) ? message.chat.id : undefined;
    if (!env.SOULPRINT_CALLBACK_URL || !env.GATEWAY_TOKEN || chatId === undefined || typeof message?.text !== "string") return;
    const soul = env.SOUL_MD_B64 ? Buffer.from(env.SOUL_MD_B64, "base64").toString("utf8") : "";
    const answer = await askGateway(env, soul, message.text);
    if (answer === null) return;
    await fetch(`${env.SOULPRINT_CALLBACK_URL}/api/container/telegram/sendMessage`, {
      method: "POST",
      headers: { authorization: `Bearer ${env.GATEWAY_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ chat_id: chatId, text: `(from your container) ${answer}` }),
      signal: AbortSignal.timeout(30_000),
    }).then((r) => r.body?.cancel(), () => {});
  }

  /** One non-streaming call to the Worker's model gateway with the container's token; null when unreachable. */
  async function askGateway(env: Record<string, string>, soul: string, said: string): Promise<string | null> {
    if (!env.SOULPRINT_CALLBACK_URL || !env.GATEWAY_TOKEN) return null;
    try {
      const response = await fetch(`${env.SOULPRINT_CALLBACK_URL}/api/container/model/v1/messages`, {
        method: "POST",
        headers: { "x-api-key": env.GATEWAY_TOKEN, "anthropic-version": "2023-06-01", "content-type": "application/json" },
        body: JSON.stringify({ model: "claude-opus-4-6", max_tokens: 1024, system: soul, messages: [{ role: "user", content: said }] }),
        signal: AbortSignal.timeout(30_000),
      });
      const body = (await response.json()) as { content?: { type: string; text?: string }[]; error?: { message?: string } };
      if (!response.ok) return `(the gateway answered ${response.status}: ${body.error?.message ?? "no message"})`;
      return (body.content ?? []).filter((b) => b.type === "text").map((b) => b.text ?? "").join("");
    } catch {
      return null;
    }
  }

  async function chat(res: ServerResponse, app: App, m: Machine, env: Record<string, string>, raw: Buffer, entry: Obj): Promise<void> {
    const body = safeJson(raw);
    const messages = isObject(body) && Array.isArray(body.messages) ? (body.messages as Obj[]) : [];
    const lastUser = [...messages].reverse().find((x) => x.role === "user");
    const said = typeof lastUser?.content === "string" ? lastUser.content : JSON.stringify(lastUser?.content ?? "");
    const wanted = entry.workspaceVersion;
    await catchUpWorkspace(env, m.life, typeof wanted === "string" ? wanted : undefined);
    // The workspace read from the Worker wins; the secrets are the cold-boot fallback.
    const soul = m.life.files?.get("SOUL.md") ?? (env.SOUL_MD_B64 ? Buffer.from(env.SOUL_MD_B64, "base64").toString("utf8") : "(none)");
    entry.user = isObject(body) ? body.user : undefined;
    entry.said = said;
    // Like the real image, the model is asked through the Worker's model gateway when the Worker can
    // be reached (npm run dev); under vitest the Worker has no port, and the container answers alone.
    const answer = await askGateway(env, soul, said);
    m.life.turns.push(said);
    void saveLife(env, m.life);
    const text = `This is the Fly stand-in container of ${app.name} (machine ${m.id}). My SOUL.md: ${soul.slice(0, 500)} ${answer ? `The model says: ${answer}` : `You said: ${said}`}`;
    const id = `chatcmpl-${hex(6)}`;
    const created = Math.floor(Date.now() / 1000);
    const model = isObject(body) && typeof body.model === "string" ? body.model : "openclaw";
    const usage = { prompt_tokens: Math.ceil(JSON.stringify(messages).length / 4), completion_tokens: Math.ceil(text.length / 4), total_tokens: 0 };
    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
    if (!(isObject(body) && body.stream === true)) {
      return sendJson(res, 200, { id, object: "chat.completion", created, model, choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }], usage });
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    const chunk = (delta: Obj, finish: string | null, extra: Obj = {}) =>
      `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [{ index: 0, delta, finish_reason: finish }], ...extra })}\n\n`;
    res.write(chunk({ role: "assistant", content: "" }, null));
    const pieces = text.match(/[\s\S]{1,24}/g) ?? [];
    let sent = 0;
    for (const piece of pieces) {
      if (res.destroyed) return;
      if (app.behaviour.failAfterPieces !== undefined && sent >= app.behaviour.failAfterPieces) {
        res.destroy(); // the machine died in the middle of the reply
        return;
      }
      res.write(chunk({ content: piece }, null));
      sent++;
      await sleep(app.behaviour.pieceDelayMs ?? 5);
    }
    const wantsUsage = isObject(body) && isObject(body.stream_options) && body.stream_options.include_usage === true;
    res.write(chunk({}, "stop", wantsUsage ? { usage } : {}));
    res.end("data: [DONE]\n\n");
  }

  // --- control ---

  async function handleControl(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const method = req.method ?? "GET";
    const parts = url.pathname.split("/").filter(Boolean).slice(1).map(decodeURIComponent);
    const raw = await readBody(req);
    const body = raw.length ? safeJson(raw) : {};
    const b: Obj = isObject(body) ? body : {};
    const [what, name, sub, id, action] = parts;
    if (what === "health") return sendJson(res, 200, { ok: true });
    if (what === "reset" && method === "POST") {
      reset(typeof b.seed === "number" ? b.seed : seed);
      return sendJson(res, 200, { ok: true });
    }
    if (what === "faults") {
      if (method === "DELETE") {
        // ?app=NAME clears only that app's rules, so test files sharing the stand-in stay apart.
        const only = url.searchParams.get("app");
        rules = only ? rules.filter((r) => r.app !== only) : [];
        if (!only) random = { ...random, rate: 0 };
      } else if (method === "POST") {
        if (typeof b.seed === "number") rand = rng((seed = b.seed));
        if (typeof b.rate === "number") {
          random = {
            rate: b.rate,
            kinds: Array.isArray(b.kinds) ? b.kinds.map(String) : random.kinds,
            phase: b.phase === "after" || b.phase === "mixed" ? b.phase : "before",
            retryAfterS: typeof b.retryAfterS === "number" ? b.retryAfterS : 1,
            appPattern: typeof b.appPattern === "string" ? b.appPattern : undefined,
          };
        }
        if (isObject(b.on)) {
          const on = b.on;
          rules.push({
            method: typeof on.method === "string" ? on.method : undefined,
            pathPattern: typeof on.pathPattern === "string" ? on.pathPattern : undefined,
            status: typeof on.status === "number" ? on.status : undefined,
            hang: on.hang === true,
            phase: on.phase === "after" ? "after" : "before",
            times: typeof on.times === "number" ? on.times : 1,
            retryAfterS: typeof on.retryAfterS === "number" ? on.retryAfterS : 1,
            app: typeof on.app === "string" ? on.app : undefined,
          });
        }
      }
      return sendJson(res, 200, { random, rules });
    }
    if (what === "settings" && method === "POST") {
      settings = { ...settings, ...pickNumbers(b, ["transitionMs", "wakeDelayMs", "resumeDelayMs"]) };
      if ("autostopAfterMs" in b) settings.autostopAfterMs = typeof b.autostopAfterMs === "number" ? b.autostopAfterMs : null;
      if (typeof b.containerLife === "boolean") settings.containerLife = b.containerLife;
      armIdleStop();
      return sendJson(res, 200, settings);
    }
    if (what === "foreign-apps" && method === "POST" && typeof b.name === "string") {
      foreign.add(b.name);
      return sendJson(res, 200, { foreign: [...foreign] });
    }
    if (what === "calls") {
      return sendJson(res, 200, callSummary(Number(url.searchParams.get("since") ?? 0), url.searchParams.get("app")));
    }
    if (what === "apps" && name === undefined) {
      return sendJson(res, 200, { apps: [...apps.values()].map((a) => ({ name: a.name, org: a.org, secretsVersion: a.secretsVersion, ips: a.ips.length, machines: [...a.machines.values()].map((m) => ({ id: m.id, name: m.name, state: m.state })) })) });
    }
    const app = what === "apps" && name ? apps.get(name) : undefined;
    if (!app) return sendJson(res, 404, { error: `no app ${name ?? ""}` });
    if (sub === undefined && method === "GET") return sendJson(res, 200, inspect(app));
    if (sub === undefined && method === "DELETE") {
      removeApp(app);
      return sendJson(res, 200, { ok: true });
    }
    if (sub === "health" && method === "POST") {
      app.healthFailures = typeof b.failTimes === "number" ? b.failTimes : 0;
      return sendJson(res, 200, { failTimes: app.healthFailures });
    }
    if (sub === "container" && method === "POST") {
      const next: ContainerBehaviour = {};
      for (const key of ["wakeDelayMs", "failAfterPieces", "pieceDelayMs"] as const) if (typeof b[key] === "number") next[key] = b[key] as number;
      if (b.refuseWhileWaking === true) next.refuseWhileWaking = true;
      app.behaviour = next;
      return sendJson(res, 200, { behaviour: app.behaviour });
    }
    if (sub === "requests") return sendJson(res, 200, { requests: app.requests });
    if (sub === "drift" && method === "POST") {
      drift(app, b);
      return sendJson(res, 200, inspect(app));
    }
    if (sub === "machines" && id && action === "stop" && method === "POST") {
      const m = app.machines.get(id);
      if (!m) return sendJson(res, 404, { error: `no machine ${id}` });
      stopMachine(app, m, b.suspend === true);
      return sendJson(res, 200, { ok: true });
    }
    if (sub === "write-back" && method === "POST") return sendJson(res, 200, await writeBack(app, b));
    return sendJson(res, 404, { error: "unknown control route" });
  }

  function inspect(app: App): Obj {
    return {
      name: app.name, org: app.org, network: app.network, secretsVersion: app.secretsVersion,
      secrets: Object.fromEntries([...app.secrets].map(([n, s]) => [n, s.value])),
      ips: app.ips,
      machines: [...app.machines.values()].map((m) => ({
        id: m.id, name: m.name, state: m.state, region: m.region, instanceId: m.instanceId, config: m.config,
        minSecretsVersion: m.minSecretsVersion, bootSecretsVersion: m.bootSecretsVersion, failure: m.failure,
      })),
    };
  }

  function drift(app: App, b: Obj): void {
    const list = [...app.machines.values()];
    if (typeof b.image === "string") for (const m of list) m.config = { ...m.config, image: b.image };
    if (typeof b.deleteMachine === "string") {
      for (const m of list) if (b.deleteMachine === "*" || m.id === b.deleteMachine || m.name === b.deleteMachine) { clearTimers(m); app.machines.delete(m.id); }
    }
    if (typeof b.unsetSecret === "string") {
      app.secrets.delete(b.unsetSecret);
      app.secretsVersion++;
    }
    if (b.releaseIps === true) app.ips = [];
  }

  async function writeBack(app: App, b: Obj): Promise<Obj> {
    const m = await routeToMachine(app);
    const env = m?.bootEnv ?? {};
    const base = env.SOULPRINT_CALLBACK_URL;
    if (!base || typeof b.name !== "string" || typeof b.content !== "string") return { error: "needs a running machine with SOULPRINT_CALLBACK_URL, and {name, content}" };
    const res = await fetch(`${base.replace(/\/+$/, "")}/api/container/workspace/${encodeURIComponent(b.name)}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${env.GATEWAY_TOKEN ?? ""}`, "x-soulprint-user": env.SOULPRINT_USER_ID ?? "", "content-type": "text/markdown; charset=utf-8" },
      body: b.content,
    });
    return { status: res.status, body: safeJson(Buffer.from(await res.arrayBuffer())) };
  }

  /** The proxy's autostop: a machine without requests for `autostopAfterMs` stops or suspends. */
  function armIdleStop(): void {
    if (idleTimer) clearInterval(idleTimer);
    idleTimer = null;
    const after = settings.autostopAfterMs;
    if (after === null) return;
    idleTimer = setInterval(() => {
      for (const app of apps.values()) {
        for (const m of app.machines.values()) {
          const mode = autostopMode(m);
          if (m.state === "started" && mode !== "off" && Date.now() - m.lastRequestAt > after) stopMachine(app, m, mode === "suspend");
        }
      }
    }, Math.max(10, Math.min(after, 1000)));
  }

  function reset(newSeed: number): void {
    for (const app of apps.values()) removeApp(app);
    foreign.clear();
    for (const res of hung) res.destroy();
    hung.clear();
    rules = [];
    random = { rate: 0, kinds: ["429", "5xx"], phase: "before", retryAfterS: 1 };
    settings = { ...DEFAULT_SETTINGS };
    armIdleStop();
    seed = newSeed;
    rand = rng(seed);
    calls = [];
  }

  const base = await serve(
    async (req, res) => {
      const url = new URL(req.url ?? "/", "http://standin");
      if (url.pathname.startsWith("/__control/")) return handleControl(req, res, url);
      if (url.pathname.startsWith("/_apps/")) return handleProxy(req, res, url);
      return handleApi(req, res, url);
    },
    { port: options.port, host: options.host },
    () => {
      reset(seed);
      if (idleTimer) clearInterval(idleTimer);
    },
  );
  return { ...base, appUrlTemplate: `${base.url}/_apps/{app}` };
}

/** `/v1/apps/sp-x/machines/abc/wait` → `/v1/apps/:app/machines/:id/wait`, for counts per route. */
function routeOf(path: string): string {
  const p = path.split("/").filter(Boolean);
  const named = p[3] === "machines" ? ":id" : p[3] === "ip_assignments" ? ":ip" : ":name";
  return "/" + [p[0], p[1], p[2] && ":app", p[3], p[4] && named, p[5]].filter((x) => x).join("/");
}

function pickNumbers(b: Obj, keys: string[]): Partial<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const k of keys) if (typeof b[k] === "number" && Number.isFinite(b[k])) out[k] = b[k] as number;
  return out;
}

/** What a test may want to know of a request without its secret values: names, flags, versions. */
function describeBody(body: unknown): Obj | undefined {
  if (!isObject(body)) return undefined;
  const out: Obj = {};
  if (isObject(body.values)) {
    out.set = Object.entries(body.values).filter(([, v]) => v !== null).map(([k]) => k).sort();
    out.unset = Object.entries(body.values).filter(([, v]) => v === null).map(([k]) => k).sort();
  }
  for (const key of ["skip_launch", "min_secrets_version", "name", "type"]) if (key in body) out[key] = body[key];
  return Object.keys(out).length > 0 ? out : undefined;
}

function safeJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString("utf8"));
  } catch {
    return raw.toString("utf8").slice(0, 2000);
  }
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
