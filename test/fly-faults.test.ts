/** Provisioning and deleting many users while the Fly API fails 30% of its calls. */
import { afterAll, describe, expect, it } from "vitest";
import type { FlyStatus } from "../src/lib/fly/fly-service.ts";
import { callSeq, callsSince, control, driveUntil, flyUser, inspectApp, withFly, type FlyUser } from "./fly-helpers.ts";

const USERS = 20;
// Hangs end at the request timeout; attempts are generous because a fault can hit any of ~11 calls.
const tuning = { requestTimeoutMs: 250, provisionMaxAttempts: 20, deleteMaxAttempts: 20 };

describe("30% random faults", () => {
  let users: FlyUser[] = [];
  afterAll(async () => {
    await control("faults", { rate: 0 });
  });

  it("brings every user to ready with one app and its machines, and leaves nothing after delete", async () => {
    users = await Promise.all(Array.from({ length: USERS }, () => flyUser()));
    const pattern = `^(${users.map((u) => u.app).join("|")})$`;
    await control("faults", { rate: 0.3, kinds: ["429", "5xx", "hang"], phase: "mixed", retryAfterS: 0, appPattern: pattern, seed: 42 });
    const since = await callSeq();

    await Promise.all(users.map((u) => withFly(u, (fly) => fly.provision(), tuning)));
    const ready = await Promise.all(users.map((u) => driveUntil(u, (s: FlyStatus) => s.state === "ready" || s.state === "failed", 60_000)));
    expect(ready.map((s) => s.state)).toEqual(users.map(() => "ready"));
    for (const user of users) {
      const app = await inspectApp(user.app);
      expect(app?.machines.map((m) => m.name)).toEqual(["agent-1"]);
      expect(app?.ips.map((i) => i.type).sort()).toEqual(["shared_v4", "v6"]);
    }
    let faults = 0;
    for (const user of users) faults += (await callsSince(since, user.app)).calls.filter((c) => c.fault).length;
    expect(faults).toBeGreaterThan(USERS); // the faults really happened

    await Promise.all(users.map((u) => withFly(u, (fly) => fly.deleteApp(), tuning)));
    const gone = await Promise.all(users.map((u) => driveUntil(u, (s: FlyStatus) => s.state === "none" || s.state === "failed", 60_000)));
    expect(gone.map((s) => s.state)).toEqual(users.map(() => "none"));
    for (const user of users) expect(await inspectApp(user.app)).toBeNull();
  }, 120_000);
});
