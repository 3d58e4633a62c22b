/**
 * Claude's Markdown → Telegram HTML (`parse_mode: "HTML"`). HTML rather than MarkdownV2 because
 * MarkdownV2 needs 18 characters escaped outside entities and model output routinely breaks it
 * ("can't parse entities", reference §2.2). Safety comes from construction: every piece of text is
 * escaped, and a tag is only written with its closing tag (a marker without a partner stays
 * literal), so the output always parses. If Telegram still refuses it, the caller sends the source
 * as plain text (`isEntityParseError`).
 */

const escapeMap: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" };

/** Escapes text for Telegram HTML (the four entities it understands). */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => escapeMap[c]!);
}

const INLINE = new RegExp(
  [
    "`([^`\\n]+)`", // 1 code
    "\\[([^\\]\\n]+)\\]\\(([^()\\s]+)\\)", // 2 link text, 3 url
    "\\*\\*(?=\\S)([^\\n]+?)(?<=\\S)\\*\\*", // 4 bold
    "__(?=\\S)([^\\n]+?)(?<=\\S)__", // 5 bold
    "~~(?=\\S)([^\\n]+?)(?<=\\S)~~", // 6 strikethrough
    "(?<![\\w*])\\*(?=[^\\s*])([^*\\n]+?)(?<=[^\\s*])\\*(?![\\w*])", // 7 italic
    "(?<![\\w_])_(?=[^\\s_])([^_\\n]+?)(?<=[^\\s_])_(?![\\w_])", // 8 italic (snake_case stays literal)
  ].join("|"),
  "g",
);

/** Links Telegram opens safely; anything else (javascript:, relative paths) is shown as text. */
const SAFE_URL = /^(https?:\/\/|tg:\/\/|mailto:)[^\s"<>]+$/i;

/** Inline Markdown of one line → HTML. */
export function inlineToHtml(text: string): string {
  let out = "";
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    out += escapeHtml(text.slice(last, m.index));
    last = m.index + m[0].length;
    if (m[1] !== undefined) out += `<code>${escapeHtml(m[1])}</code>`;
    else if (m[2] !== undefined) {
      const url = m[3]!;
      out += SAFE_URL.test(url) ? `<a href="${escapeHtml(url)}">${inlineToHtml(m[2])}</a>` : `${inlineToHtml(m[2])} (${escapeHtml(url)})`;
    } else if (m[4] !== undefined || m[5] !== undefined) out += `<b>${inlineToHtml(m[4] ?? m[5]!)}</b>`;
    else if (m[6] !== undefined) out += `<s>${inlineToHtml(m[6])}</s>`;
    else out += `<i>${inlineToHtml(m[7] ?? m[8]!)}</i>`;
  }
  return out + escapeHtml(text.slice(last));
}

const FENCE_OPEN = /^\s*```\s*([\w+#.-]{0,32})\s*$/;
const FENCE_CLOSE = /^\s*```\s*$/;
const HEADING = /^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$/;
const RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;
const BULLET = /^(\s*)[-*+]\s+(.*)$/;
const QUOTE = /^\s{0,3}>\s?(.*)$/;
const TABLE_ROW = /^\s*\|.*\|\s*$/;

/** A Markdown reply (or one piece of it) → Telegram HTML. */
export function markdownToTelegramHtml(markdown: string): string {
  const lines = markdown.split("\n");
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const fence = FENCE_OPEN.exec(line);
    if (fence) {
      // An unclosed fence (a piece cut mid-block) runs to the end, as it would in a Markdown viewer.
      const body: string[] = [];
      while (++i < lines.length && !FENCE_CLOSE.test(lines[i]!)) body.push(lines[i]!);
      const code = escapeHtml(body.join("\n"));
      out.push(fence[1] ? `<pre><code class="language-${escapeHtml(fence[1])}">${code}</code></pre>` : `<pre>${code}</pre>`);
      continue;
    }
    if (QUOTE.test(line)) {
      const quoted: string[] = [];
      for (; i < lines.length && QUOTE.test(lines[i]!); i++) quoted.push(inlineToHtml(QUOTE.exec(lines[i]!)![1]!));
      i--;
      out.push(`<blockquote>${quoted.join("\n")}</blockquote>`);
      continue;
    }
    if (TABLE_ROW.test(line)) {
      // Telegram has no tables: a monospaced block keeps the columns aligned.
      const rows: string[] = [];
      for (; i < lines.length && TABLE_ROW.test(lines[i]!); i++) rows.push(lines[i]!);
      i--;
      out.push(`<pre>${escapeHtml(rows.join("\n"))}</pre>`);
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) out.push(`<b>${inlineToHtml(heading[1]!)}</b>`);
    else if (RULE.test(line)) out.push("———"); // no longer than the "---" it replaces: pieces are sized on the source
    else {
      const bullet = BULLET.exec(line);
      out.push(bullet ? `${bullet[1]}• ${inlineToHtml(bullet[2]!)}` : inlineToHtml(line));
    }
  }
  return out.join("\n");
}

/** Telegram refused the markup itself (so the same text, sent plain, will go through). */
export function isEntityParseError(description: string): boolean {
  return /can't parse entities|unsupported start tag|can't find end|unexpected end tag|unmatched end tag/i.test(description);
}
