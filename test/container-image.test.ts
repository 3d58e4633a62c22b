/**
 * CLAWDBOT_IMAGE has no default: until an operator sets the image built from container/, provisioning
 * is refused naming it, and /api/health lists it. (The test bindings set a test image; these tests
 * unset it on the one object they use and put it back.)
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../src/index.ts";
import { loadConfig, missingSecrets, requireContainerImage } from "../src/lib/config.ts";
import { flyUser, inspectApp, withFly } from "./fly-helpers.ts";

const withoutImage = { ...env, CLAWDBOT_IMAGE: "" } as Env;

describe("CLAWDBOT_IMAGE", () => {
  it("has no default image", () => {
    expect(loadConfig(withoutImage).containerImage).toBeUndefined();
    expect(() => requireContainerImage(withoutImage)).toThrow(/CLAWDBOT_IMAGE/);
    expect(requireContainerImage(env)).toBe(env.CLAWDBOT_IMAGE);
  });

  it("is listed by /api/health while unset, and not once set", async () => {
    const ask = async (e: Env) => {
      const res = await worker.fetch(new Request("http://soulprint.test/api/health"), e, { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext);
      return ((await res.json()) as { missing: string[] }).missing;
    };
    expect(await ask(withoutImage)).toContain("CLAWDBOT_IMAGE");
    expect(await ask(env)).not.toContain("CLAWDBOT_IMAGE");
    expect(missingSecrets(withoutImage)).toContain("CLAWDBOT_IMAGE");
  });

  it("refuses provisioning with 503 not_configured while unset, and creates nothing", async () => {
    const user = await flyUser("paid");
    const error = await withFly(user, async (fly, instance) => {
      const bindings = (instance as unknown as { env: Env }).env;
      const saved = bindings.CLAWDBOT_IMAGE;
      bindings.CLAWDBOT_IMAGE = "";
      try {
        return await fly.provision().then(() => null, (e: { status: number; code: string; message: string }) => ({ status: e.status, code: e.code, message: e.message }));
      } finally {
        bindings.CLAWDBOT_IMAGE = saved;
      }
    });
    expect(error).toMatchObject({ status: 503, code: "not_configured" });
    expect(error?.message).toContain("CLAWDBOT_IMAGE");
    expect((await withFly(user, (fly) => fly.status())).state).toBe("none");
    expect(await inspectApp(user.app)).toBeNull();
  });
});
