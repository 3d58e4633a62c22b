/**
 * Splitting a reply into Telegram messages. `sendMessage` takes at most 4096 characters (UTF-16
 * units, after entity parsing), so a long reply becomes several messages, cut where a reader
 * would pause: a paragraph, else a line, else a sentence, else a word. A code block cut in two is
 * closed at the end of one piece and reopened at the start of the next, so both render as code.
 */

export const TELEGRAM_TEXT_LIMIT = 4096;

/** Room kept at the end of a piece for a closing code fence ("\n```"). */
const FENCE_RESERVE = 4;
/** Prefer a boundary in the second half of the window, so pieces stay large. */
const MIN_FILL = 0.5;

/** The kinds of boundary, best first; each returns the cut positions it finds in `window`. */
const BOUNDARIES: ((window: string) => number[])[] = [
  (w) => positions(w, /\n[ \t]*\n/g, "start"),
  (w) => positions(w, /\n/g, "start"),
  // After sentence punctuation and any closing quotes or brackets, before the space.
  (w) => positions(w, /[.!?…。！？]["'”’)\]]*(?=\s)/g, "end"),
  (w) => positions(w, /\s/g, "start"),
];

/** Splits `text` into pieces of at most `limit` characters; empty or blank text gives none. */
export function splitForTelegram(text: string, limit = TELEGRAM_TEXT_LIMIT): string[] {
  if (limit < 16) throw new RangeError("limit must be at least 16");
  const pieces: string[] = [];
  let rest = text.trim();
  while (rest.length > limit) {
    const window = rest.slice(0, limit - FENCE_RESERVE);
    const cut = chooseCut(window);
    let piece = rest.slice(0, cut).trimEnd();
    rest = rest.slice(cut).trimStart();
    const openFence = unclosedFence(piece);
    if (openFence !== null) {
      piece = `${piece}\n\`\`\``;
      rest = `${openFence}\n${rest}`;
    }
    if (piece.trim() !== "" && piece.trim() !== "```") pieces.push(piece);
  }
  if (rest.trim() !== "") pieces.push(rest);
  return pieces;
}

/** Where to cut a window that is too long: the best boundary, else a hard cut that keeps surrogate pairs whole. */
function chooseCut(window: string): number {
  const minimum = Math.floor(window.length * MIN_FILL);
  for (const found of BOUNDARIES) {
    const late = found(window).filter((p) => p >= minimum);
    if (late.length > 0) return late[late.length - 1]!;
  }
  for (const found of BOUNDARIES) {
    const early = found(window).filter((p) => p > 0);
    if (early.length > 0) return early[early.length - 1]!;
  }
  const code = window.charCodeAt(window.length - 1);
  return code >= 0xd800 && code <= 0xdbff ? window.length - 1 : window.length;
}

function positions(window: string, pattern: RegExp, at: "start" | "end"): number[] {
  const found: number[] = [];
  for (const match of window.matchAll(pattern)) found.push(at === "start" ? match.index : match.index + match[0].length);
  return found;
}

/** The opening fence line (e.g. "```ts") when `piece` ends inside a fenced code block, else null. */
export function unclosedFence(piece: string): string | null {
  let open: string | null = null;
  // A short info string only: a long one would be re-added to every following piece.
  for (const match of piece.matchAll(/^[ \t]*(```[^\n`]{0,32})[ \t]*$/gm)) {
    open = open === null ? match[1]!.trim() : null;
  }
  return open;
}
