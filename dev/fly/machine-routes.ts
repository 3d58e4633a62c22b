/**
 * The Fly stand-in's Machines API routes for machines: `/v1/apps/:app/machines[/:id[/:action]]`
 * (list with metadata filters, create, get, update, destroy, start, stop, suspend, restart) and the
 * `wait` long-poll that answers 408 when the state is not reached in time. Names are not unique,
 * as on Fly: creating twice makes two machines.
 */
import { createHash } from "node:crypto";
import { isObject } from "../standin-util.ts";
import { newLife } from "../standin-container-life.ts";
import { clearTimers, destroyMachine, later, setState, startMachine, stopMachine } from "./lifecycle.ts";
import { err, type Reply } from "./reply.ts";
import type { App, FlyState, Machine } from "./state.ts";
import { hex, instanceId, now, type Obj } from "./util.ts";

export function machineJson(m: Machine): Obj {
  const image = String(m.config.image ?? "");
  const [repository, tag = "latest"] = image.split(":");
  return {
    id: m.id, name: m.name, state: m.state, region: m.region, instance_id: m.instanceId, private_ip: m.privateIp,
    config: m.config, created_at: m.createdAt, updated_at: m.updatedAt, events: m.events.slice(0, 5),
    image_ref: { registry: repository?.split("/")[0] ?? "", repository, tag, digest: `sha256:${createHash("sha256").update(image).digest("hex")}` },
  };
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

export async function machines(s: FlyState, app: App, method: string, id: string | undefined, action: string | undefined, query: URLSearchParams, body: unknown): Promise<Reply> {
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
    if (body.skip_launch !== true) startMachine(s, app, m);
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
      destroyMachine(s, app, m);
      return { status: 200, body: { ok: true } };
    }
    if (method === "POST") return updateMachine(s, app, m, body);
    return err(405, "method not allowed");
  }
  if (action === "wait") return method === "GET" ? waitFor(s, m, query) : err(405, "method not allowed");
  if (method !== "POST") return err(405, "method not allowed");
  if (m.state === "destroyed" || m.state === "destroying") return err(412, "failed_precondition: machine is being destroyed", "failed_precondition");
  const previous = m.state;
  if (action === "start") {
    startMachine(s, app, m);
    return { status: 200, body: { previous_state: previous, migrated: false, new_host: "" } };
  }
  if (action === "stop" || action === "suspend") {
    stopMachine(s, app, m, action === "suspend");
    return { status: 200, body: { ok: true } };
  }
  if (action === "restart") {
    stopMachine(s, app, m, false);
    later(m, s.settings.transitionMs * 2, () => startMachine(s, app, m));
    return { status: 200, body: { ok: true } };
  }
  return err(404, "not found");
}

/** The whole config is replaced; a running machine reboots; `skip_launch` leaves it (or puts it) down. */
function updateMachine(s: FlyState, app: App, m: Machine, body: unknown): Reply {
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
  if (m.state !== "created") setState(s, app, m, wasUp ? "replacing" : "stopped", "update");
  if (body.skip_launch === true) {
    if (m.state === "replacing") later(m, s.settings.transitionMs, () => setState(s, app, m, "stopped"));
  } else {
    if (m.state === "replacing") setState(s, app, m, "stopped");
    startMachine(s, app, m);
  }
  return { status: 200, body: machineJson(m) };
}

async function waitFor(s: FlyState, m: Machine, query: URLSearchParams): Promise<Reply> {
  const state = query.get("state") ?? "started";
  const timeoutS = Number(query.get("timeout") ?? 60);
  if (!["started", "stopped", "suspended", "destroyed"].includes(state)) return err(400, `invalid state: ${state}`);
  if (!Number.isFinite(timeoutS) || timeoutS < 1 || timeoutS > 60) return err(400, "timeout must be between 1 and 60 seconds");
  if (state === "stopped" && !query.get("instance_id")) return err(400, "instance_id is required to wait for stopped");
  const reached = () => m.state === state;
  if (!reached()) {
    await new Promise<void>((resolve) => {
      const set = s.waiters.get(m) ?? new Set();
      s.waiters.set(m, set);
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
