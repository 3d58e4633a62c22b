/**
 * The chat column: the message list (rendered from ChatStore, batched per animation frame so a
 * fast stream of deltas costs one Markdown render per bubble per frame), the composer, the status
 * line, the connection indicator and the offline banner.
 */
import type { ChatMessage, ChatStore } from "./chat-store.ts";
import type { ConnectionInfo } from "./chat-socket.ts";
import { byId, h, icon } from "./dom.ts";
import { formatClock, formatDateTime, formatTokens, formatUsd, toMs } from "./format.ts";
import type { ImageLoader } from "./images.ts";
import { renderMarkdown } from "./markdown.ts";
import type { Attachments } from "./attachments.ts";

export interface ChatViewOptions {
  store: ChatStore;
  images: ImageLoader;
  attachments: Attachments;
  /** Sends a message with the uploaded images; false when it could not go out (the input keeps both). */
  onSend: (text: string, images: { id: string; url: string; alt: string }[]) => boolean;
  onCancel: () => void;
  onLoadEarlier: () => void;
  onRetryConnection: () => void;
}

interface MessageNode {
  li: HTMLLIElement;
  text: HTMLDivElement;
  images: HTMLDivElement;
  activity: HTMLParagraphElement;
  error: HTMLParagraphElement;
  meta: HTMLDivElement;
  renderedText: string | null;
}

const ACTIVITY_LABELS: Record<string, string> = {
  queued: "Waiting for the reply before it…",
  thinking: "Thinking…",
  waking_container: "Waking your container…",
  tool: "Using a tool…",
};

export const SUGGESTIONS = [
  "What do you remember about me?",
  "Help me write a better SOUL.md",
  "Summarise what we talked about last time",
];

export class ChatView {
  private readonly list = byId<HTMLOListElement>("messages");
  private readonly scroller = byId("messages-scroll");
  private readonly loadEarlierBtn = byId<HTMLButtonElement>("load-earlier");
  private readonly empty = byId("chat-empty");
  private readonly jump = byId<HTMLButtonElement>("jump-latest");
  private readonly statusLine = byId("chat-status");
  private readonly statusText = byId("chat-status-text");
  private readonly offline = byId("offline-banner");
  private readonly offlineText = byId("offline-text");
  private readonly form = byId<HTMLFormElement>("composer");
  private readonly input = byId<HTMLTextAreaElement>("message-input");
  private readonly sendBtn = byId<HTMLButtonElement>("send-button");
  private readonly attachBtn = byId<HTMLButtonElement>("attach-button");
  private readonly attachInput = byId<HTMLInputElement>("attach-input");
  private readonly tray = byId<HTMLUListElement>("attachment-tray");
  private readonly dropOverlay = byId("drop-overlay");
  private readonly cancelBtn = byId<HTMLButtonElement>("cancel-button");
  private readonly conn = byId("connection-state");
  private readonly connLabel = byId("connection-label");
  private readonly notice = byId("chat-notice");
  private readonly noticeText = byId("chat-notice-text");

  private nodes = new Map<string, MessageNode>();
  private frame = 0;
  private connected = false;
  private historyLoaded = false;
  private keepScrollOnPrepend = false;
  private countdown: number | undefined;
  private inputHadFocus = false;

  constructor(private readonly opts: ChatViewOptions) {
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
    this.input.addEventListener("keydown", (e) => {
      // Enter sends, Shift+Enter is a new line; never while an IME is composing.
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing && !e.altKey && !e.ctrlKey && !e.metaKey) {
        e.preventDefault();
        this.submit();
      }
    });
    this.input.addEventListener("input", () => this.autosize());
    this.wireAttachments();
    this.input.addEventListener("focus", () => (this.inputHadFocus = true));
    this.input.addEventListener("blur", () => {
      if (!this.input.disabled) this.inputHadFocus = false;
    });
    this.cancelBtn.addEventListener("click", () => opts.onCancel());
    this.loadEarlierBtn.addEventListener("click", () => {
      this.keepScrollOnPrepend = true;
      opts.onLoadEarlier();
      this.scheduleRender();
    });
    this.jump.addEventListener("click", () => this.scrollToBottom(true));
    this.scroller.addEventListener("scroll", () => {
      if (this.isNearBottom()) this.jump.hidden = true;
    }, { passive: true });
    byId("offline-retry").addEventListener("click", () => opts.onRetryConnection());
    byId("chat-notice-close").addEventListener("click", () => (this.notice.hidden = true));

    // Copy buttons inside rendered code blocks (the Markdown renderer only writes the button).
    this.list.addEventListener("click", (e) => {
      const btn = (e.target as Element).closest<HTMLButtonElement>(".copy-code");
      const code = btn?.closest(".code-block")?.querySelector("code");
      if (!btn || !code) return;
      void navigator.clipboard?.writeText(code.textContent ?? "").then(
        () => {
          btn.textContent = "Copied";
          window.setTimeout(() => (btn.textContent = "Copy"), 1500);
        },
        () => (btn.textContent = "Copy failed"),
      );
    });

    const chips = byId("chat-suggestions");
    for (const s of SUGGESTIONS) {
      const chip = h("button", { type: "button", class: "chip" }, s);
      chip.addEventListener("click", () => {
        if (this.input.disabled) return;
        this.input.value = s;
        this.autosize();
        this.input.focus();
      });
      chips.append(chip);
    }
    this.setConnection({ state: "connecting", attempt: 0 });
  }

  /** Re-renders what changed in the store, once per animation frame at most. */
  scheduleRender(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  /** The first history page arrived: stop showing "loading". */
  markHistoryLoaded(): void {
    this.historyLoaded = true;
    this.scheduleRender();
  }

  /** Shows an error that is not about one message (e.g. an `error` frame without id). */
  showNotice(message: string): void {
    this.noticeText.textContent = message;
    this.notice.hidden = false;
  }

  hideNotice(): void {
    this.notice.hidden = true;
  }

  focusInput(): void {
    if (!this.input.disabled) this.input.focus();
  }

  reset(): void {
    for (const n of this.nodes.values()) n.li.remove();
    this.nodes.clear();
    this.historyLoaded = false;
    this.input.value = "";
    this.autosize();
    this.notice.hidden = true;
    this.scheduleRender();
  }

  setConnection(info: ConnectionInfo): void {
    this.connected = info.state === "connected";
    this.conn.dataset.state = info.state;
    this.connLabel.textContent =
      info.state === "connected" ? "Connected" : info.state === "connecting" ? "Connecting…" : "Offline";

    // Keep what was typed: a disabled textarea keeps its value.
    this.input.disabled = !this.connected;
    this.sendBtn.disabled = !this.connected;
    this.attachBtn.disabled = !this.connected;
    this.input.placeholder = this.connected ? "Message your companion…" : "Waiting for the connection…";
    if (this.connected && this.inputHadFocus) this.input.focus();

    window.clearInterval(this.countdown);
    if (info.state === "offline" && info.retryAt) {
      const tick = (): void => {
        const s = Math.max(0, Math.ceil(((info.retryAt ?? 0) - Date.now()) / 1000));
        this.offlineText.textContent = s > 0 ? `You're offline. Reconnecting in ${s} s…` : "Reconnecting…";
      };
      tick();
      this.countdown = window.setInterval(tick, 1000);
      this.offline.hidden = false;
    } else {
      this.offline.hidden = true;
    }
    this.scheduleRender();
  }

  private submit(): void {
    const text = this.input.value.trim();
    const { attachments } = this.opts;
    if (!this.connected) return;
    if (attachments.busy()) {
      this.showNotice("Your images are still uploading; the message goes out once they are there.");
      return;
    }
    const images = attachments.ready();
    if (!text && images.length === 0) return;
    if (this.opts.onSend(text, images)) {
      this.input.value = "";
      attachments.clear();
      this.autosize();
      this.scrollToBottom(false);
    }
  }

  /** The paperclip, paste and drag-and-drop all add to the same tray. */
  private wireAttachments(): void {
    const add = (files: Iterable<File>): void => {
      if (!this.connected) return;
      const refused = this.opts.attachments.add(files);
      if (refused) this.showNotice(refused);
    };
    this.attachBtn.addEventListener("click", () => this.attachInput.click());
    this.attachInput.addEventListener("change", () => {
      add(this.attachInput.files ?? []);
      this.attachInput.value = "";
    });
    this.input.addEventListener("paste", (e) => {
      const files = [...(e.clipboardData?.files ?? [])].filter((f) => f.type.startsWith("image/"));
      if (files.length === 0) return;
      e.preventDefault();
      add(files);
    });
    const chat = byId("chat");
    let depth = 0;
    const hasFiles = (e: DragEvent): boolean => [...(e.dataTransfer?.types ?? [])].includes("Files");
    chat.addEventListener("dragenter", (e) => {
      if (!hasFiles(e)) return;
      depth++;
      this.dropOverlay.hidden = !this.connected;
    });
    chat.addEventListener("dragleave", () => {
      depth = Math.max(0, depth - 1);
      if (depth === 0) this.dropOverlay.hidden = true;
    });
    chat.addEventListener("dragover", (e) => {
      if (hasFiles(e)) e.preventDefault();
    });
    chat.addEventListener("drop", (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth = 0;
      this.dropOverlay.hidden = true;
      add(e.dataTransfer?.files ?? []);
      this.input.focus();
    });
  }

  /** The tray of images waiting to be sent: thumbnail, upload state, a remove button. */
  renderAttachments(): void {
    const items = this.opts.attachments.list();
    this.tray.hidden = items.length === 0;
    this.tray.replaceChildren(
      ...items.map((a) => {
        const remove = h("button", { type: "button", class: "attachment-remove", "aria-label": `Remove ${a.name}`, title: "Remove" }, icon("close"));
        remove.addEventListener("click", () => this.opts.attachments.remove(a.key));
        const status =
          a.state === "uploading" ? h("span", { class: "attachment-state" }, h("span", { class: "spinner spinner--tiny", "aria-hidden": "true" }), "Uploading…")
          : a.state === "failed" ? h("span", { class: "attachment-state attachment-state--error", role: "alert" }, a.error ?? "Upload failed")
          : null;
        return h(
          "li",
          { class: `attachment attachment--${a.state}`, "data-testid": "attachment", "data-state": a.state },
          h("img", { src: a.preview, alt: a.name, class: "attachment-thumb" }),
          status,
          remove,
        );
      }),
    );
  }

  private autosize(): void {
    // CSSOM writes are allowed under the CSP (only style attributes in markup are not).
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight, 240)}px`;
  }

  private isNearBottom(): boolean {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
  }

  private scrollToBottom(smooth: boolean): void {
    this.scroller.scrollTo({ top: this.scroller.scrollHeight, behavior: smooth ? "smooth" : "auto" });
    this.jump.hidden = true;
  }

  private render(): void {
    const { store } = this.opts;
    const changes = store.takeChanges();
    const stick = this.isNearBottom();
    const prevHeight = this.scroller.scrollHeight;
    const prevTop = this.scroller.scrollTop;
    const ordered = store.ordered();

    if (changes.order) {
      // Reconcile the list with the store's order, reusing nodes and moving only what moved.
      const wanted = new Set(ordered.map((m) => m.key));
      for (const [key, node] of this.nodes) {
        if (!wanted.has(key)) {
          node.li.remove();
          this.nodes.delete(key);
        }
      }
      let cursor = this.list.firstElementChild;
      for (const m of ordered) {
        let node = this.nodes.get(m.key);
        if (!node) {
          node = this.createNode(m);
          this.nodes.set(m.key, node);
          changes.keys.add(m.key);
        }
        if (node.li !== cursor) this.list.insertBefore(node.li, cursor);
        else cursor = cursor.nextElementSibling;
      }
    }
    for (const key of changes.keys) {
      const m = store.get(key);
      const node = this.nodes.get(key);
      if (m && node) this.updateNode(node, m);
    }

    // Chrome around the list.
    this.empty.hidden = ordered.length > 0;
    this.empty.dataset.loading = String(!this.historyLoaded);
    this.loadEarlierBtn.hidden = !store.hasMore;
    this.loadEarlierBtn.disabled = store.loadingOlder || !this.connected;
    this.loadEarlierBtn.textContent = store.loadingOlder ? "Loading…" : "Load earlier messages";

    const streaming = store.streaming();
    this.cancelBtn.hidden = streaming.length === 0 || !this.connected;
    // The reply being written, not one of the messages waiting behind it.
    const current = streaming.filter((m) => m.activity?.status !== "queued").at(-1) ?? streaming.at(-1);
    const label = current ? activityLabel(current) : "";
    if (this.statusText.textContent !== label) this.statusText.textContent = label;
    this.statusLine.hidden = !label;

    // Scrolling: keep the reader's place when older messages are prepended, follow the stream
    // when they are at the bottom, otherwise offer a "latest" button.
    if (this.keepScrollOnPrepend && changes.order && !store.loadingOlder) {
      this.scroller.scrollTop = prevTop + (this.scroller.scrollHeight - prevHeight);
      this.keepScrollOnPrepend = false;
    } else if (stick) {
      this.scroller.scrollTop = this.scroller.scrollHeight;
    } else if (changes.keys.size > 0 && this.scroller.scrollHeight > prevHeight) {
      this.jump.hidden = false;
    }
  }

  private createNode(m: ChatMessage): MessageNode {
    const who = h("span", { class: "sr-only" }, m.role === "user" ? "You said: " : "Companion: ");
    const text = h("div", {
      class: m.role === "assistant" ? "msg-text markdown" : "msg-text",
      "data-testid": "message-text",
    });
    const images = h("div", { class: "msg-images" });
    const activity = h("p", { class: "msg-activity" });
    const error = h("p", { class: "msg-error", hidden: true });
    const meta = h("div", { class: "msg-meta" });
    const bubble = h("div", { class: "msg-bubble" }, who, text, images, activity, error);
    const li = h("li", {
      class: `msg msg--${m.role}`,
      "data-testid": "message",
      "data-role": m.role,
      "data-key": m.key,
    }, bubble, meta);
    return { li, text, images, activity, error, meta, renderedText: null };
  }

  private updateNode(n: MessageNode, m: ChatMessage): void {
    n.li.dataset.state = m.state;
    if (m.serverId) n.li.dataset.messageId = m.serverId;
    const streaming = m.state === "streaming";
    // While a reply streams, assistive tech waits for it to finish instead of reading every piece.
    if (streaming) n.li.setAttribute("aria-busy", "true");
    else n.li.removeAttribute("aria-busy");

    if (n.renderedText !== m.text) {
      if (m.role === "assistant") n.text.innerHTML = renderMarkdown(m.text); // safe: see markdown.ts
      else n.text.textContent = m.text;
      n.renderedText = m.text;
    }
    n.text.hidden = m.text === "";

    // Typing dots until the first text arrives; the activity label under the text afterwards.
    const showDots = streaming && m.text === "" && m.images.length === 0;
    n.activity.replaceChildren();
    if (streaming && m.activity?.status === "queued") {
      n.activity.append(h("span", { class: "msg-queued" }, activityLabel(m)));
    } else if (showDots) {
      n.activity.append(h("span", { class: "typing", "aria-hidden": "true" }, h("span"), h("span"), h("span")));
      n.activity.append(h("span", { class: "sr-only" }, activityLabel(m)));
    } else if (streaming && m.activity) {
      n.activity.append(h("span", { class: "spinner spinner--tiny", "aria-hidden": "true" }), activityLabel(m));
    }
    n.activity.hidden = n.activity.childNodes.length === 0;

    for (const img of m.images) {
      const exists = [...n.images.children].some((c) => (c as HTMLElement).dataset.url === img.url);
      if (!exists) n.images.append(this.opts.images.render(img, { caption: m.role === "assistant" }));
    }
    n.images.hidden = m.images.length === 0;

    if (m.state === "error" && m.error) {
      n.error.replaceChildren(icon("close", "icon icon--small"), h("span", null, errorText(m.error.code, m.error.message)));
      n.error.hidden = false;
    } else {
      n.error.hidden = true;
    }

    n.meta.replaceChildren(...metaParts(m));
  }
}

function activityLabel(m: ChatMessage): string {
  const a = m.activity;
  if (!a) return m.text ? "Writing…" : "Thinking…";
  if (a.status === "tool") return a.detail ? `Using a tool: ${a.detail}…` : "Using a tool…";
  return ACTIVITY_LABELS[a.status] ?? (a.detail || "Working…");
}

/**
 * Error text for a message. A budget error says when the budget resets: an ISO time in the
 * server's message is shown in the reader's own time zone; without one, midnight UTC is said.
 */
export function errorText(code: string, message: string): string {
  if (code !== "budget_exceeded") return message;
  const iso = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?Z/;
  const match = iso.exec(message);
  if (match) return message.replace(match[0], formatDateTime(match[0]));
  return /reset/i.test(message) ? message : `${message} Your daily budget resets at midnight UTC.`;
}

function metaParts(m: ChatMessage): Node[] {
  const parts: Node[] = [];
  const at = toMs(m.at) ?? m.shownAt;
  if (at !== undefined) parts.push(h("time", { datetime: new Date(at).toISOString(), title: formatDateTime(at) }, formatClock(at)));
  if (m.role === "user") {
    if (m.state === "sending") parts.push(h("span", { class: "msg-flag" }, "Sending…"));
    if (m.state === "failed") parts.push(h("span", { class: "msg-flag msg-flag--bad" }, "Not answered"));
  } else {
    if (m.via) parts.push(h("span", null, m.via === "container" ? "via your container" : "via Claude"));
    const u = m.usage;
    if (u && (u.inputTokens !== undefined || u.outputTokens !== undefined)) {
      const tokens = (u.inputTokens ?? 0) + (u.outputTokens ?? 0) + (u.cacheReadTokens ?? 0) + (u.cacheWriteTokens ?? 0);
      const title = `in ${formatTokens(u.inputTokens)} · out ${formatTokens(u.outputTokens)} · cache read ${formatTokens(u.cacheReadTokens)} · cache write ${formatTokens(u.cacheWriteTokens)}`;
      parts.push(h("span", { title }, `${formatTokens(tokens)} tokens${u.costUsd !== undefined ? ` · ${formatUsd(u.costUsd)}` : ""}`));
    }
    if (m.state === "cancelled") parts.push(h("span", { class: "msg-flag" }, "Stopped"));
  }
  // Dots between the parts.
  return parts.flatMap((p, i) => (i === 0 ? [p] : [h("span", { class: "dot", "aria-hidden": "true" }, "·"), p]));
}
