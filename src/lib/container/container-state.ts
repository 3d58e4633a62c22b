/**
 * OpenClaw's state directory (sessions, memory notes, cron), saved by the user's container as one
 * compressed archive (issue 15). Kept in R2 under the user's prefix, versioned (the newest
 * MAX_STATE_VERSIONS), each capped at MAX_STATE_BYTES; the object keeps the index so "the latest"
 * never depends on an R2 listing. The archive is opaque here: the container writes and reads it.
 */
import { HttpError } from "../errors.ts";
import { sha256Hex } from "../crypto.ts";
import type { Sql } from "../sql.ts";

export const MAX_STATE_BYTES = 20 * 1024 * 1024;
export const MAX_STATE_VERSIONS = 5;
export const STATE_CONTENT_TYPE = "application/gzip";

export const STATE_SCHEMA = `CREATE TABLE IF NOT EXISTS container_states (
  version INTEGER PRIMARY KEY, key TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL, at INTEGER NOT NULL
)`;

export interface StateMeta {
  version: number;
  size: number;
  sha256: string;
  savedAt: string;
}

interface Row {
  version: number;
  key: string;
  size: number;
  sha256: string;
  at: number;
}

/** Every R2 key of one user's state starts with this (account deletion removes the prefix). */
export function statePrefix(userId: string): string {
  return `state/${userId}/`;
}

/** The object part: the index in SQLite, the bytes in R2. */
export class ContainerStateStore {
  constructor(
    private readonly sql: Sql,
    private readonly bucket: R2Bucket,
    private readonly now: () => number = Date.now,
  ) {}

  latest(): StateMeta | null {
    const row = this.sql.one<Row>("SELECT * FROM container_states ORDER BY version DESC LIMIT 1");
    return row ? toMeta(row) : null;
  }

  list(): StateMeta[] {
    return this.sql.all<Row>("SELECT * FROM container_states ORDER BY version DESC").map(toMeta);
  }

  /**
   * Saves a new version. `ifMatch` (the sha256 the container restored or last saved) keeps a second
   * machine from overwriting a newer snapshot with an older one; "*"/absent accepts any. Identical
   * bytes are not stored twice.
   */
  async save(userId: string, bytes: ArrayBuffer, ifMatch?: string): Promise<StateMeta> {
    if (bytes.byteLength === 0) throw new HttpError(400, "empty_state", "The state archive is empty.");
    if (bytes.byteLength > MAX_STATE_BYTES) throw new HttpError(413, "state_too_large", `A state snapshot may be at most ${MAX_STATE_BYTES / 1024 / 1024} MB; this one is ${(bytes.byteLength / 1024 / 1024).toFixed(1)} MB.`);
    const current = this.latest();
    const wanted = ifMatch?.trim().replace(/^W\//, "").replace(/^"|"$/g, "");
    if (wanted && wanted !== "*" && current && current.sha256 !== wanted) {
      throw new HttpError(409, "state_conflict", "A newer state snapshot was saved since this container restored; restore it first.");
    }
    const sha256 = await sha256Hex(new Uint8Array(bytes));
    if (current && current.sha256 === sha256) return current;
    const version = (current?.version ?? 0) + 1;
    const key = `${statePrefix(userId)}${String(version).padStart(10, "0")}-${sha256.slice(0, 16)}.tgz`;
    const at = this.now();
    await this.bucket.put(key, bytes, { httpMetadata: { contentType: STATE_CONTENT_TYPE }, sha256 });
    this.sql.run("INSERT INTO container_states (version, key, size, sha256, at) VALUES (?, ?, ?, ?, ?)", version, key, bytes.byteLength, sha256, at);
    await this.prune();
    return { version, size: bytes.byteLength, sha256, savedAt: new Date(at).toISOString() };
  }

  /** The newest snapshot's bytes, or null when none was ever saved (or R2 lost it). */
  async read(): Promise<{ meta: StateMeta; body: ReadableStream<Uint8Array> } | null> {
    const row = this.sql.one<Row>("SELECT * FROM container_states ORDER BY version DESC LIMIT 1");
    if (!row) return null;
    const object = await this.bucket.get(row.key);
    return object ? { meta: toMeta(row), body: object.body } : null;
  }

  private async prune(): Promise<void> {
    const old = this.sql.all<Row>("SELECT * FROM container_states ORDER BY version DESC LIMIT -1 OFFSET ?", MAX_STATE_VERSIONS);
    if (old.length === 0) return;
    await this.bucket.delete(old.map((r) => r.key));
    for (const r of old) this.sql.run("DELETE FROM container_states WHERE version = ?", r.version);
  }
}

function toMeta(row: Row): StateMeta {
  return { version: row.version, size: row.size, sha256: row.sha256, savedAt: new Date(row.at).toISOString() };
}
