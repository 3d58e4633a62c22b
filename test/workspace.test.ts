import { describe, expect, it } from "vitest";
import { api, apiJson, errorCode, newUser, type TestUser } from "./helpers.ts";

function put(user: TestUser, name: string, body: string, headers: Record<string, string> = {}) {
  return apiJson<{ name: string; size: number; sha256: string; version: number }>(`/api/workspace/${name}`, {
    method: "PUT",
    headers: { ...user.auth, "content-type": "text/markdown; charset=utf-8", ...headers },
    body,
  });
}

async function list(user: TestUser) {
  return (await apiJson<{ files: { name: string; size: number; sha256: string; version: number }[] }>("/api/workspace", { headers: user.auth })).body.files;
}

describe("workspace files", () => {
  it("starts a new user with SOUL, IDENTITY, USER and an empty MEMORY", async () => {
    const user = await newUser();
    const files = await list(user);
    expect(files.map((f) => f.name)).toEqual(["IDENTITY.md", "MEMORY.md", "SOUL.md", "USER.md"]);
    expect(files.find((f) => f.name === "MEMORY.md")?.size).toBe(0);
  });

  it("round-trips emoji and CJK text byte for byte, with size in bytes and an ETag", async () => {
    const user = await newUser();
    const text = "# 魂 🦊\n\nわたしは狐です。👩🏽‍💻 — ça va? Ωμέγα\n";
    const saved = await put(user, "SOUL.md", text);
    expect(saved.status).toBe(200);
    expect(saved.body.size).toBe(new TextEncoder().encode(text).byteLength);
    const response = await api("/api/workspace/SOUL.md", { headers: user.auth });
    expect(response.headers.get("content-type")).toBe("text/markdown; charset=utf-8");
    expect(response.headers.get("etag")).toBe(`"${saved.body.sha256}"`);
    expect(await response.text()).toBe(text);
  });

  it("honours If-Match: a stale ETag gets 412 and changes nothing", async () => {
    const user = await newUser();
    const first = await put(user, "USER.md", "v1");
    const second = await put(user, "USER.md", "v2", { "if-match": `"${first.body.sha256}"` });
    expect(second.status).toBe(200);
    expect(second.body.version).toBe(first.body.version + 1);
    const stale = await put(user, "USER.md", "v3", { "if-match": `"${first.body.sha256}"` });
    expect(stale.status).toBe(412);
    expect(errorCode(stale.body)).toBe("precondition_failed");
    expect(await (await api("/api/workspace/USER.md", { headers: user.auth })).text()).toBe("v2");
  });

  it("creates only with If-None-Match: * (412 when the file exists)", async () => {
    const user = await newUser();
    const created = await put(user, "IDEAS.md", "first", { "if-none-match": "*" });
    expect(created.status).toBe(200);
    const again = await put(user, "IDEAS.md", "second", { "if-none-match": "*" });
    expect(again.status).toBe(412);
    expect(await (await api("/api/workspace/IDEAS.md", { headers: user.auth })).text()).toBe("first");
  });

  it("keeps versions newest first, and an old version can be restored with PUT", async () => {
    const user = await newUser();
    await put(user, "NOTES.md", "first draft");
    await put(user, "NOTES.md", "second draft");
    const { body } = await apiJson<{ versions: { version: number; content: string }[] }>("/api/workspace/NOTES.md/versions", { headers: user.auth });
    expect(body.versions.map((v) => v.content)).toEqual(["second draft", "first draft"]);
    const restored = await put(user, "NOTES.md", body.versions[1]!.content);
    expect(restored.body.version).toBe(3);
    expect(await (await api("/api/workspace/NOTES.md", { headers: user.auth })).text()).toBe("first draft");
  });

  it("deletes a file with 204, keeps it restorable, and 404s afterwards", async () => {
    const user = await newUser();
    await put(user, "TEMP.md", "short-lived");
    const deleted = await api("/api/workspace/TEMP.md", { method: "DELETE", headers: user.auth });
    expect(deleted.status).toBe(204);
    expect((await api("/api/workspace/TEMP.md", { headers: user.auth })).status).toBe(404);
    const { body } = await apiJson<{ versions: { deleted: boolean; content: string | null }[] }>("/api/workspace/TEMP.md/versions", { headers: user.auth });
    expect(body.versions[0]!.deleted).toBe(true);
    expect(body.versions[1]!.content).toBe("short-lived");
  });

  it("refuses bad names, a 65 KiB file and a wrong content type, changing nothing", async () => {
    const user = await newUser();
    const before = await list(user);
    for (const name of ["..%2FSOUL.md", "soul.md", "A.txt", "SOUL.md.bak", "_X.md"]) {
      const { status, body } = await put(user, name, "x");
      expect(status, name).toBe(400);
      expect(errorCode(body)).toBe("invalid_file_name");
    }
    // Dot segments (plain or percent-encoded) are resolved by URL parsing before routing: they never reach a file.
    for (const path of ["/api/workspace/../SOUL.md", "/api/workspace/%2E%2E", "/api/workspace/%2e%2e/%2e%2e/SOUL.md"]) {
      const traversal = await api(path, { method: "PUT", headers: { ...user.auth, "content-type": "text/markdown" }, body: "x" });
      expect([400, 404, 405], path).toContain(traversal.status);
      errorCode(await traversal.json());
    }
    const big = await put(user, "BIG.md", "é".repeat(33 * 1024)); // 66 KiB in UTF-8 bytes
    expect(big.status).toBe(413);
    const typed = await put(user, "SOUL.md", "{}", { "content-type": "application/json" });
    expect(typed.status).toBe(415);
    expect(await list(user)).toEqual(before);
  });

  it("caps the workspace at 32 files", async () => {
    const user = await newUser();
    const existing = (await list(user)).length;
    for (let i = existing; i < 32; i++) expect((await put(user, `F${i}.md`, "x")).status).toBe(200);
    const over = await put(user, "F99.md", "x");
    expect(over.status).toBe(413);
    expect(errorCode(over.body)).toBe("too_many_files");
  });

  it("keeps users apart: A cannot read or change B's files", async () => {
    const a = await newUser("a");
    const b = await newUser("b");
    await put(b, "SECRET.md", "only b knows");
    expect((await api("/api/workspace/SECRET.md", { headers: a.auth })).status).toBe(404);
    await put(a, "SECRET.md", "a's own");
    expect(await (await api("/api/workspace/SECRET.md", { headers: b.auth })).text()).toBe("only b knows");
  });
});
