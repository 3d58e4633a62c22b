/**
 * `npm run token -- someone@example.com [ttlSeconds]`: mints a user token with the local secrets in
 * .dev.vars (the same HS256 token POST /api/auth/token gives), and prints a sign-in link.
 */
import { createHmac } from "node:crypto";
import { SignJWT } from "jose";
import { ensureDevVars } from "../dev/dev-vars.ts";

const [rawEmail, rawTtl] = process.argv.slice(2);
const email = (rawEmail ?? "").trim().toLowerCase();
if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) {
  console.error("Usage: npm run token -- someone@example.com [ttlSeconds]");
  process.exit(2);
}
const ttl = Number(rawTtl ?? 30 * 24 * 3600);
const { vars } = ensureDevVars();
const userId = createHmac("sha256", vars.USER_ID_SALT!).update(`user:${email}`).digest("hex").slice(0, 20);
const now = Math.floor(Date.now() / 1000);
const token = await new SignJWT({ email })
  .setProtectedHeader({ alg: "HS256", typ: "JWT" })
  .setSubject(userId)
  .setAudience("soulprint")
  .setIssuedAt(now)
  .setExpirationTime(now + ttl)
  .sign(new TextEncoder().encode(vars.AUTH_SECRET!));
console.log(token);
console.error(`\nuserId ${userId}, expires ${new Date((now + ttl) * 1000).toISOString()}`);
console.error(`Sign in: http://127.0.0.1:${process.env.PORT ?? 8787}/#token=${token}`);
