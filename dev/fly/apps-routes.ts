/**
 * The Fly stand-in's Machines API routes for apps, their secrets and their IP assignments:
 * `/v1/apps`, `/v1/apps/:app`, `/v1/apps/:app/secrets[/:name]`, `/v1/apps/:app/ip_assignments[/:ip]`.
 * Every secrets write bumps the app's secrets version, which machines can require
 * (`min_secrets_version`) and boot with.
 */
import { createHash } from "node:crypto";
import { isObject } from "../standin-util.ts";
import { removeApp } from "./lifecycle.ts";
import { err, type Reply } from "./reply.ts";
import type { App, FlyState, Ip } from "./state.ts";
import { hex, now, type Obj } from "./util.ts";

const APP_NAME = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;
const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function appJson(app: App): Obj {
  return { id: app.id, name: app.name, status: app.machines.size > 0 ? "deployed" : "pending", organization: { name: app.org, slug: app.org }, network: app.network, machine_count: app.machines.size };
}

export function createApp(s: FlyState, body: unknown): Reply {
  if (!isObject(body)) return err(400, "invalid JSON body");
  const name = String(body.app_name ?? body.name ?? "");
  const org = String(body.org_slug ?? "");
  if (!APP_NAME.test(name)) return err(422, `invalid app name: ${name}`, "invalid_name");
  if (!org) return err(400, "org_slug is required");
  if (s.apps.has(name) || s.foreign.has(name)) return err(422, `Name has already been taken`, "name_taken");
  const app: App = {
    id: hex(8), name, org, network: typeof body.network === "string" && body.network ? body.network : "default", createdAt: Date.now(),
    secrets: new Map(), secretsVersion: 0, ips: [], machines: new Map(), requests: [], healthFailures: 0, behaviour: {},
  };
  s.apps.set(name, app);
  return { status: 201, body: { id: app.id, created_at: app.createdAt } };
}

export function listApps(s: FlyState, query: URLSearchParams): Reply {
  const org = query.get("org_slug");
  const list = [...s.apps.values()].filter((a) => !org || a.org === org);
  return { status: 200, body: { total_apps: list.length, apps: list.map((a) => ({ id: a.id, name: a.name, machine_count: a.machines.size, volume_count: 0, network: a.network })) } };
}

export function deleteApp(s: FlyState, app: App, force: boolean): Reply {
  const running = [...app.machines.values()].some((m) => m.state === "started" || m.state === "starting");
  // Assumption: without force, running machines refuse the delete (force "stops machines first").
  if (running && !force) return err(412, "failed_precondition: app has running machines, use force=true", "failed_precondition");
  removeApp(s, app);
  return { status: 202 };
}

export function secrets(app: App, method: string, name: string | undefined, body: unknown): Reply {
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

export function ipAssignments(s: FlyState, app: App, method: string, ip: string | undefined, body: unknown): Reply {
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
  const n = () => Math.floor(s.rand() * 250) + 1;
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
