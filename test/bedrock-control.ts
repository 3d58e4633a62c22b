/** Drives the Bedrock stand-in over its HTTP control API (tests run inside workerd). */
import { inject } from "vitest";

const base = () => inject("bedrockUrl");

export async function script(key: string, replies: unknown[]): Promise<void> {
  const response = await fetch(`${base()}/__control/script`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ key, replies }) });
  if (!response.ok) throw new Error(`script failed: ${response.status} ${await response.text()}`);
}

export interface RecordedRequest {
  /** The HTTP status the stand-in answered (400 when it refused the request as Bedrock would). */
  status?: number;
  /** How it was answered: `scripted:<kind>`, `default`, or the AWS error type it refused with. */
  outcome?: string;
  modelId: string;
  operation: string;
  auth: string;
  body: {
    system?: { text?: string; cachePoint?: unknown }[];
    messages?: { role: string; content: Record<string, unknown>[] }[];
    toolConfig?: { tools: Record<string, unknown>[] };
  };
}

/** Drops what is left of a key's scripted replies. */
export async function clearScript(key: string): Promise<void> {
  await fetch(`${base()}/__control/script?key=${encodeURIComponent(key)}`, { method: "DELETE" });
}

export async function requests(key: string): Promise<RecordedRequest[]> {
  const response = await fetch(`${base()}/__control/requests?key=${encodeURIComponent(key)}`);
  return ((await response.json()) as { requests: RecordedRequest[] }).requests;
}

/** A key unique to one test, and the marker that routes a message to its script. */
export function scenario(): { key: string; tag: string } {
  const key = `t${crypto.randomUUID().slice(0, 12)}`;
  return { key, tag: `[[scenario:${key}]]` };
}

/** A recorded Claude InvokeModel / InvokeModelWithResponseStream call: the native Messages body as sent. */
export interface RecordedClaudeRequest {
  status?: number;
  outcome?: string;
  modelId: string;
  operation: "invoke" | "invoke-with-response-stream";
  auth: string;
  body: {
    anthropic_version: string;
    max_tokens: number;
    system?: string | { type: string; text: string; cache_control?: { type: string; ttl?: string } }[];
    messages: { role: string; content: string | Record<string, unknown>[] }[];
    tools?: Record<string, unknown>[];
  } & Record<string, unknown>;
}

/** The Claude-native calls recorded for a key (the model gateway's path), oldest first. */
export async function claudeRequests(key: string): Promise<RecordedClaudeRequest[]> {
  const all = (await requests(key)) as unknown as { operation: string }[];
  return all.filter((r) => r.operation === "invoke" || r.operation === "invoke-with-response-stream") as RecordedClaudeRequest[];
}
