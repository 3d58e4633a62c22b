/**
 * A small, safe Markdown renderer for chat replies.
 *
 * Safety model: the input is never trusted and no raw HTML ever passes through. Every piece of
 * text is HTML-escaped before it reaches the output; the only tags in the output are the ones this
 * file writes (p, br, strong, em, del, code, pre, a, ul, ol, li, h3-h6, blockquote, hr, table
 * parts, and a code-block wrapper with a copy button), and the only attributes are constant class
 * names, a sanitised language name, an `<ol start>` number and link `href`s that parsed as
 * absolute http(s) URLs. That makes the result safe to assign to `innerHTML`.
 *
 * Supported: paragraphs (single newlines become <br>, as chat users expect), **bold**, __bold__,
 * *italic*, _italic_, ~~strike~~, `code`, fenced code blocks (``` or ~~~, also unclosed while a
 * reply streams), headings, nested bullet and numbered lists, blockquotes, rules, GFM tables,
 * [links](https://...) and bare https:// URLs, backslash escapes.
 */

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escapes text for use in HTML content and in double-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

/**
 * Returns the normalised URL when `raw` is an absolute http(s) URL, else null. Anything else
 * (`javascript:`, `data:`, `vbscript:`, relative paths, protocol-relative `//host`) is refused.
 */
export function safeHref(raw: string): string | null {
  const s = raw.trim();
  // Checked on the raw text first: the URL parser forgives tabs and newlines inside a scheme.
  if (!/^https?:\/\/[^\s]/i.test(s)) return null;
  try {
    const url = new URL(s);
    if (url.protocol !== "http:" && url.protocol !== "https:") return null;
    return url.href;
  } catch {
    return null;
  }
}

/** Nesting limit for lists and quotes: deeper input renders as text instead of recursing. */
const MAX_DEPTH = 12;

const FENCE_RE = /^ {0,3}(`{3,}|~{3,})[ \t]*([^`\s]*)[^`]*$/;
const HEADING_RE = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
const HR_RE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const QUOTE_RE = /^ {0,3}>[ \t]?(.*)$/;
const LIST_RE = /^([ \t]*)([-*+]|\d{1,9}[.)])(?:[ \t]+(.*)|$)/;
const TABLE_SEP_RE = /^[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$/;

/** Renders Markdown source to an HTML string that is safe to assign to innerHTML. */
export function renderMarkdown(source: string): string {
  // NUL is the placeholder marker of renderInline; it never appears in real text.
  const text = source.replace(/\r\n?/g, "\n").replace(/\u0000/g, "\uFFFD");
  return renderBlocks(text.split("\n"), 0, false);
}

function indentWidth(ws: string): number {
  let w = 0;
  for (const c of ws) w += c === "\t" ? 4 - (w % 4) : 1;
  return w;
}

function isBlank(line: string): boolean {
  return /^[ \t]*$/.test(line);
}

/** Whether `lines[i]` starts a block that interrupts a paragraph. */
function startsBlock(lines: string[], i: number): boolean {
  const line = lines[i] ?? "";
  return (
    FENCE_RE.test(line) ||
    HEADING_RE.test(line) ||
    HR_RE.test(line) ||
    QUOTE_RE.test(line) ||
    LIST_RE.test(line) ||
    isTableStart(lines, i)
  );
}

function isTableStart(lines: string[], i: number): boolean {
  const head = lines[i] ?? "";
  const sep = lines[i + 1];
  return head.includes("|") && sep !== undefined && sep.includes("-") && TABLE_SEP_RE.test(sep);
}

/**
 * Renders a run of lines as blocks. `tight` drops the <p> around paragraphs (list items without
 * blank lines between them, like CommonMark's tight lists).
 */
function renderBlocks(lines: string[], depth: number, tight: boolean): string {
  const out: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i] ?? "";
    if (isBlank(line)) {
      i++;
      continue;
    }

    const fence = FENCE_RE.exec(line);
    if (fence) {
      const marker = fence[1] ?? "```";
      const lang = (fence[2] ?? "").replace(/[^\w+#.-]/g, "").slice(0, 24);
      const body: string[] = [];
      i++;
      while (i < lines.length) {
        const l = lines[i] ?? "";
        const close = /^ {0,3}(`{3,}|~{3,})[ \t]*$/.exec(l);
        if (close && close[1]![0] === marker[0] && close[1]!.length >= marker.length) {
          i++;
          break;
        }
        body.push(l);
        i++;
      }
      out.push(codeBlock(body.join("\n"), lang));
      continue;
    }

    const heading = HEADING_RE.exec(line);
    if (heading) {
      // Inside a chat bubble the page's h1/h2 are taken; # maps to h3 and so on.
      const level = Math.min(6, (heading[1] ?? "#").length + 2);
      out.push(`<h${level}>${renderInline(heading[2] ?? "")}</h${level}>`);
      i++;
      continue;
    }

    if (HR_RE.test(line)) {
      out.push("<hr>");
      i++;
      continue;
    }

    if (QUOTE_RE.test(line) && depth < MAX_DEPTH) {
      const inner: string[] = [];
      while (i < lines.length) {
        const l = lines[i] ?? "";
        const q = QUOTE_RE.exec(l);
        if (q) inner.push(q[1] ?? "");
        else if (!isBlank(l) && !startsBlock(lines, i) && inner.length > 0 && !isBlank(inner[inner.length - 1] ?? "")) inner.push(l);
        else break;
        i++;
      }
      out.push(`<blockquote>${renderBlocks(inner, depth + 1, false)}</blockquote>`);
      continue;
    }

    if (LIST_RE.test(line) && depth < MAX_DEPTH) {
      const list = renderList(lines, i, depth);
      out.push(list.html);
      i = list.next;
      continue;
    }

    if (isTableStart(lines, i)) {
      const table = renderTable(lines, i);
      out.push(table.html);
      i = table.next;
      continue;
    }

    // A paragraph: up to a blank line or the start of another block.
    const para: string[] = [line.trim()];
    i++;
    while (i < lines.length && !isBlank(lines[i] ?? "") && !startsBlock(lines, i)) {
      para.push((lines[i] ?? "").trim());
      i++;
    }
    const html = para.map(renderInline).join("<br>");
    out.push(tight ? html : `<p>${html}</p>`);
  }
  return out.join("");
}

function codeBlock(code: string, lang: string): string {
  const label = lang ? `<span class="code-lang">${escapeHtml(lang)}</span>` : "<span></span>";
  const cls = lang ? ` class="language-${escapeHtml(lang)}"` : "";
  return (
    `<div class="code-block"><div class="code-head">${label}` +
    `<button type="button" class="copy-code">Copy</button></div>` +
    `<pre><code${cls}>${escapeHtml(code)}</code></pre></div>`
  );
}

/** Parses a list starting at `start` (nested lists by indentation). */
function renderList(lines: string[], start: number, depth: number): { html: string; next: number } {
  const first = LIST_RE.exec(lines[start] ?? "")!;
  const baseIndent = indentWidth(first[1] ?? "");
  const ordered = /\d/.test(first[2] ?? "");
  const startNum = ordered ? parseInt(first[2] ?? "1", 10) : 1;

  const items: { lines: string[]; loose: boolean }[] = [];
  let i = start;
  let sawBlank = false;
  while (i < lines.length) {
    const line = lines[i] ?? "";
    const m = LIST_RE.exec(line);
    const indent = indentWidth(/^[ \t]*/.exec(line)?.[0] ?? "");
    if (m && indent <= baseIndent + 1 && /\d/.test(m[2] ?? "") === ordered) {
      // A sibling item.
      if (indent < baseIndent) break;
      if (sawBlank && items.length > 0) items[items.length - 1]!.loose = true;
      items.push({ lines: [m[3] ?? ""], loose: false });
      sawBlank = false;
      i++;
      continue;
    }
    if (m && indent < baseIndent) break; // belongs to an outer list
    const current = items[items.length - 1];
    if (!current) break;
    if (isBlank(line)) {
      // A blank line continues the list only if what follows is still part of it.
      let j = i + 1;
      while (j < lines.length && isBlank(lines[j] ?? "")) j++;
      const nextLine = lines[j];
      if (nextLine === undefined) break;
      const nextIndent = indentWidth(/^[ \t]*/.exec(nextLine)?.[0] ?? "");
      const nm = LIST_RE.exec(nextLine);
      const continues = nextIndent > baseIndent || (nm !== null && nextIndent === baseIndent && /\d/.test(nm[2] ?? "") === ordered);
      if (!continues) break;
      current.lines.push("");
      sawBlank = true;
      i++;
      continue;
    }
    if (indent > baseIndent) {
      // Nested content: remove the item's indentation so inner lists parse at their own level.
      const strip = Math.min(indent, baseIndent + 2 + (ordered ? 1 : 0));
      current.lines.push(removeIndent(line, strip));
      i++;
      continue;
    }
    if (m || startsBlock(lines, i) || sawBlank) break;
    current.lines.push(line.trim()); // lazy paragraph continuation
    i++;
  }

  const tag = ordered ? "ol" : "ul";
  const startAttr = ordered && startNum !== 1 ? ` start="${startNum}"` : "";
  const body = items
    .map((it) => {
      const loose = it.loose || it.lines.some((l, k) => isBlank(l) && k > 0 && k < it.lines.length - 1);
      return `<li>${renderBlocks(it.lines, depth + 1, !loose)}</li>`;
    })
    .join("");
  return { html: `<${tag}${startAttr}>${body}</${tag}>`, next: i };
}

function removeIndent(line: string, width: number): string {
  let w = 0;
  let k = 0;
  while (k < line.length && w < width && (line[k] === " " || line[k] === "\t")) {
    w += line[k] === "\t" ? 4 - (w % 4) : 1;
    k++;
  }
  return line.slice(k);
}

function splitRow(line: string): string[] {
  let s = line.trim();
  if (s.startsWith("|")) s = s.slice(1);
  if (s.endsWith("|") && !s.endsWith("\\|")) s = s.slice(0, -1);
  return s.split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, "|"));
}

function renderTable(lines: string[], start: number): { html: string; next: number } {
  const head = splitRow(lines[start] ?? "");
  const aligns = splitRow(lines[start + 1] ?? "").map((c) =>
    c.startsWith(":") && c.endsWith(":") ? "center" : c.endsWith(":") ? "right" : "",
  );
  const cell = (tag: "th" | "td", text: string, col: number): string => {
    const align = aligns[col];
    const cls = align ? ` class="align-${align}"` : "";
    return `<${tag}${cls}>${renderInline(text)}</${tag}>`;
  };
  let i = start + 2;
  const rows: string[] = [];
  while (i < lines.length && !isBlank(lines[i] ?? "") && (lines[i] ?? "").includes("|")) {
    const cells = splitRow(lines[i] ?? "");
    rows.push(`<tr>${head.map((_, c) => cell("td", cells[c] ?? "", c)).join("")}</tr>`);
    i++;
  }
  const thead = `<thead><tr>${head.map((h, c) => cell("th", h, c)).join("")}</tr></thead>`;
  const tbody = rows.length ? `<tbody>${rows.join("")}</tbody>` : "";
  return { html: `<div class="table-wrap"><table>${thead}${tbody}</table></div>`, next: i };
}

/** Makes a safe <a> from a validated href and already-rendered inner HTML. */
function link(href: string, innerHtml: string): string {
  return `<a href="${escapeHtml(href)}" target="_blank" rel="noopener noreferrer nofollow">${innerHtml}</a>`;
}

/** Trailing punctuation is not part of a bare URL ("see https://x.org." ends before the dot). */
function splitTrailing(url: string): [string, string] {
  let end = url.length;
  while (end > 0) {
    const c = url[end - 1]!;
    if (".,;:!?*_~'\"".includes(c)) end--;
    else if (c === ")" && (url.slice(0, end).match(/\(/g)?.length ?? 0) < (url.slice(0, end).match(/\)/g)?.length ?? 0)) end--;
    else break;
  }
  return [url.slice(0, end), url.slice(end)];
}

/**
 * Renders one line (or table cell) of inline Markdown. Pieces whose HTML is final (code spans,
 * links, escapes) are swapped for NUL-delimited placeholders, the rest is escaped and emphasis is
 * applied to the escaped text, then the placeholders are put back.
 */
export function renderInline(text: string): string {
  const slots: string[] = [];
  const put = (html: string): string => `\u0000${slots.push(html) - 1}\u0000`;
  let s = text.replace(/\u0000/g, "\uFFFD");

  // Code spans first: nothing inside them is Markdown.
  s = s.replace(/(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/g, (_m, _ticks: string, code: string) => {
    const c = code.length > 2 && code.startsWith(" ") && code.endsWith(" ") ? code.slice(1, -1) : code;
    return put(`<code>${escapeHtml(c)}</code>`);
  });

  // Backslash escapes: \* is a literal star, and so on.
  s = s.replace(/\\([\\`*_{}\[\]()#+\-.!~|>])/g, (_m, c: string) => put(escapeHtml(c)));

  // Images cannot be shown (no remote loads under the page's CSP): a link to them instead.
  s = s.replace(/!\[([^\]]*)\]\(\s*<?([^()\s<>]*)>?(?:\s+"[^"]*")?\s*\)/g, (_m, alt: string, url: string) => {
    const href = safeHref(url);
    const label = emphasis(escapeHtml(alt || "image"));
    return put(href ? link(href, label) : label);
  });

  // [label](url "title"); a label may hold one level of [brackets], a URL one level of (parens).
  s = s.replace(
    /\[((?:[^[\]]|\[[^[\]]*\])*)\]\(\s*<?((?:[^()\s<>]|\([^()\s]*\))*)>?(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)/g,
    (_m, label: string, url: string) => {
      const href = safeHref(url);
      const inner = emphasis(escapeHtml(label));
      return put(href ? link(href, inner) : inner);
    },
  );

  // <https://...> and bare URLs.
  s = s.replace(/<(https?:\/\/[^\s<>]+)>/gi, (m, url: string) => {
    const href = safeHref(url);
    return href ? put(link(href, escapeHtml(url))) : m;
  });
  s = s.replace(/\bhttps?:\/\/[^\s<>"'`\u0000]+/gi, (m: string) => {
    const [url, trail] = splitTrailing(m);
    const href = safeHref(url);
    return href ? put(link(href, escapeHtml(url))) + trail : m;
  });

  const html = emphasis(escapeHtml(s));
  return restore(html, slots, 0);
}

function restore(html: string, slots: string[], depth: number): string {
  if (depth > 8) return html.replace(/\u0000\d+\u0000/g, "");
  return html.replace(/\u0000(\d+)\u0000/g, (_m, n: string) => restore(slots[Number(n)] ?? "", slots, depth + 1));
}

/**
 * Bold, italic and strikethrough on already-escaped text. Escaping leaves `*`, `_` and `~` alone
 * and entities contain none of them, so these replacements only ever add the three tags.
 */
function emphasis(escaped: string): string {
  return escaped
    .replace(/\*\*(?=\S)([\s\S]*?\S)\*\*/g, "<strong>$1</strong>")
    .replace(/(?<![\w])__(?=\S)([\s\S]*?\S)__(?!\w)/g, "<strong>$1</strong>")
    .replace(/(?<![\w*])\*(?=[^\s*])([^*\n]*?[^\s*])\*(?![\w*])/g, "<em>$1</em>")
    .replace(/(?<![\w])_(?=[^\s_])([^_\n]*?[^\s_])_(?!\w)/g, "<em>$1</em>")
    .replace(/~~(?=\S)([^~\n]*?\S)~~/g, "<del>$1</del>");
}
