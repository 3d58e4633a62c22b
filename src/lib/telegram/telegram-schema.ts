/**
 * The user object's Telegram tables (idempotent, applied as one migration by `schema.ts`).
 *
 * - `telegram_bot`: the claimed bot, one row. The token is sealed with ENCRYPTION_KEY; `bot_info`
 *   is the getMe answer, kept so grammY never calls getMe per update.
 * - `telegram_inbox`: every update received, keyed by `update_id`, so a redelivered update is
 *   dropped on insert. A row stays `pending` until its whole reply is sent: `plan` is the reply
 *   decided once (model answer split into parts), `sent` how many parts went out, so a retry after
 *   a crash sends only what is missing. Handled rows keep only their id, for 48 hours (Telegram
 *   keeps an update at most 24 hours, so none can be redelivered after that).
 * - `telegram_strangers`: chats that were told "this companion is private", so each is told once.
 */
export const TELEGRAM_SCHEMA: string[] = [
  `CREATE TABLE IF NOT EXISTS telegram_bot (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    bot_id INTEGER NOT NULL,
    username TEXT NOT NULL,
    token_sealed TEXT NOT NULL,
    webhook_secret TEXT NOT NULL,
    bot_info TEXT NOT NULL,
    from_pool INTEGER NOT NULL DEFAULT 0,
    owner_chat_id INTEGER,
    link_code TEXT,
    last_update_id INTEGER,
    claimed_at INTEGER NOT NULL
  )`,
  `CREATE TABLE IF NOT EXISTS telegram_inbox (
    update_id INTEGER PRIMARY KEY,
    bot_id INTEGER NOT NULL,
    body TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done')),
    plan TEXT,
    sent INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    handled_at INTEGER
  )`,
  "CREATE INDEX IF NOT EXISTS telegram_inbox_pending ON telegram_inbox (state, update_id)",
  `CREATE TABLE IF NOT EXISTS telegram_strangers (
    chat_id INTEGER PRIMARY KEY,
    told_at INTEGER NOT NULL
  )`,
];

/**
 * Migration 9 (issue 18): the message a reply streamed into by edits (where drafts are refused), so
 * a retry after a crash edits that message into the final reply instead of posting a second one.
 */
export const TELEGRAM_STREAM_SCHEMA: string[] = ["ALTER TABLE telegram_inbox ADD COLUMN stream_message_id INTEGER"];
