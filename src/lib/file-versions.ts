/**
 * The history of workspace files: every write and delete keeps a version, and the history is
 * capped so create–delete cycles cannot store unbounded data (issue 16). Three limits:
 * - per file: the newest MAX_VERSIONS_PER_FILE;
 * - per user: MAX_VERSION_BYTES of version content in all, oldest pruned first;
 * - deleted files: their versions expire DELETED_RETENTION_DAYS after the delete.
 * Pages of `/versions` carry at most MAX_VERSIONS_PAGE versions and MAX_PAGE_BYTES of content.
 */
import type { Sql } from "./sql.ts";

export const MAX_VERSIONS_PER_FILE = 50;
/** Four times the workspace cap (512 KiB): plenty of undo for every file, a bound for the object. */
export const MAX_VERSION_BYTES = 2 * 1024 * 1024;
export const DELETED_RETENTION_DAYS = 30;
export const DEFAULT_VERSIONS_PAGE = 20;
export const MAX_VERSIONS_PAGE = 50;
export const MAX_PAGE_BYTES = 512 * 1024;

export interface VersionRow {
  name: string;
  version: number;
  content: string | null;
  size: number;
  sha256: string | null;
  updated_at: number;
  source: string;
  deleted: number;
}

/** Applies the three limits after a version was recorded. */
export function pruneVersions(sql: Sql, name: string, latestVersion: number, now: number): void {
  sql.run("DELETE FROM file_versions WHERE name = ? AND version <= ?", name, latestVersion - MAX_VERSIONS_PER_FILE);
  expireDeleted(sql, now);
  let total = versionBytes(sql);
  while (total > MAX_VERSION_BYTES) {
    // Oldest first, a batch at a time; the version just recorded is never the oldest unless alone.
    const oldest = sql.all<{ name: string; version: number; size: number }>("SELECT name, version, size FROM file_versions ORDER BY updated_at, version LIMIT 20");
    if (oldest.length === 0) break;
    for (const row of oldest) {
      if (total <= MAX_VERSION_BYTES) break;
      sql.run("DELETE FROM file_versions WHERE name = ? AND version = ?", row.name, row.version);
      total -= row.size;
    }
  }
}

/** Versions of files that stayed deleted longer than the retention go. */
export function expireDeleted(sql: Sql, now: number): void {
  const cutoff = now - DELETED_RETENTION_DAYS * 24 * 3600 * 1000;
  sql.run(
    `DELETE FROM file_versions WHERE name NOT IN (SELECT name FROM files)
       AND name IN (SELECT name FROM file_versions GROUP BY name HAVING MAX(updated_at) < ?)`,
    cutoff,
  );
}

/** Bytes of version content this user stores (the quota's measure). */
export function versionBytes(sql: Sql): number {
  return sql.one<{ total: number | null }>("SELECT SUM(size) AS total FROM file_versions")?.total ?? 0;
}

/** One page of a file's versions, newest first, before version `before` (exclusive) when given. */
export function versionPage(sql: Sql, name: string, limit: number, before?: number): { rows: VersionRow[]; hasMore: boolean } {
  const rows = sql.all<VersionRow>(
    "SELECT name, version, content, size, sha256, updated_at, source, deleted FROM file_versions WHERE name = ? AND version < ? ORDER BY version DESC LIMIT ?",
    name, before ?? Number.MAX_SAFE_INTEGER, limit + 1,
  );
  const page: VersionRow[] = [];
  let bytes = 0;
  for (const row of rows.slice(0, limit)) {
    if (page.length > 0 && bytes + row.size > MAX_PAGE_BYTES) break;
    page.push(row);
    bytes += row.size;
  }
  return { rows: page, hasMore: rows.length > page.length };
}
