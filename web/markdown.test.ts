import { describe, expect, it } from "vitest";
import { escapeHtml, renderInline, renderMarkdown, safeHref } from "./markdown.ts";

/**
 * Checks the renderer's safety contract on an output string: every tag is one the renderer writes,
 * every attribute is one of the allowed ones with a double-quoted value free of raw quotes and
 * angle brackets, and every href is an absolute http(s) URL. No DOM needed.
 */
const ALLOWED_TAGS = new Set([
  "p", "br", "strong", "em", "del", "code", "pre", "a", "ul", "ol", "li", "h3", "h4", "h5", "h6",
  "blockquote", "hr", "table", "thead", "tbody", "tr", "th", "td", "div", "span", "button",
]);
const ALLOWED_ATTRS = new Set(["href", "target", "rel", "class", "start", "type"]);

function assertSafe(html: string): void {
  // Everything between < and > must be a well-formed allowed tag.
  const tagRe = /<(\/?)([a-z0-9]+)((?:\s+[a-z-]+="[^"<>]*")*)\s*>/g;
  let stripped = html.replace(tagRe, (_m, _close: string, name: string, attrs: string) => {
    expect(ALLOWED_TAGS.has(name), `tag <${name}>`).toBe(true);
    for (const a of attrs.matchAll(/([a-z-]+)="([^"]*)"/g)) {
      const [, key = "", value = ""] = a;
      expect(ALLOWED_ATTRS.has(key), `attribute ${key}`).toBe(true);
      if (key === "href") expect(value).toMatch(/^https?:\/\//);
      if (key === "start") expect(value).toMatch(/^\d+$/);
    }
    return "";
  });
  // Any < or > left over would be markup the regex did not recognise: text must be escaped.
  expect(stripped).not.toMatch(/[<>]/);
  stripped = "";
}

describe("escapeHtml", () => {
  it("escapes the five HTML-significant characters", () => {
    expect(escapeHtml(`<a href="x" onclick='y'>&</a>`)).toBe(
      "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;",
    );
  });
});

describe("safeHref", () => {
  it("accepts absolute http and https URLs", () => {
    expect(safeHref("https://example.com/a?b=1")).toBe("https://example.com/a?b=1");
    expect(safeHref("HTTP://Example.com")).toBe("http://example.com/");
  });
  it.each([
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "//evil.example/x",
    "/relative/path",
    "mailto:someone@example.com",
    "https:alert(1)",
    "",
  ])("refuses %j", (url) => {
    expect(safeHref(url)).toBeNull();
  });
});

describe("renderMarkdown: safety", () => {
  it("escapes a script tag instead of emitting it", () => {
    const html = renderMarkdown("Hello <script>alert(1)</script>");
    expect(html).toBe("<p>Hello &lt;script&gt;alert(1)&lt;/script&gt;</p>");
    assertSafe(html);
  });

  it("never passes raw HTML through, whatever the element", () => {
    const inputs = [
      `<img src=x onerror=alert(1)>`,
      `<iframe src="https://evil.example"></iframe>`,
      `<a href="javascript:alert(1)">x</a>`,
      `<svg onload=alert(1)>`,
      `<div style="background:url(javascript:alert(1))">`,
      "<!-- comment --><style>body{}</style>",
    ];
    for (const input of inputs) {
      const html = renderMarkdown(input);
      assertSafe(html);
      expect(html).not.toMatch(/<(img|iframe|svg|style|script)/i);
    }
  });

  it("does not link javascript: and data: URLs, in any spelling", () => {
    for (const url of ["javascript:alert(1)", "JAVASCRIPT:alert(1)", "javascript&#58;alert(1)", "data:text/html;base64,PHNjcmlwdD4=", "  javascript:alert(1)"]) {
      const html = renderMarkdown(`[click me](${url})`);
      expect(html).not.toContain("<a ");
      expect(html).toContain("click me");
      assertSafe(html);
    }
  });

  it("keeps a quote in a URL from breaking out of the href attribute", () => {
    const html = renderMarkdown(`[x](https://example.com/"onmouseover="alert(1))`);
    assertSafe(html);
    expect(html).not.toMatch(/\sonmouseover=/);
  });

  it("escapes attribute-breaking characters in link text and code", () => {
    const html = renderMarkdown('[a "b" <c>](https://example.com) and `<b onclick="x">`');
    assertSafe(html);
    expect(html).toContain("a &quot;b&quot; &lt;c&gt;");
    expect(html).toContain("<code>&lt;b onclick=&quot;x&quot;&gt;</code>");
  });

  it("escapes HTML inside fenced code blocks and sanitises the language name", () => {
    const html = renderMarkdown('```html"><script>\n<script>alert(1)</script>\n```');
    assertSafe(html);
    expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(html).not.toContain("<script");
  });

  it("does not turn image syntax into an <img>", () => {
    const html = renderMarkdown("![cat](https://example.com/cat.png) ![x](javascript:alert(1))");
    assertSafe(html);
    expect(html).not.toContain("<img");
    expect(html).toContain('<a href="https://example.com/cat.png"');
  });

  it("cannot be tricked by NUL characters that look like its placeholders", () => {
    const html = renderMarkdown("`a` \u00000\u0000 <b>");
    assertSafe(html);
    expect(html).not.toContain("<b>");
  });

  it("stays safe on random hostile input", () => {
    const alphabet = ['<', '>', '"', "'", "&", "`", "*", "_", "~", "[", "]", "(", ")", "!", "#", "-", "|", ":", "\n", " ", "\\", "javascript:", "https://x.org/", "<script>", "onerror=", "\u0000", "1.", ">"];
    let seed = 42;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let k = 0; k < 500; k++) {
      let input = "";
      const len = rand(60);
      for (let j = 0; j < len; j++) input += alphabet[rand(alphabet.length)];
      assertSafe(renderMarkdown(input));
    }
  });

  it("survives pathological nesting without blowing the stack", () => {
    assertSafe(renderMarkdown(">".repeat(5000) + " deep"));
    assertSafe(renderMarkdown(Array.from({ length: 200 }, (_, i) => " ".repeat(i * 2) + "- item").join("\n")));
  });
});

describe("renderMarkdown: formatting", () => {
  it("renders bold, italic, strikethrough and inline code", () => {
    expect(renderInline("**bold** *it* _it2_ ~~gone~~ `x*y*`")).toBe(
      "<strong>bold</strong> <em>it</em> <em>it2</em> <del>gone</del> <code>x*y*</code>",
    );
  });

  it("leaves snake_case and lone stars alone", () => {
    expect(renderInline("snake_case_name and 2 * 3 * 4")).toBe("snake_case_name and 2 * 3 * 4");
  });

  it("honours backslash escapes", () => {
    expect(renderInline("\\*not italic\\*")).toBe("*not italic*");
  });

  it("renders paragraphs with single newlines as line breaks", () => {
    expect(renderMarkdown("one\ntwo\n\nthree")).toBe("<p>one<br>two</p><p>three</p>");
  });

  it("renders headings one level below the page's own", () => {
    expect(renderMarkdown("# Title\n### Small")).toBe("<h3>Title</h3><h5>Small</h5>");
  });

  it("renders links with safe attributes, and bare URLs without trailing punctuation", () => {
    expect(renderInline("[docs](https://example.com/a_b)")).toBe(
      '<a href="https://example.com/a_b" target="_blank" rel="noopener noreferrer nofollow">docs</a>',
    );
    expect(renderInline("see https://example.com/x.")).toBe(
      'see <a href="https://example.com/x" target="_blank" rel="noopener noreferrer nofollow">https://example.com/x</a>.',
    );
  });

  it("renders bullet and numbered lists, nested by indentation", () => {
    expect(renderMarkdown("- a\n- b\n  - c\n- d")).toBe("<ul><li>a</li><li>b<ul><li>c</li></ul></li><li>d</li></ul>");
    expect(renderMarkdown("3. x\n4. y")).toBe('<ol start="3"><li>x</li><li>y</li></ol>');
  });

  it("lets a list interrupt a paragraph", () => {
    expect(renderMarkdown("Options:\n- a\n- b")).toBe("<p>Options:</p><ul><li>a</li><li>b</li></ul>");
  });

  it("renders fenced code blocks, also when still unclosed mid-stream", () => {
    const closed = renderMarkdown("```ts\nconst a = 1;\n```\nafter");
    expect(closed).toContain('<pre><code class="language-ts">const a = 1;</code></pre>');
    expect(closed).toContain("<p>after</p>");
    const open = renderMarkdown("```\npartial <code");
    expect(open).toContain("<pre><code>partial &lt;code</code></pre>");
  });

  it("renders blockquotes and rules", () => {
    expect(renderMarkdown("> quoted\n\n---")).toBe("<blockquote><p>quoted</p></blockquote><hr>");
  });

  it("renders GFM tables with alignment classes", () => {
    const html = renderMarkdown("| a | b |\n|:--|--:|\n| 1 | **2** |");
    expect(html).toBe(
      '<div class="table-wrap"><table><thead><tr><th>a</th><th class="align-right">b</th></tr></thead>' +
        '<tbody><tr><td>1</td><td class="align-right"><strong>2</strong></td></tr></tbody></table></div>',
    );
  });
});
