/**
 * The user's workspace files (SOUL.md, MEMORY.md, ...): validated names, byte caps, versions kept
 * on every write and delete, optimistic concurrency by sha256. The Durable Object is the source of
 * truth; containers receive copies.
 */
import { HttpError } from "./errors.ts";
import { sha256Hex } from "./crypto.ts";
import type { Sql } from "./sql.ts";
import { DEFAULT_VERSIONS_PAGE, pruneVersions, versionPage } from "./file-versions.ts";

export const FILE_NAME_PATTERN = /^[A-Z][A-Z0-9_]{0,31}\.md$/;
export const MAX_FILE_BYTES = 64 * 1024;
export const MAX_FILES = 32;
export const MAX_TOTAL_BYTES = 512 * 1024;
export { MAX_VERSIONS_PER_FILE } from "./file-versions.ts";

export type ChangeSource = "user" | "tool" | "container" | "restore" | "starter" | "conflict";

export interface FileMeta {
  name: string;
  size: number;
  sha256: string;
  version: number;
  updatedAt: string;
}

export interface FileVersion extends Omit<FileMeta, "sha256"> {
  /** null for the version that records a delete. */
  sha256: string | null;
  deleted: boolean;
  source: string;
}

export interface WorkspaceChange {
  name: string;
  sha256: string | null;
  version: number;
  source: ChangeSource;
  /** The container's write lost a race with another edit: its text was kept as a version only. */
  conflict?: boolean;
}

interface FileRow {
  name: string;
  content: string;
  size: number;
  sha256: string;
  version: number;
  updated_at: number;
}

export const WORKSPACE_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS files (
    name TEXT PRIMARY KEY, content TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL,
    version INTEGER NOT NULL, updated_at INTEGER NOT NULL, source TEXT NOT NULL
  )`,
  `CREATE TABLE IF NOT EXISTS file_versions (
    name TEXT NOT NULL, version INTEGER NOT NULL, content TEXT, size INTEGER NOT NULL, sha256 TEXT,
    updated_at INTEGER NOT NULL, source TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (name, version)
  )`,
];

export const STARTER_FILES: Record<string, string> = {
  "SOUL.md": "# Soul\n\nYou are a warm, curious companion. You speak plainly, remember what matters to the person you talk with, and say so when you are unsure.\n",
  "IDENTITY.md": "# Identity\n\nName: (choose one together)\nVibe: kind, thoughtful, a little playful.\n",
  "USER.md": "# About the person\n\n(Write here what your companion should know about you.)\n",
  "MEMORY.md": "",
};

const encoder = new TextEncoder();

export function validateFileName(name: string): void {
  if (!FILE_NAME_PATTERN.test(name)) {
    throw new HttpError(400, "invalid_file_name", "File names are an upper-case letter, then up to 31 upper-case letters, digits or underscores, then .md (like SOUL.md).");
  }
}

export function byteLength(text: string): number {
  return encoder.encode(text).byteLength;
}

export class Workspace {
  constructor(
    private readonly sql: Sql,
    private readonly onChange: (change: WorkspaceChange) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seeds the starter files once, for a new user. */
  async seedStarterFiles(): Promise<void> {
    for (const [name, content] of Object.entries(STARTER_FILES)) {
      await this.write(name, content, { source: "starter", notify: false });
    }
  }

  list(): FileMeta[] {
    return this.sql.all<FileRow>("SELECT name, size, sha256, version, updated_at FROM files ORDER BY name").map(toMeta);
  }

  read(name: string): { meta: FileMeta; content: string } | null {
    validateFileName(name);
    const row = this.sql.one<FileRow>("SELECT * FROM files WHERE name = ?", name);
    return row ? { meta: toMeta(row), content: row.content } : null;
  }

  /** Every file with its content, in a stable order (the system prompt and Fly sync use it). */
  snapshot(): { name: string; content: string; sha256: string }[] {
    return this.sql.all<FileRow>("SELECT name, content, sha256 FROM files ORDER BY name");
  }

  /** One hash over every file's name and content hash: "has anything changed since?" */
  async digest(): Promise<string> {
    const rows = this.sql.all<{ name: string; sha256: string }>("SELECT name, sha256 FROM files ORDER BY name");
    return sha256Hex(rows.map((r) => `${r.name}:${r.sha256}`).join("\n"));
  }

  /**
   * Writes a file. `ifMatch` (a sha256, or "*" meaning "exists") guards against lost updates:
   * a mismatch is 412 and nothing changes. Writing identical content is a no-op (no new version).
   */
  async write(name: string, content: string, options: { ifMatch?: string; ifNoneMatch?: string; source: ChangeSource; notify?: boolean }): Promise<FileMeta> {
    validateFileName(name);
    const size = byteLength(content);
    if (size > MAX_FILE_BYTES) throw new HttpError(413, "file_too_large", `A workspace file may be at most ${MAX_FILE_BYTES / 1024} KiB; this one is ${Math.ceil(size / 1024)} KiB.`);
    const existing = this.sql.one<FileRow>("SELECT name, size, sha256, version, updated_at FROM files WHERE name = ?", name);
    checkPrecondition(existing, options.ifMatch);
    // If-None-Match: * creates only: two tabs creating the same new file cannot overwrite each other.
    if (options.ifNoneMatch?.trim() === "*" && existing) {
      throw new HttpError(412, "file_exists", `${name} already exists. Open it to edit it instead.`);
    }
    if (!existing) {
      const count = this.sql.one<{ n: number }>("SELECT COUNT(*) AS n FROM files")?.n ?? 0;
      if (count >= MAX_FILES) throw new HttpError(413, "too_many_files", `A workspace holds at most ${MAX_FILES} files. Delete one first.`);
    }
    const total = this.sql.one<{ total: number | null }>("SELECT SUM(size) AS total FROM files WHERE name != ?", name)?.total ?? 0;
    if (total + size > MAX_TOTAL_BYTES) throw new HttpError(413, "workspace_full", `The workspace may hold at most ${MAX_TOTAL_BYTES / 1024} KiB in all. Shorten or delete a file first.`);

    const sha256 = await sha256Hex(content);
    if (existing && existing.sha256 === sha256) return toMeta(existing);
    const version = this.nextVersion(name);
    const at = this.now();
    this.sql.run(
      `INSERT INTO files (name, content, size, sha256, version, updated_at, source) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(name) DO UPDATE SET content = excluded.content, size = excluded.size, sha256 = excluded.sha256,
         version = excluded.version, updated_at = excluded.updated_at, source = excluded.source`,
      name, content, size, sha256, version, at, options.source,
    );
    this.recordVersion(name, version, content, size, sha256, at, options.source, false);
    if (options.notify !== false) this.onChange({ name, sha256, version, source: options.source });
    return { name, size, sha256, version, updatedAt: new Date(at).toISOString() };
  }

  /**
   * Keeps text that lost a write race (the container wrote from an older version) among the file's
   * versions, without making it current: nothing is lost, and the user decides (issue 15).
   */
  async keepRefused(name: string, content: string): Promise<FileVersion> {
    validateFileName(name);
    const size = byteLength(content);
    if (size > MAX_FILE_BYTES) throw new HttpError(413, "file_too_large", `A workspace file may be at most ${MAX_FILE_BYTES / 1024} KiB; this one is ${Math.ceil(size / 1024)} KiB.`);
    const sha256 = await sha256Hex(content);
    const version = this.nextVersion(name);
    const at = this.now();
    this.recordVersion(name, version, content, size, sha256, at, "conflict", false);
    this.onChange({ name, sha256, version, source: "conflict", conflict: true });
    return { name, size, sha256, version, updatedAt: new Date(at).toISOString(), deleted: false, source: "conflict" };
  }

  /**
   * A write-back from the container (its agent changed a file). `ifMatch`: the ETag the container
   * last saw. When the file moved on meanwhile (the person edited it), their text stays current and
   * the agent's is kept among the versions: a 409 that tells the agent both.
   */
  async writeFromContainer(name: string, content: string, preconditions: { ifMatch?: string; ifNoneMatch?: string }): Promise<FileMeta> {
    try {
      return await this.write(name, content, { ...preconditions, source: "container" });
    } catch (error) {
      if (!(error instanceof HttpError) || error.status !== 412) throw error;
      const kept = await this.keepRefused(name, content);
      const current = this.read(name)?.meta;
      throw new HttpError(409, "write_conflict",
        `${name} was changed by the person since this container last read it. Their text stays current (sha256 ${current?.sha256 ?? "none"}); yours is kept as version ${kept.version}. Read the workspace again and merge if it still matters.`,
        {}, { cause: error });
    }
  }

  /** Every file with its content and version, and the workspace's ETag, as the container reads them. */
  async forContainer(): Promise<{ etag: string; files: { name: string; content: string; sha256: string; version: number }[] }> {
    return {
      etag: await this.digest(),
      files: this.snapshot().map((f) => ({ ...f, version: this.read(f.name)?.meta.version ?? 0 })),
    };
  }

  /** Deletes a file, keeping its last content as a restorable version. */
  delete(name: string, options: { ifMatch?: string; source: ChangeSource }): boolean {
    validateFileName(name);
    const existing = this.sql.one<FileRow>("SELECT name, size, sha256, version, updated_at FROM files WHERE name = ?", name);
    if (!existing) throw new HttpError(404, "file_not_found", `There is no ${name} in your workspace.`);
    checkPrecondition(existing, options.ifMatch);
    const version = this.nextVersion(name);
    const at = this.now();
    this.sql.run("DELETE FROM files WHERE name = ?", name);
    this.recordVersion(name, version, null, 0, null, at, options.source, true);
    this.onChange({ name, sha256: null, version, source: options.source });
    return true;
  }

  /** Earlier versions, newest first, with their content: one page, `before` a version number. */
  versions(name: string, page: { limit?: number; before?: number } = {}): { versions: (FileVersion & { content: string | null })[]; hasMore: boolean } {
    validateFileName(name);
    const { rows, hasMore } = versionPage(this.sql, name, page.limit ?? DEFAULT_VERSIONS_PAGE, page.before);
    return {
      versions: rows.map((row) => ({ ...toMeta({ ...row, sha256: "" }), sha256: row.sha256, content: row.content, deleted: row.deleted === 1, source: row.source })),
      hasMore,
    };
  }

  private nextVersion(name: string): number {
    const row = this.sql.one<{ v: number | null }>("SELECT MAX(version) AS v FROM file_versions WHERE name = ?", name);
    return (row?.v ?? 0) + 1;
  }

  private recordVersion(name: string, version: number, content: string | null, size: number, sha256: string | null, at: number, source: string, deleted: boolean): void {
    this.sql.run(
      "INSERT INTO file_versions (name, version, content, size, sha256, updated_at, source, deleted) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      name, version, content, size, sha256, at, source, deleted ? 1 : 0,
    );
    pruneVersions(this.sql, name, version, at);
  }
}

function checkPrecondition(existing: { sha256: string } | null, ifMatch: string | undefined): void {
  if (ifMatch === undefined) return;
  const wanted = ifMatch.trim().replace(/^W\//, "").replace(/^"|"$/g, "");
  if (wanted === "*" ? !existing : existing?.sha256 !== wanted) {
    throw new HttpError(412, "precondition_failed", "The file changed since you loaded it. Reload it, merge your edits, and save again.");
  }
}

function toMeta(row: Pick<FileRow, "name" | "size" | "sha256" | "version" | "updated_at">): FileMeta {
  return { name: row.name, size: row.size, sha256: row.sha256, version: row.version, updatedAt: new Date(row.updated_at).toISOString() };
}
