/** Shared test helpers: a unique user per test, tokens, and calls through the whole Worker. */
import { env, exports } from "cloudflare:workers";
import { mintUserToken } from "../src/lib/auth.ts";

export const ORIGIN = "http://soulprint.test";
export const ADMIN = { authorization: `Bearer ${env.ADMIN_TOKEN}` };

let counter = 0;
/** A fresh email per call, so tests never share a user object (storage is per file, not per test). */
export function uniqueEmail(label = "user"): string {
  counter += 1;
  return `${label}-${counter}-${crypto.randomUUID().slice(0, 8)}@example.com`;
}

export interface TestUser {
  email: string;
  userId: string;
  token: string;
  auth: { authorization: string };
}

export async function newUser(label?: string): Promise<TestUser> {
  const email = uniqueEmail(label);
  const { token, userId } = await mintUserToken(env, email, 3600);
  return { email, userId, token, auth: { authorization: `Bearer ${token}` } };
}

/** A request through the Worker's own fetch handler, as a client would send it. */
export function api(path: string, init: RequestInit = {}): Promise<Response> {
  return exports.default.fetch(new Request(`${ORIGIN}${path}`, init));
}

export async function apiJson<T = Record<string, unknown>>(path: string, init: RequestInit = {}): Promise<{ status: number; body: T; headers: Headers }> {
  const response = await api(path, init);
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : null) as T, headers: response.headers };
}

export function jsonInit(method: string, body: unknown, headers: Record<string, string> = {}): RequestInit {
  return { method, headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) };
}

/** Asserts the API.md error shape and returns its code. */
export function errorCode(body: unknown): string {
  const error = (body as { error?: { code?: unknown; message?: unknown } })?.error;
  if (!error || typeof error.code !== "string" || typeof error.message !== "string" || error.message.length === 0) {
    throw new Error(`Not an API.md error body: ${JSON.stringify(body)}`);
  }
  return error.code;
}
