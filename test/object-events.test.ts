/**
 * The named events between the services of a user's object (lib/object-events.ts): every listener
 * hears an event in the order it subscribed, `emit` resolves only once async listeners are done (a
 * claim answers after the Fly sync it needs is scheduled), and a failing listener fails the emit.
 */
import { describe, expect, it } from "vitest";
import { ObjectEvents } from "../src/lib/object-events.ts";
import { ZERO_USAGE } from "../src/lib/usage.ts";

describe("ObjectEvents", () => {
  it("hands each event to its listeners in order and waits for the async ones", async () => {
    const events = new ObjectEvents();
    const heard: string[] = [];
    events.on("claimChanged", () => void heard.push("first"));
    events.on("claimChanged", async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      heard.push("second, later");
    });
    events.on("containerUsage", (usage) => void heard.push(`usage ${usage.outputTokens}`));
    await events.emit("claimChanged", undefined);
    expect(heard).toEqual(["first", "second, later"]);
    await events.emit("containerUsage", { ...ZERO_USAGE, outputTokens: 7 });
    expect(heard.at(-1)).toBe("usage 7");
  });

  it("fails the emit when a listener throws, and an event nobody listens to is a no-op", async () => {
    const events = new ObjectEvents();
    events.on("workspaceChanged", () => {
      throw new Error("the Fly sync could not be scheduled");
    });
    await expect(events.emit("workspaceChanged", { name: "SOUL.md", sha256: "0".repeat(64), version: 2, source: "user" })).rejects.toThrow("could not be scheduled");
    await expect(events.emit("claimChanged", undefined)).resolves.toBeUndefined();
  });
});
