/** The soak's paid users: provisioning while 30% of Fly API calls fail; no duplicates, nothing stuck. */
import type { LocalStack } from "../dev/local-stack.ts";

interface Status {
  state: string;
  lastError: string | null;
}

export async function runFly(stack: LocalStack, options: { users: number }) {
  const result = { ready: 0, failed: 0, apps: 0, machines: 0, calls: 0, faults: 0, readyMs: [] as number[], problems: [] as string[] };
  const admin = { authorization: `Bearer ${stack.vars.ADMIN_TOKEN}`, "content-type": "application/json" };
  const appNames: string[] = [];
  const runUser = async (u: number) => {
    const email = `soak-fly-${u}@example.com`;
    const auth = { authorization: `Email ${email}` };
    const tier = await fetch(`${stack.base}/api/admin/users/${encodeURIComponent(email)}/tier`, { method: "PUT", headers: admin, body: JSON.stringify({ tier: "paid" }) });
    if (tier.status !== 200) throw new Error(`tier answered ${tier.status}`);
    const started = performance.now();
    const provision = await fetch(`${stack.base}/api/fly/provision`, { method: "POST", headers: auth });
    if (provision.status !== 202) throw new Error(`provision answered ${provision.status}`);
    // A second provision while the first runs must make nothing new.
    await fetch(`${stack.base}/api/fly/provision`, { method: "POST", headers: auth });
    const deadline = Date.now() + 180_000;
    let status: Status & { app?: string } = { state: "provisioning", lastError: null };
    while (Date.now() < deadline) {
      status = (await (await fetch(`${stack.base}/api/fly/status`, { headers: auth })).json()) as Status & { app?: string };
      if (status.state === "ready" || status.state === "failed") break;
      await new Promise((r) => setTimeout(r, 500));
    }
    if (status.app) appNames.push(status.app);
    if (status.state === "ready") {
      result.ready++;
      result.readyMs.push(performance.now() - started);
    } else if (status.state === "failed" && status.lastError) {
      result.failed++;
    } else {
      result.problems.push(`fly user ${u}: stuck in ${status.state} (${status.lastError ?? "no error"})`);
    }
  };
  await Promise.all(Array.from({ length: options.users }, (_, u) => runUser(u).catch((error: Error) => void result.problems.push(`fly user ${u}: ${error.message}`))));

  const { apps } = (await (await fetch(`${stack.flyUrl}/__control/apps`)).json()) as { apps: { name: string; machines: { id: string; name: string; state: string }[] }[] };
  const counts = new Map<string, number>();
  for (const app of apps) counts.set(app.name, (counts.get(app.name) ?? 0) + 1);
  for (const name of appNames) {
    const app = apps.find((a) => a.name === name);
    if ((counts.get(name) ?? 0) > 1) result.problems.push(`${name}: ${counts.get(name)} apps`);
    if (app) {
      const names = app.machines.map((m) => m.name);
      if (new Set(names).size !== names.length) result.problems.push(`${name}: duplicate machines ${names.join(",")}`);
      result.machines += app.machines.length;
    }
  }
  result.apps = apps.length;
  const calls = (await (await fetch(`${stack.flyUrl}/__control/calls?since=0`)).json()) as { total: number; calls: { fault?: string }[] };
  result.calls = calls.total;
  result.faults = calls.calls.filter((c) => c.fault).length;
  return result;
}
