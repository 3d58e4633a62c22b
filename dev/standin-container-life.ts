/**
 * The Fly stand-in's container speaking issue 15's protocol with the Worker, as the real image does
 * (container/src/workspace-sync.ts, state-sync.ts, schedule-report.ts), when the Worker can be
 * reached (`npm run dev`; under vitest it cannot, and every call here fails quietly):
 * - at boot: restores its "state" (the turns it has seen, as gzip'd JSON) with
 *   `GET /api/container/state`, reads the workspace with `GET /api/container/workspace`, and reports
 *   one scheduled job (a daily check-in at the next full hour) with `PUT /api/container/schedule`;
 * - on resume, and when a request's `X-SoulPrint-Workspace-Version` is not the version it has:
 *   reads the workspace again (`If-None-Match`);
 * - after each chat: saves its state with `PUT /api/container/state`.
 */
import { gunzipSync, gzipSync } from "node:zlib";

export interface ContainerLife {
  files: Map<string, string> | null;
  version: string | null;
  turns: string[];
}

export const newLife = (): ContainerLife => ({ files: null, version: null, turns: [] });

type Env = Record<string, string>;

function call(env: Env, path: string, init: RequestInit = {}): Promise<Response> | null {
  if (!env.SOULPRINT_CALLBACK_URL || !env.GATEWAY_TOKEN) return null;
  const headers = { authorization: `Bearer ${env.GATEWAY_TOKEN}`, "x-soulprint-user": env.SOULPRINT_USER_ID ?? "", ...(init.headers as Record<string, string> | undefined) };
  return fetch(`${env.SOULPRINT_CALLBACK_URL.replace(/\/+$/, "")}${path}`, { ...init, headers, signal: AbortSignal.timeout(3_000) });
}

/** Reads the workspace when `wanted` is not the version this container has (or always, without one). */
export async function catchUpWorkspace(env: Env, life: ContainerLife, wanted?: string): Promise<void> {
  if (wanted && wanted === life.version) return;
  try {
    const response = await call(env, "/api/container/workspace", { headers: life.version ? { "if-none-match": `"${life.version}"` } : {} });
    if (!response || response.status === 304 || !response.ok) return void (await response?.body?.cancel());
    const body = (await response.json()) as { version?: string; files?: { name: string; content: string }[] };
    life.files = new Map((body.files ?? []).map((f) => [f.name, f.content]));
    life.version = body.version ?? null;
  } catch {
    // the Worker is not reachable: the secrets the machine booted with stay in use
  }
}

/** A fresh boot: state first, then the workspace, then the schedule. Never throws. */
export async function bootLife(env: Env, life: ContainerLife): Promise<void> {
  try {
    const state = await call(env, "/api/container/state");
    if (state?.ok) life.turns = (JSON.parse(gunzipSync(Buffer.from(await state.arrayBuffer())).toString("utf8")) as { turns?: string[] }).turns ?? [];
    else await state?.body?.cancel();
  } catch {
    // nothing saved yet, or the Worker is not reachable
  }
  await catchUpWorkspace(env, life);
  const next = new Date();
  next.setUTCMinutes(0, 0, 0);
  next.setUTCHours(next.getUTCHours() + 1);
  try {
    const response = await call(env, "/api/container/schedule", {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jobs: [{ id: "standin-check-in", name: "Daily check-in (Fly stand-in)", nextRunAt: next.toISOString() }] }),
    });
    await response?.body?.cancel();
  } catch {
    // the Worker is not reachable
  }
}

/** Saves the turns seen so far, as the real container saves OpenClaw's state directory. */
export async function saveLife(env: Env, life: ContainerLife): Promise<void> {
  try {
    const response = await call(env, "/api/container/state", {
      method: "PUT",
      headers: { "content-type": "application/gzip" },
      body: gzipSync(JSON.stringify({ turns: life.turns.slice(-200) })),
    });
    await response?.body?.cancel();
  } catch {
    // the Worker is not reachable
  }
}
