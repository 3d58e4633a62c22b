/**
 * `npm run dev`: the whole product on one machine. Creates .dev.vars when missing, builds the web app,
 * starts the stand-ins for Bedrock, Telegram and Fly (unless real credentials are configured), then
 * `wrangler dev` pointed at them, with `Authorization: Email` sign-in allowed locally.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ensureDevVars } from "./dev-vars.ts";

const PORT = Number(process.env.PORT ?? 8787);
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const { vars, created } = ensureDevVars();
if (created) console.log("Created .dev.vars with fresh local secrets (gitignored).");

const closers: (() => Promise<void>)[] = [];
const overrides: Record<string, string> = { ALLOW_EMAIL_AUTH: "true", PUBLIC_URL: `http://127.0.0.1:${PORT}` };

interface Standin {
  url: string;
  appUrlTemplate?: string;
  close(): Promise<void>;
}
async function startStandin(file: string, port: number, options: Record<string, unknown> = {}): Promise<Standin | null> {
  const path = new URL(file, import.meta.url);
  if (!existsSync(path)) return null;
  const standin = (await (await import(path.href)).start({ port, ...options })) as Standin;
  closers.push(() => standin.close());
  return standin;
}

const realAws = Boolean((vars.AWS_ACCESS_KEY_ID && vars.AWS_SECRET_ACCESS_KEY) || vars.AWS_BEARER_TOKEN_BEDROCK);
if (!realAws) {
  const bedrock = await startStandin("./bedrock-standin.ts", 9101);
  if (bedrock) {
    overrides.BEDROCK_ENDPOINT = bedrock.url;
    overrides.AWS_ACCESS_KEY_ID = "AKIDLOCALSTANDIN";
    overrides.AWS_SECRET_ACCESS_KEY = "local-standin-secret";
    console.log(`Bedrock stand-in   ${bedrock.url}`);
  }
}
const telegram = await startStandin("./telegram-standin.ts", 9102);
if (telegram) {
  overrides.TELEGRAM_API_ROOT = telegram.url;
  console.log(`Telegram stand-in  ${telegram.url}   (chat as a user: npx node dev/telegram-standin.ts say --port 9102 --token <bot token> --text "hi")`);
}
if (!vars.FLY_API_TOKEN) {
  const fly = await startStandin("./fly-standin.ts", 9103, { token: "local-fly-token" });
  if (fly) {
    overrides.FLY_API_BASE = fly.url;
    overrides.FLY_API_TOKEN = "local-fly-token";
    // The stand-in only records the image (wrangler.toml names none): the one `npm run image` builds.
    if (!vars.CLAWDBOT_IMAGE) overrides.CLAWDBOT_IMAGE = "localhost/soulprint-agent:dev";
    if (fly.appUrlTemplate) overrides.FLY_APP_URL = fly.appUrlTemplate;
    console.log(`Fly stand-in       ${fly.url}`);
  }
}

if (existsSync(new URL("../scripts/build-web.mjs", import.meta.url))) {
  await run(process.execPath, ["scripts/build-web.mjs"]);
}

const wranglerArgs = ["dev", "--port", String(PORT), "--ip", "127.0.0.1", "--show-interactive-dev-session=false"];
for (const [key, value] of Object.entries(overrides)) wranglerArgs.push("--var", `${key}:${value}`);
const wrangler: ChildProcess = spawn(`${ROOT}node_modules/.bin/wrangler`, wranglerArgs, {
  cwd: ROOT,
  stdio: ["ignore", "pipe", "inherit"],
  env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" },
});
let announced = false;
wrangler.stdout?.on("data", (chunk: Buffer) => {
  process.stdout.write(chunk);
  if (!announced && /Ready on/i.test(chunk.toString())) {
    announced = true;
    console.log(`\n  SoulPrint Home is running: open http://127.0.0.1:${PORT}`);
    console.log("  Sign in with any email address (local development allows Authorization: Email).");
    console.log("  A bearer token instead: npm run token -- someone@example.com\n");
  }
});

async function shutdown(code: number): Promise<never> {
  if (wrangler.exitCode === null) wrangler.kill("SIGTERM");
  await Promise.allSettled(closers.map((close) => close()));
  process.exit(code);
}
wrangler.on("exit", (code) => void shutdown(code ?? 0));
process.on("SIGINT", () => void shutdown(0));
process.on("SIGTERM", () => void shutdown(0));

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: "inherit" });
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${args.join(" ")} exited with ${code}`))));
  });
}
