/**
 * OpenClaw's state directory as one `tar.gz` (POSIX ustar; `tar tzf` lists it), without what the
 * Worker owns or the image brings (issue 15):
 * - the workspace files (`workspace/SOUL.md`, ... — the Durable Object is their source of truth;
 *   `workspace/memory/` notes ARE kept),
 * - `openclaw.json` (written at every boot from the env), logs, locks, temp files,
 * - the plugins installed at build time (`extensions/`, `npm/`, `node_modules/`).
 * SQLite databases (sessions, cron, memory index) are copied with SQLite's online backup, so a
 * snapshot taken while OpenClaw writes is still a consistent database; their `-wal`/`-shm` are not
 * needed then. Restoring writes only safe relative paths, never into an excluded place.
 */
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve, sep } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { FILE_NAME_PATTERN } from "./workspace.ts";

const EXCLUDED_TOP = new Set(["logs", "locks", "tmp", "cache", ".cache", "extensions", "npm", "node_modules", "workspace.tmp"]);

/** Is this state-relative path (with `/`) left out of snapshots, and never written by a restore? */
export function isExcluded(path: string): boolean {
  const parts = path.split("/");
  const top = parts[0]!;
  if (EXCLUDED_TOP.has(top) || /^openclaw\.json/.test(top)) return true;
  if (top === "workspace" && parts.length === 2 && FILE_NAME_PATTERN.test(parts[1]!)) return true;
  const base = parts.at(-1)!;
  return /\.(tmp|lock|pid|sock)$/.test(base) || /-(wal|shm|journal)$/.test(base);
}

const isSqlite = (path: string) => /\.(sqlite|sqlite3|db)$/.test(path);

/** Every file to keep, state-relative, sorted (a stable listing makes equal states equal bytes). */
export function listStateFiles(stateDir: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const abs = join(dir, entry.name);
      const rel = relative(stateDir, abs).split(sep).join("/");
      if (isExcluded(rel)) continue;
      if (entry.isDirectory()) walk(abs);
      else if (entry.isFile()) out.push(rel);
    }
  };
  walk(stateDir);
  return out.sort();
}

/** A cheap "did anything change?" over the kept files: names, sizes and modification times. */
export function stateFingerprint(stateDir: string): string {
  return listStateFiles(stateDir)
    .map((rel) => {
      try {
        const st = lstatSync(join(stateDir, rel));
        return `${rel}:${st.size}:${Math.floor(st.mtimeMs)}`;
      } catch {
        return rel;
      }
    })
    .join("\n");
}

/** A consistent copy of a live SQLite database (online backup), or its bytes when that fails. */
async function sqliteBytes(path: string): Promise<Buffer> {
  const scratch = mkdtempSync(join(tmpdir(), "sp-state-"));
  try {
    const sqlite = await import("node:sqlite");
    const db = new sqlite.DatabaseSync(path);
    try {
      await sqlite.backup(db, join(scratch, "copy"));
    } finally {
      db.close();
    }
    return readFileSync(join(scratch, "copy"));
  } catch {
    return readFileSync(path);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, "0") + "\0";
}

/** One ustar header; long paths use the prefix field (a path that fits neither is skipped). */
function header(path: string, size: number, mtime: number): Buffer | null {
  let name = path;
  let prefix = "";
  if (Buffer.byteLength(name) > 100) {
    const cut = path.lastIndexOf("/", 155);
    if (cut <= 0) return null;
    prefix = path.slice(0, cut);
    name = path.slice(cut + 1);
    if (Buffer.byteLength(name) > 100 || Buffer.byteLength(prefix) > 155) return null;
  }
  const h = Buffer.alloc(512, 0);
  h.write(name, 0, 100, "utf8");
  h.write(octal(0o644, 8), 100, "ascii");
  h.write(octal(0, 8), 108, "ascii");
  h.write(octal(0, 8), 116, "ascii");
  h.write(octal(size, 12), 124, "ascii");
  h.write(octal(Math.floor(mtime / 1000), 12), 136, "ascii");
  h.write("        ", 148, "ascii");
  h.write("0", 156, "ascii");
  h.write("ustar\u000000", 257, "ascii");
  h.write(prefix, 345, 155, "utf8");
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(octal(sum, 7) + " ", 148, "ascii");
  return h;
}

export interface PackResult {
  archive: Buffer;
  files: number;
  rawBytes: number;
  skipped: string[];
}

/** The state directory as a gzip'd ustar archive. */
export async function packState(stateDir: string): Promise<PackResult> {
  const parts: Buffer[] = [];
  const skipped: string[] = [];
  let rawBytes = 0;
  let files = 0;
  for (const rel of listStateFiles(stateDir)) {
    const abs = join(stateDir, rel);
    let data: Buffer;
    let mtime = Date.now();
    try {
      mtime = lstatSync(abs).mtimeMs;
      data = isSqlite(rel) ? await sqliteBytes(abs) : readFileSync(abs);
    } catch {
      continue; // vanished while we looked
    }
    const h = header(rel, data.length, mtime);
    if (!h) {
      skipped.push(rel);
      continue;
    }
    parts.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
    rawBytes += data.length;
    files++;
  }
  parts.push(Buffer.alloc(1024));
  return { archive: gzipSync(Buffer.concat(parts), { level: 6 }), files, rawBytes, skipped };
}

/** Unpacks an archive made by packState into `stateDir`; returns the files written. */
export function unpackState(stateDir: string, archive: Buffer): string[] {
  const tar = gunzipSync(archive, { maxOutputLength: 512 * 1024 * 1024 });
  const root = resolve(stateDir);
  const written: string[] = [];
  let offset = 0;
  while (offset + 512 <= tar.length) {
    const h = tar.subarray(offset, offset + 512);
    if (h.every((b) => b === 0)) break;
    const field = (start: number, len: number) => h.subarray(start, start + len).toString("utf8").replace(/\0[\s\S]*$/, "");
    const size = parseInt(field(124, 12).trim() || "0", 8);
    const type = field(156, 1) || "0";
    const prefix = field(345, 155);
    const path = prefix ? `${prefix}/${field(0, 100)}` : field(0, 100);
    const dataStart = offset + 512;
    offset = dataStart + Math.ceil(size / 512) * 512;
    if (!Number.isFinite(size) || size < 0 || dataStart + size > tar.length) throw new Error("state archive is truncated");
    if (type !== "0") continue;
    const target = resolve(root, path);
    // Only plain relative paths inside the state directory, never an excluded place.
    if (path.startsWith("/") || path.split("/").includes("..") || !target.startsWith(root + sep) || isExcluded(path)) continue;
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, tar.subarray(dataStart, dataStart + size));
    written.push(path);
  }
  return written;
}

/** True when the directory holds nothing worth restoring over (a fresh machine). */
export function isEmptyState(stateDir: string): boolean {
  return !existsSync(stateDir) || listStateFiles(stateDir).length === 0;
}
