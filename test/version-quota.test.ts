/**
 * Issue 16, item 3: file versions count in a per-user quota (oldest pruned first), versions of
 * deleted files expire, and `/versions` answers in pages.
 */
import { describe, expect, it } from "vitest";
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import type { UserActor } from "../src/actors/user-actor.ts";
import { DELETED_RETENTION_DAYS, MAX_PAGE_BYTES, MAX_VERSION_BYTES, versionBytes } from "../src/lib/file-versions.ts";
import { api, apiJson, errorCode, newUser, type TestUser } from "./helpers.ts";

const inObject = <T>(user: TestUser, fn: (actor: UserActor) => Promise<T> | T) =>
  runInDurableObject(env.USER_ACTOR.get(env.USER_ACTOR.idFromName(user.userId)), fn);

const big = (i: number) => `${i} `.padEnd(60 * 1024, "x");

describe("the version quota", () => {
  it("keeps a user's version history under the quota through create–delete cycles, pruning the oldest", async () => {
    const user = await newUser();
    await api("/api/me", { headers: user.auth });
    const stored = await inObject(user, async (actor) => {
      // 60 KiB a file, a new name each round, deleted right away: 80 rounds would be 4.8 MB of versions.
      for (let i = 0; i < 80; i++) {
        const name = `F${i}.md`;
        await actor.workspace.write(name, big(i), { source: "user" });
        actor.workspace.delete(name, { source: "user" });
      }
      return { bytes: versionBytes(actor.sql), oldest: actor.workspace.versions("F0.md").versions.length, newest: actor.workspace.versions("F79.md").versions.length };
    });
    expect(stored.bytes).toBeLessThanOrEqual(MAX_VERSION_BYTES);
    expect(stored.bytes).toBeGreaterThan(MAX_VERSION_BYTES - 2 * 60 * 1024);
    expect(stored.oldest).toBe(0);
    expect(stored.newest).toBe(2);
  });

  it("expires the versions of a file that stayed deleted past the retention, and keeps a recently deleted one", async () => {
    const user = await newUser();
    await api("/api/me", { headers: user.auth });
    const left = await inObject(user, async (actor) => {
      await actor.workspace.write("OLD.md", "old", { source: "user" });
      actor.workspace.delete("OLD.md", { source: "user" });
      await actor.workspace.write("RECENT.md", "recent", { source: "user" });
      actor.workspace.delete("RECENT.md", { source: "user" });
      actor.sql.run("UPDATE file_versions SET updated_at = ? WHERE name = 'OLD.md'", Date.now() - (DELETED_RETENTION_DAYS + 1) * 24 * 3600 * 1000);
      await actor.workspace.write("SOUL.md", "# Soul\nanother write runs the expiry", { source: "user" });
      return { old: actor.workspace.versions("OLD.md").versions.length, recent: actor.workspace.versions("RECENT.md").versions.length };
    });
    expect(left).toEqual({ old: 0, recent: 2 });
  });
});

describe("paging /versions", () => {
  it("answers one page at a time, newest first, with hasMore and before", async () => {
    const user = await newUser();
    for (let i = 1; i <= 25; i++) {
      await api("/api/workspace/NOTES.md", { method: "PUT", headers: { ...user.auth, "content-type": "text/markdown" }, body: `draft ${i}` });
    }
    type Page = { versions: { version: number; content: string }[]; hasMore: boolean };
    const first = await apiJson<Page>("/api/workspace/NOTES.md/versions", { headers: user.auth });
    expect(first.body.versions).toHaveLength(20);
    expect(first.body.versions[0]).toMatchObject({ version: 25, content: "draft 25" });
    expect(first.body.hasMore).toBe(true);
    const last = first.body.versions.at(-1)!.version;
    const second = await apiJson<Page>(`/api/workspace/NOTES.md/versions?before=${last}&limit=10`, { headers: user.auth });
    expect(second.body.versions.map((v) => v.version)).toEqual([5, 4, 3, 2, 1]);
    expect(second.body.hasMore).toBe(false);
    for (const query of ["limit=0", "limit=51", "limit=x", "before=-1", "before=1.5"]) {
      const bad = await apiJson(`/api/workspace/NOTES.md/versions?${query}`, { headers: user.auth });
      expect(bad.status, query).toBe(400);
      errorCode(bad.body);
    }
  });

  it("keeps one page's content under the page cap, however big the versions", async () => {
    const user = await newUser();
    for (let i = 0; i < 12; i++) {
      await api("/api/workspace/BIG.md", { method: "PUT", headers: { ...user.auth, "content-type": "text/markdown" }, body: big(i) });
    }
    const response = await api("/api/workspace/BIG.md/versions?limit=50", { headers: user.auth });
    const text = await response.text();
    const page = JSON.parse(text) as { versions: unknown[]; hasMore: boolean };
    expect(page.versions.length).toBeLessThan(12);
    expect(page.hasMore).toBe(true);
    expect(text.length).toBeLessThan(MAX_PAGE_BYTES + 64 * 1024);
  });
});
