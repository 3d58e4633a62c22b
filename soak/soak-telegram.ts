/** The soak's Telegram users: own bots, updates delivered as Telegram would, 20% twice, some out of order. */
import { randomBytes } from "node:crypto";
import type { LocalStack } from "../dev/local-stack.ts";

interface Call {
  method: string;
  params: { chat_id?: number; text?: string };
}

function botToken(): string {
  const id = 7_000_000_000 + Math.floor(Math.random() * 999_999_999);
  return `${id}:${randomBytes(26).toString("base64url").slice(0, 35)}`;
}

async function control(stack: LocalStack, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(`${stack.telegramUrl}/__control/${path}`, body === undefined ? {} : { method: "POST", body: JSON.stringify(body) });
  return (await response.json()) as Record<string, unknown>;
}

async function sent(stack: LocalStack, token: string, chatId: number): Promise<string[]> {
  const { calls } = (await control(stack, `calls?token=${encodeURIComponent(token)}&method=sendMessage&chatId=${chatId}`)) as unknown as { calls: Call[] };
  return calls.map((c) => c.params.text ?? "");
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

export async function runTelegram(stack: LocalStack, options: { users: number; updatesPerUser: number; duplicateRate: number }) {
  const result = { updates: 0, duplicates: 0, reordered: 0, replies: 0, ackMs: [] as number[], problems: [] as string[] };
  const runUser = async (u: number) => {
    const email = `soak-tg-${u}@example.com`;
    const token = botToken();
    const chatId = 50_000 + u;
    const claim = await fetch(`${stack.base}/api/telegram/claim`, { method: "POST", headers: { authorization: `Email ${email}`, "content-type": "application/json" }, body: JSON.stringify({ botToken: token }) });
    if (claim.status !== 200) throw new Error(`claim answered ${claim.status}`);
    const code = new URL(((await claim.json()) as { linkUrl: string }).linkUrl).searchParams.get("start");
    await control(stack, "deliver", { token, chatId, text: `/start ${code}` });
    if (!(await waitUntil(async () => (await sent(stack, token, chatId)).length >= 1, 60_000))) throw new Error("no reply to /start");

    // Build the updates first (ids in order), then deliver them shuffled, some twice.
    const updates: { update: Record<string, unknown>; marker: string }[] = [];
    for (let j = 0; j < options.updatesPerUser; j++) {
      const marker = `tg-u${u}-m${j}`;
      const built = await control(stack, "deliver", { token, chatId, text: `${marker} hello`, dryRun: true });
      updates.push({ update: built.update as Record<string, unknown>, marker });
    }
    const order = [...updates];
    for (let j = 0; j + 1 < order.length; j += 2) {
      if (Math.random() < 0.4) {
        [order[j], order[j + 1]] = [order[j + 1]!, order[j]!];
        result.reordered++;
      }
    }
    for (const { update } of order) {
      const times = Math.random() < options.duplicateRate ? 2 : 1;
      for (let k = 0; k < times; k++) {
        const out = await control(stack, "deliver-raw", { token, update });
        if (out.status !== 200) result.problems.push(`tg user ${u}: webhook answered ${String(out.status)}`);
        if (typeof out.ms === "number") result.ackMs.push(out.ms);
        if (k === 1) result.duplicates++;
      }
      result.updates++;
    }
    const expected = 1 + updates.length;
    await waitUntil(async () => (await sent(stack, token, chatId)).length >= expected, 90_000);
    await new Promise((r) => setTimeout(r, 500)); // a duplicate reply would show up by now
    const texts = await sent(stack, token, chatId);
    for (const { marker } of updates) {
      const replies = texts.filter((t) => t.includes(marker)).length;
      if (replies !== 1) result.problems.push(`${marker}: ${replies} replies`);
      else result.replies++;
    }
    if (texts.length !== expected) result.problems.push(`tg user ${u}: ${texts.length} messages sent, expected ${expected}`);
  };
  await Promise.all(Array.from({ length: options.users }, (_, u) => runUser(u).catch((error: Error) => void result.problems.push(`tg user ${u}: ${error.message}`))));
  return result;
}
