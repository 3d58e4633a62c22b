/**
 * What an incoming update asks for, decided from the update and the bot's binding alone. Only the
 * chat that redeemed the link code is served; every other chat is a stranger, whatever it sends.
 */

export interface BindingState {
  ownerChatId: number | null;
  linkCode: string | null;
  botUsername: string;
}

export type Decision =
  | { kind: "ignore"; reason: string }
  /** `/start <code>` with the live code in a private chat: this chat becomes the owner's. */
  | { kind: "bind"; chatId: number }
  | { kind: "stranger"; chatId: number }
  /** The owner sent `/start` again (or with a spent code). */
  | { kind: "start"; chatId: number }
  | { kind: "new"; chatId: number }
  | { kind: "help"; chatId: number }
  /** The owner sent something without text or photo (a sticker, a voice note). */
  | { kind: "text_only"; chatId: number }
  /** `text` may be empty when a photo comes without a caption. */
  | { kind: "chat"; chatId: number; text: string; photo?: PhotoChoice };

/** The photo size to fetch: the largest Telegram offers within the cap, or a note that none fits. */
export type PhotoChoice = { fileId: string; fileSize: number | null } | { tooLarge: true };

interface PhotoSizeLike {
  file_id?: unknown;
  width?: unknown;
  height?: unknown;
  file_size?: unknown;
}

interface MessageLike {
  chat?: { id?: unknown; type?: unknown };
  from?: { is_bot?: unknown };
  text?: unknown;
  caption?: unknown;
  photo?: unknown;
}

/**
 * Telegram sends a photo as several sizes of one picture. The largest whose size is known to fit
 * `maxBytes` is taken (a size without `file_size` counts as fitting; the download is capped anyway).
 */
export function choosePhoto(sizes: unknown, maxBytes: number): PhotoChoice | null {
  if (!Array.isArray(sizes)) return null;
  const valid = (sizes as PhotoSizeLike[]).filter((s): s is PhotoSizeLike & { file_id: string } => typeof s?.file_id === "string" && s.file_id !== "");
  if (valid.length === 0) return null;
  const area = (s: PhotoSizeLike) => (Number(s.width) || 0) * (Number(s.height) || 0);
  const fitting = valid
    .filter((s) => typeof s.file_size !== "number" || s.file_size <= maxBytes)
    .sort((a, b) => area(b) - area(a));
  const best = fitting[0];
  if (!best) return { tooLarge: true };
  return { fileId: best.file_id, fileSize: typeof best.file_size === "number" ? best.file_size : null };
}

/**
 * Routes one update. `codesEqual` compares the link code (constant time in production: the code
 * is a credential that makes a chat the owner's).
 */
export function routeUpdate(update: unknown, state: BindingState, codesEqual: (a: string, b: string) => boolean, maxPhotoBytes = Number.POSITIVE_INFINITY): Decision {
  const message = (update as { message?: MessageLike } | null)?.message;
  if (!message || typeof message !== "object") return { kind: "ignore", reason: "not a message" };
  const chatId = message.chat?.id;
  if (typeof chatId !== "number" || !Number.isSafeInteger(chatId)) return { kind: "ignore", reason: "no chat" };
  if (message.from?.is_bot === true) return { kind: "ignore", reason: "from a bot" };
  const text = typeof message.text === "string" ? message.text : typeof message.caption === "string" ? message.caption : null;
  const command = text === null ? null : parseCommand(text, state.botUsername);
  if (command === "other_bot") return { kind: "ignore", reason: "a command for another bot" };
  const isOwner = state.ownerChatId !== null && chatId === state.ownerChatId;

  if (command?.name === "start") {
    const code = command.args.trim();
    if (code && state.linkCode && message.chat?.type === "private" && codesEqual(code, state.linkCode)) return { kind: "bind", chatId };
    return isOwner ? { kind: "start", chatId } : { kind: "stranger", chatId };
  }
  if (!isOwner) return { kind: "stranger", chatId };
  if (command?.name === "new") return { kind: "new", chatId };
  if (command?.name === "help") return { kind: "help", chatId };
  const photo = choosePhoto(message.photo, maxPhotoBytes);
  if (photo) return { kind: "chat", chatId, text: text ?? "", photo };
  if (text === null || text.trim() === "") return { kind: "text_only", chatId };
  return { kind: "chat", chatId, text };
}

/**
 * `/name[@bot] args` → the command in lower case and its arguments; null for ordinary text;
 * "other_bot" when it names a different bot (in a group, it is not for us).
 */
export function parseCommand(text: string, botUsername: string): { name: string; args: string } | "other_bot" | null {
  const match = /^\/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]{1,64}))?(?:\s+([\s\S]*))?$/.exec(text.trim());
  if (!match) return null;
  if (match[2] && match[2].toLowerCase() !== botUsername.toLowerCase()) return "other_bot";
  return { name: match[1]!.toLowerCase(), args: match[3] ?? "" };
}
