/** Issue 16, item 5: one path decoder. A malformed % escape in any path parameter is 400, never 500. */
import { describe, expect, it } from "vitest";
import { router } from "../src/router.ts";
import { ADMIN, api, errorCode, newUser } from "./helpers.ts";

const BAD_ESCAPES = ["%E0", "%", "%zz", "SOUL%2", "%C0%AF", "%ED%A0%80", "%FF%FE", "a%E0%A4"];

describe("path parameters with malformed escapes", () => {
  it("walks every route with a parameter and gets 400 invalid_path for each bad escape", async () => {
    const user = await newUser();
    const routes = router.routes.map(([method, , , path]) => ({ method: method ?? "GET", path: path ?? "" })).filter((r) => r.path.includes(":"));
    // Every surface with a parameter is covered, so a new route cannot dodge the decoder unnoticed.
    expect(routes.map((r) => `${r.method} ${r.path}`)).toEqual(expect.arrayContaining([
      "GET /api/workspace/:name", "PUT /api/workspace/:name", "DELETE /api/workspace/:name", "GET /api/workspace/:name/versions",
      "PUT /api/container/workspace/:name", "PUT /api/admin/users/:email/tier", "POST /telegram/webhook/:userId", "GET /api/images/:id",
    ]));
    for (const route of routes) {
      for (const bad of BAD_ESCAPES) {
        const path = route.path.replace(/:\w+/g, bad);
        for (const headers of [user.auth, ADMIN, {}]) {
          const response = await api(path, { method: route.method, headers: { ...headers, "content-type": "application/json" }, ...(route.method === "GET" || route.method === "DELETE" ? {} : { body: "{}" }) });
          expect(response.status, `${route.method} ${path}`).toBe(400);
          expect(errorCode(await response.json())).toBe("invalid_path");
        }
      }
    }
  });

  it("still decodes good escapes: an email with %40 in the admin path and a file name with %2E", async () => {
    const user = await newUser();
    const tier = await api(`/api/admin/users/${encodeURIComponent(user.email)}/tier`, { method: "PUT", headers: { ...ADMIN, "content-type": "application/json" }, body: JSON.stringify({ tier: "free" }) });
    expect(tier.status).toBe(200);
    const file = await api("/api/workspace/SOUL%2Emd", { headers: user.auth });
    expect(file.status).toBe(200);
  });

  it("answers 400 for a malformed escape on a path no route knows, instead of guessing", async () => {
    const response = await api("/api/nothing%E0here");
    expect(response.status).toBe(400);
    expect(errorCode(await response.json())).toBe("invalid_path");
  });
});
