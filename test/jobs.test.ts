import { describe, expect, it } from "vitest";
import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { backoffDelay } from "../src/lib/backoff.ts";
import type { UserActor } from "../src/actors/user-actor.ts";

function freshActor() {
  return env.USER_ACTOR.get(env.USER_ACTOR.idFromName(`jobs-${crypto.randomUUID()}`));
}

describe("backoffDelay", () => {
  it("grows exponentially, is capped, and jitters within ±20%", () => {
    const fixed = () => 0.5;
    expect(backoffDelay(0, { baseMs: 1000, capMs: 60_000, jitter: "spread" }, fixed)).toBe(1000);
    expect(backoffDelay(3, { baseMs: 1000, capMs: 60_000, jitter: "spread" }, fixed)).toBe(8000);
    expect(backoffDelay(20, { baseMs: 1000, capMs: 60_000, jitter: "spread" }, fixed)).toBe(60_000);
    expect(backoffDelay(2, { baseMs: 1000, capMs: 60_000, jitter: "spread" }, () => 0)).toBe(3200);
    expect(backoffDelay(2, { baseMs: 1000, capMs: 60_000, jitter: "spread" }, () => 1)).toBe(4800);
    expect(backoffDelay(2, { baseMs: 1000, capMs: 60_000 })).toBe(4000);
    expect(backoffDelay(2, { baseMs: 1000, capMs: 60_000, jitter: "half" }, () => 0)).toBe(2000);
  });
});

describe("the one-alarm job scheduler", () => {
  it("runs a due job once even when the alarm is delivered twice", async () => {
    const stub = freshActor();
    const runs = await runInDurableObject(stub, async (actor: UserActor) => {
      const counter = { n: 0 };
      actor.jobs.define("test_once", { run: async () => void counter.n++ });
      // Due now, but the alarm itself points a minute ahead, so only the test delivers it.
      await actor.jobs.schedule("test_once", 60_000);
      actor.sql.run("UPDATE jobs SET due_at = 0 WHERE kind = 'test_once'");
      (globalThis as Record<string, unknown>).__counter = counter;
      return counter.n;
    });
    expect(runs).toBe(0);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await runDurableObjectAlarm(stub)).toBe(false);
    const after = await runInDurableObject(stub, async (actor: UserActor) => {
      await actor.alarm(); // a duplicate delivery straight into the handler
      return ((globalThis as Record<string, unknown>).__counter as { n: number }).n;
    });
    expect(after).toBe(1);
  });

  it("moves the due time when a kind is scheduled again, instead of adding a row", async () => {
    const stub = freshActor();
    await runInDurableObject(stub, async (actor: UserActor) => {
      await actor.jobs.schedule("test_move", 60_000);
      await actor.jobs.schedule("test_move", 5_000);
      expect(actor.sql.all("SELECT kind FROM jobs WHERE kind = 'test_move'")).toHaveLength(1);
      expect(actor.jobs.get("test_move")!.dueAt).toBeLessThan(Date.now() + 6_000);
      await actor.jobs.schedule("test_move", 30_000, undefined, "replace");
      expect(actor.jobs.get("test_move")!.dueAt).toBeGreaterThan(Date.now() + 25_000);
      expect(await actor["ctx"].storage.getAlarm()).toBe(actor.jobs.get("test_move")!.dueAt);
    });
  });

  it("backs off a failing job, gives up after the last attempt, and re-arms for the next job", async () => {
    const stub = freshActor();
    await runInDurableObject(stub, async (actor: UserActor) => {
      const gaveUp: unknown[] = [];
      actor.jobs.define("test_fail", { run: async () => { throw new Error("boom"); }, maxAttempts: 2, onGiveUp: (_job, error) => void gaveUp.push(error) });
      actor.jobs.define("test_later", { run: async () => {} });
      await actor.jobs.schedule("test_fail", 0);
      await actor.jobs.schedule("test_later", 120_000);
      await actor.jobs.runDue();
      const failed = actor.jobs.get("test_fail")!;
      expect(failed.attempts).toBe(1);
      expect(failed.lastError).toContain("boom");
      expect(failed.dueAt).toBeGreaterThan(Date.now() + 500);
      expect(await actor["ctx"].storage.getAlarm()).toBe(failed.dueAt);
      actor.sql.run("UPDATE jobs SET due_at = 0 WHERE kind = 'test_fail'");
      await actor.jobs.runDue();
      expect(actor.jobs.get("test_fail")).toBeNull();
      expect(gaveUp).toHaveLength(1);
      expect(await actor["ctx"].storage.getAlarm()).toBe(actor.jobs.get("test_later")!.dueAt);
    });
  });

  it("keeps a job that was re-scheduled while it ran", async () => {
    const stub = freshActor();
    await runInDurableObject(stub, async (actor: UserActor) => {
      let runs = 0;
      actor.jobs.define("test_resched", {
        run: async () => {
          runs++;
          if (runs === 1) await actor.jobs.schedule("test_resched", 0);
        },
      });
      await actor.jobs.schedule("test_resched", 0);
      await actor.jobs.runDue();
      expect(actor.jobs.get("test_resched")).not.toBeNull();
      await actor.jobs.runDue();
      expect(runs).toBe(2);
      expect(actor.jobs.get("test_resched")).toBeNull();
    });
  });
});
