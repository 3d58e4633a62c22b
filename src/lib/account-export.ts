/**
 * `GET /api/me/export`: everything stored about a user, as one JSON download — profile, workspace
 * files with every kept version (deleted files' too), the conversation, usage by day, generated
 * images (base64), and Telegram and Fly settings. Never a secret: no bot token, webhook secret,
 * gateway token or Telegram link code.
 */
import type { Sql } from "./sql.ts";
import type { Profile } from "./profile.ts";
import type { HistoryMessage } from "./chat/history.ts";
import { imageKey } from "./chat/tools.ts";
import { toBase64 } from "./crypto.ts";
import type { VersionRow } from "./file-versions.ts";

export const EXPORT_FORMAT = "soulprint-export/1";


export interface ExportParts {
  profile: Profile;
  history: HistoryMessage[];
  telegram: { claimed: boolean; botUsername?: string; ownerBound?: boolean; fromPool?: boolean };
  fly: { state: string; app: string | null; region: string | null };
}

/** The stored part of the export, read inside the user's object. */
export function exportStoredData(sql: Sql, parts: ExportParts) {
  const files = sql.all<{ name: string; content: string; size: number; sha256: string; version: number; updated_at: number; source: string }>(
    "SELECT name, content, size, sha256, version, updated_at, source FROM files ORDER BY name",
  );
  const versions = sql.all<VersionRow>("SELECT name, version, content, size, sha256, updated_at, source, deleted FROM file_versions ORDER BY name, version DESC");
  const versionsOf = (name: string) =>
    versions.filter((v) => v.name === name).map((v) => ({ version: v.version, content: v.content, size: v.size, sha256: v.sha256, updatedAt: iso(v.updated_at), source: v.source, deleted: v.deleted === 1 }));
  const current = new Set(files.map((f) => f.name));
  const usage = sql.all<Record<string, number | string>>("SELECT * FROM usage_daily ORDER BY day DESC");
  return {
    format: EXPORT_FORMAT,
    exportedAt: new Date().toISOString(),
    user: { userId: parts.profile.userId, email: parts.profile.email, tier: parts.profile.tier, chatMode: parts.profile.chatMode },
    workspace: {
      files: files.map((f) => ({ name: f.name, content: f.content, size: f.size, sha256: f.sha256, version: f.version, updatedAt: iso(f.updated_at), source: f.source, versions: versionsOf(f.name) })),
      deletedFiles: [...new Set(versions.map((v) => v.name))].filter((name) => !current.has(name)).map((name) => ({ name, versions: versionsOf(name) })),
    },
    history: parts.history,
    usage: usage.map((row) => ({
      date: row.day,
      inputTokens: row.input_tokens,
      outputTokens: row.output_tokens,
      cacheReadTokens: row.cache_read_tokens,
      cacheWriteTokens: row.cache_write_tokens,
      images: row.images,
      costUsd: row.cost_usd,
    })),
    telegram: parts.telegram,
    fly: parts.fly,
  };
}

/** The user's generated images from R2, with their bytes. */
export async function exportImages(images: R2Bucket, userId: string): Promise<{ id: string; url: string; contentType: string; alt: string | null; size: number; data: string }[]> {
  const out = [];
  const prefix = imageKey(userId, "").replace(/\.png$/, "");
  let cursor: string | undefined;
  do {
    const page = await images.list({ prefix, cursor, include: ["customMetadata", "httpMetadata"] });
    for (const item of page.objects) {
      const object = await images.get(item.key);
      if (!object) continue;
      const id = item.key.slice(prefix.length).replace(/\.png$/, "");
      out.push({
        id,
        url: `/api/images/${id}`,
        contentType: object.httpMetadata?.contentType ?? "image/png",
        alt: object.customMetadata?.alt ?? null,
        size: item.size,
        data: toBase64(new Uint8Array(await object.arrayBuffer())),
      });
    }
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return out;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
