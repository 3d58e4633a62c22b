/**
 * Which Fly secrets an app gets (API.md, the container contract), and what a sync must send: pure
 * functions, so "only what changed" and "zero calls when nothing did" are decided without Fly.
 */
import { utf8ToBase64 } from "../crypto.ts";

/** `SOUL.md` → `SOUL_MD_B64`. File names are already `^[A-Z][A-Z0-9_]*\.md$` (workspace.ts). */
export function fileSecretName(fileName: string): string {
  return `${fileName.replace(/\.md$/, "").toUpperCase()}_MD_B64`;
}

/** Does this secret carry a workspace file? */
export function isFileSecret(secretName: string): boolean {
  return /_MD_B64$/.test(secretName);
}

/**
 * A file's secret value: base64 of its UTF-8 bytes. `btoa(text)` would throw on emoji; base64 is
 * also what the container's decoder expects.
 */
export function fileSecretValue(content: string): string {
  return utf8ToBase64(content);
}

export interface SecretInputs {
  userId: string;
  callbackUrl: string;
  gatewayToken: string;
  /** SOULPRINT_MODEL: a label for the container; the Worker decides the Bedrock model. */
  model: string;
  /** The claimed bot's webhook secret (never its token: the container's Bot API calls go through the Worker). */
  telegramWebhookSecret: string | null;
  files: { name: string; content: string }[];
}

/**
 * The only secrets an app holds (API.md, "The user's container"). No Worker secret is among them:
 * no AWS credentials (the container's model calls go through the Worker's gateway) and no bot token
 * (its Bot API calls too). A name not listed here is unset at the next sync or reconcile.
 */
export const CONTAINER_SECRET_NAMES = ["GATEWAY_TOKEN", "SOULPRINT_USER_ID", "SOULPRINT_CALLBACK_URL", "SOULPRINT_MODEL", "TELEGRAM_WEBHOOK_SECRET"] as const;

/**
 * The files that become secrets and mounts. An empty file has no secret (Fly takes no empty value),
 * so it must not be mounted either: a mount naming a missing secret would stop the machine booting.
 */
export function carriedFiles<T extends { name: string; content: string }>(files: T[]): T[] {
  return files.filter((file) => file.content !== "");
}

/** Every secret the app should have, by name. Empty values are left out (Fly rejects them). */
export function desiredSecrets(input: SecretInputs): Record<string, string> {
  const values: Record<string, string | undefined> = {
    GATEWAY_TOKEN: input.gatewayToken,
    SOULPRINT_USER_ID: input.userId,
    SOULPRINT_CALLBACK_URL: input.callbackUrl,
    SOULPRINT_MODEL: input.model,
    TELEGRAM_WEBHOOK_SECRET: input.telegramWebhookSecret ?? undefined,
  };
  for (const file of carriedFiles(input.files)) values[fileSecretName(file.name)] = fileSecretValue(file.content);
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(values)) {
    if (value !== undefined && value.trim() !== "") out[name] = value;
  }
  return out;
}

export interface SecretsDiff {
  /** Secrets to (re)send, with their values. */
  set: Record<string, string>;
  /** Secrets to remove: sent before, wanted no more. */
  unset: string[];
}

/**
 * What to send, given what is wanted (`name → value`, `name → digest`) and the digests of what was
 * last sent. A secret we never recorded sending is sent; one recorded but no longer wanted is unset.
 */
export function diffSecrets(wanted: Record<string, string>, wantedDigests: Record<string, string>, sentDigests: Record<string, string>): SecretsDiff {
  const set: Record<string, string> = {};
  for (const [name, value] of Object.entries(wanted)) {
    if (sentDigests[name] !== wantedDigests[name]) set[name] = value;
  }
  const unset = Object.keys(sentDigests).filter((name) => !(name in wanted)).sort();
  return { set, unset };
}

export function isEmptyDiff(diff: SecretsDiff): boolean {
  return Object.keys(diff.set).length === 0 && diff.unset.length === 0;
}

/** The body of `POST /v1/apps/{app}/secrets`: values to set, `null` to unset. */
export function secretsPayload(diff: SecretsDiff): Record<string, string | null> {
  const values: Record<string, string | null> = { ...diff.set };
  for (const name of diff.unset) values[name] = null;
  return values;
}

/**
 * True when a diff only carries workspace files (set or unset). The container reads the workspace
 * from the Worker (`GET /api/container/workspace`) at boot, on resume and when told it moved on, so
 * the secrets are only its cold-boot fallback: they are updated for later boots, and no machine is
 * updated (rebooted, its suspend snapshot discarded) for them (issue 15).
 */
export function isWorkspaceOnly(diff: SecretsDiff): boolean {
  const names = [...Object.keys(diff.set), ...diff.unset];
  return names.length > 0 && names.every(isFileSecret);
}

function fileNameOf(secretName: string): string {
  return `${secretName.replace(/_MD_B64$/, "")}.md`;
}

/** The workspace file names a diff touches (`SOUL_MD_B64` → `SOUL.md`), for the sync's answer. */
export function changedFileNames(diff: SecretsDiff): string[] {
  return [...Object.keys(diff.set), ...diff.unset]
    .filter(isFileSecret)
    .map(fileNameOf)
    .sort();
}
