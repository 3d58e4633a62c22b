/**
 * `npm run bench` (part): how soon a queued message starts once the reply before it is done
 * (issue 12 item 9). One user, one WebSocket: message A (a 20-piece reply, 25 ms apart) and message
 * B sent right behind it, so B waits in the queue. Per round:
 *   handoff   = B's `status: thinking` − A's `done`, both as they arrive at the client (same path,
 *               so transport cancels out): the time the queue takes to start the next turn;
 *   to piece  = the stand-in's write stamp of B's first piece − A's `done` arrival, against the same
 *               figure for A, which starts at once (A's first piece written − A sent): the
 *               difference is what waiting in the queue adds before B streams.
 * Figures are reported, not asserted. Flags: --rounds 20 --pieces 20 --interval-ms 25 --json
 */
import { start } from "../dev/bedrock-standin.ts";
import { flags } from "../dev/standin-util.ts";
import { startWorker } from "./chat-runtime.ts";
import { emailFor, now, warmUser } from "./chat-clients.ts";
import { fmt, percentile, table } from "./stats.ts";

const f = flags(process.argv.slice(2));
const num = (name: string, dflt: number) => (f.get(name) === undefined ? dflt : Number(f.get(name)));
const ROUNDS = num("rounds", 20);
const PIECES = num("pieces", 20);
const INTERVAL_MS = num("interval-ms", 25);
const STAMP = /⟨t=(\d+(?:\.\d+)?)⟩/;

type Frame = { type: string; id?: string; text?: string; status?: string; code?: string };

async function main(): Promise<void> {
  const standin = await start({ port: 0, host: "127.0.0.1" });
  await fetch(`${standin.url}/__control/bench`, { method: "POST", body: JSON.stringify({ pieces: PIECES, intervalMs: INTERVAL_MS }) });
  const worker = await startWorker({
    BEDROCK_ENDPOINT: standin.url, AWS_ACCESS_KEY_ID: "AKIDBENCHWORKER", AWS_SECRET_ACCESS_KEY: "bench-worker-secret",
    ALLOW_EMAIL_AUTH: "true", FREE_DAILY_TOKENS: "1000000000000", PUBLIC_URL: "http://127.0.0.1",
  });
  try {
    const user = "queue";
    await warmUser(worker.url, user);
    const ticket = await fetch(`${worker.url}/api/chat/ticket`, { method: "POST", headers: { authorization: `Email ${emailFor(user)}` } });
    const { ticket: value } = (await ticket.json()) as { ticket: string };
    const ws = new WebSocket(`${worker.url.replace(/^http/, "ws")}/api/chat?ticket=${encodeURIComponent(value)}`);
    const arrivals = new Map<string, number>();
    let waiter: { key: string; resolve: () => void } | null = null;
    const firstStamp = new Map<string, number>();
    ws.addEventListener("message", (event) => {
      const at = now();
      const frame = JSON.parse(String(event.data)) as Frame;
      if (frame.type === "error") throw new Error(`error frame ${frame.code} for ${frame.id}`);
      const key = frame.type === "status" ? `status:${frame.status}:${frame.id}` : `${frame.type}:${frame.id ?? ""}`;
      if (!arrivals.has(key)) arrivals.set(key, at);
      if (frame.type === "delta" && frame.id && !firstStamp.has(frame.id)) {
        const stamp = STAMP.exec(frame.text ?? "")?.[1];
        if (stamp) firstStamp.set(frame.id, Number(stamp));
      }
      if (waiter && arrivals.has(waiter.key)) waiter.resolve();
    });
    const arrived = (key: string) => new Promise<void>((resolve) => {
      if (arrivals.has(key)) return resolve();
      waiter = { key, resolve };
    });
    await arrived("hello:");

    const lone: number[] = [];
    const handoff: number[] = [];
    const toPiece: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const a = `a${round}`;
      const b = `b${round}`;
      const sentA = now();
      ws.send(JSON.stringify({ type: "chat", id: a, text: "benchmark" }));
      ws.send(JSON.stringify({ type: "chat", id: b, text: "benchmark" }));
      await arrived(`done:${b}`);
      const doneA = arrivals.get(`done:${a}`)!;
      handoff.push(arrivals.get(`status:thinking:${b}`)! - doneA);
      toPiece.push(firstStamp.get(b)! - doneA);
      lone.push(firstStamp.get(a)! - sentA);
    }
    ws.close();
    report(handoff, toPiece, lone);
  } finally {
    await worker.dispose();
    await standin.close();
  }
}

function report(handoff: number[], toPiece: number[], lone: number[]): void {
  const added = toPiece.map((v) => v - percentile(lone, 50));
  const rows = [
    [`queued behind a ${PIECES}-piece reply, ${handoff.length} rounds (ms)`, "p50", "p99"],
    ["handoff: B's `thinking` − A's `done` (at the client)", fmt(percentile(handoff, 50)), fmt(percentile(handoff, 99))],
    ["B's first piece written − A's `done`", fmt(percentile(toPiece, 50)), fmt(percentile(toPiece, 99))],
    ["A, which did not wait: first piece written − A sent", fmt(percentile(lone, 50)), fmt(percentile(lone, 99))],
    ["added by waiting (B's figure − A's p50); target ≤ 5", fmt(percentile(added, 50)), fmt(percentile(added, 99))],
  ];
  console.log(table(rows));
}

await main();
