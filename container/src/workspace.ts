/**
 * The agent's workspace files: collected from the `<STEM>_MD_B64` secrets (or, for a file without
 * one, from the copy Fly mounts under CONTAINER_WORKSPACE_DIR) and laid into OpenClaw's workspace.
 * The Durable Object is the source of truth, so a boot mirrors exactly what the Worker sent.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** The Worker's rule for workspace file names (src/lib/workspace.ts FILE_NAME_PATTERN). */
export const FILE_NAME_PATTERN = /^[A-Z][A-Z0-9_]{0,31}\.md$/;
/** The Worker refuses bigger files (MAX_FILE_BYTES). */
export const MAX_FILE_BYTES = 64 * 1024;

const SECRET_PATTERN = /^([A-Z][A-Z0-9_]{0,31})_MD_B64$/;

/** `SOUL_MD_B64` → `SOUL.md`; null for any other variable. */
export function fileNameOfSecret(secretName: string): string | null {
  const match = SECRET_PATTERN.exec(secretName);
  return match ? `${match[1]}.md` : null;
}

/** `SOUL.md` → `SOUL_MD_B64` (the Worker's fileSecretName). */
export function secretNameOfFile(fileName: string): string {
  return `${fileName.replace(/\.md$/, "").toUpperCase()}_MD_B64`;
}

/** Base64 of UTF-8 bytes → text. Throws on a value that is not base64 at all. */
export function decodeBase64Utf8(encoded: string): string {
  const compact = encoded.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(compact)) throw new Error("not base64");
  return Buffer.from(compact, "base64").toString("utf8");
}

export interface CollectedFiles {
  files: Map<string, string>;
  /** Where each file came from, for the start-up log. */
  sources: Map<string, "env" | "mount">;
  problems: string[];
}

/** The workspace as the Worker sent it: env secrets first, then mounted files not covered by one. */
export function collectWorkspaceFiles(env: Record<string, string | undefined>, mountDir: string | null): CollectedFiles {
  const files = new Map<string, string>();
  const sources = new Map<string, "env" | "mount">();
  const problems: string[] = [];
  for (const [key, raw] of Object.entries(env)) {
    const name = fileNameOfSecret(key);
    if (!name || raw === undefined) continue;
    try {
      files.set(name, decodeBase64Utf8(raw));
      sources.set(name, "env");
    } catch {
      problems.push(`${key} is not base64; ignored`);
    }
  }
  if (mountDir && existsSync(mountDir)) {
    for (const entry of readdirSync(mountDir, { withFileTypes: true })) {
      if (!FILE_NAME_PATTERN.test(entry.name) || files.has(entry.name)) continue;
      const path = join(mountDir, entry.name);
      try {
        if (!statSync(path).isFile()) continue;
        files.set(entry.name, readFileSync(path, "utf8"));
        sources.set(entry.name, "mount");
      } catch (error) {
        problems.push(`${path}: ${(error as Error).message}`);
      }
    }
  }
  return { files, sources, problems };
}

/** Writes atomically (temp file + rename), so a watcher never reads half a file. */
export function writeFileAtomic(path: string, content: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, content, "utf8");
  renameSync(tmp, path);
}

/**
 * Makes `dir` hold exactly `files` among the workspace-pattern names: writes each one and removes
 * pattern-named files the Worker no longer has. Other files (OpenClaw's `memory/`, `.openclaw/`, ...)
 * are left alone.
 */
export function seedWorkspace(dir: string, files: Map<string, string>): { written: string[]; removed: string[] } {
  mkdirSync(dir, { recursive: true });
  const removed: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isFile() && FILE_NAME_PATTERN.test(entry.name) && !files.has(entry.name)) {
      rmSync(join(dir, entry.name), { force: true });
      removed.push(entry.name);
    }
  }
  const written = [...files.keys()].sort();
  for (const name of written) writeFileAtomic(join(dir, name), files.get(name)!);
  return { written, removed };
}
