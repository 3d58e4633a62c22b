/**
 * The conversation as the page knows it: a pure model (no DOM) fed by the WebSocket frames of
 * API.md, so that it can be unit-tested and so that "never show a message twice" has one home.
 *
 * Identity rules:
 * - a user message is keyed by its client id:                         `u:<id>`
 * - a reply is keyed by the id of the message it answers:             `r:<id>`
 *   (`status`, `delta`, `image`, `done` and `hello.pending` all carry that id); `done.messageId`
 *   becomes an alias, so the same reply coming back from `history` under its stored id lands on
 *   the same entry;
 * - a history reply whose stored id is not known yet is matched to the user message just before
 *   it in the history (or `replyTo` when the server sends one); only a reply with neither gets
 *   its own key `m:<id>`.
 *
 * Ordering: by server time (`at`); a reply sorts right after the message it answers; messages the
 * server has not acknowledged yet go last, in the order they were made.
 */
import { toMs } from "./format.ts";
import type { HistoryMessage, ImageRef, ServerFrame, Usage } from "./types.ts";

export type MessageState =
  | "sending" // user message not yet acknowledged by the server
  | "sent" // user message the server has
  | "failed" // user message the server refused (error frame for its id)
  | "streaming" // reply in progress (possibly no text yet)
  | "done"
  | "cancelled"
  | "error";

export interface ChatMessage {
  key: string;
  role: "user" | "assistant";
  text: string;
  state: MessageState;
  /** Server time, epoch ms. */
  at?: number;
  /** For display only: when this tab saw a live reply finish (live replies carry no `at`). */
  shownAt?: number;
  /** Local creation order; older history pages get lower (negative) numbers. */
  seq: number;
  /** user: its own id; reply: the id of the message it answers, when known. */
  clientId?: string;
  /** The id the server stores the message under (history `id`, `done.messageId`). */
  serverId?: string;
  via?: string;
  usage?: Usage;
  images: ImageRef[];
  /** user, not yet acknowledged: the uploaded image ids, sent again with the text on a reconnect. */
  imageIds?: string[];
  /** What a streaming reply is doing right now (thinking, waking the container, a tool). */
  activity?: { status: string; detail?: string };
  error?: { code: string; message: string };
  cancelRequested?: boolean;
}

export type HistoryKind = "latest" | "older";

export interface StoreChanges {
  /** Keys whose content changed. */
  keys: Set<string>;
  /** Whether messages were added, removed or moved. */
  order: boolean;
}

/** A random client id for a chat frame (1-64 chars). */
export function newMessageId(): string {
  if (typeof crypto !== "undefined" && "randomUUID" in crypto) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`;
}

const userKey = (id: string): string => `u:${id}`;
const replyKey = (id: string): string => `r:${id}`;

function normaliseImages(images: HistoryMessage["images"]): ImageRef[] {
  if (!Array.isArray(images)) return [];
  const out: ImageRef[] = [];
  for (const img of images) {
    if (typeof img === "string") out.push({ url: img, alt: "Generated image" });
    else if (img && typeof img.url === "string") out.push({ url: img.url, alt: typeof img.alt === "string" ? img.alt : "Generated image" });
  }
  return out;
}

/** How a stored reply ended (the Worker's `status` of a history message), as display state. */
function storedEnd(status: string | undefined): Pick<ChatMessage, "error"> & { state?: MessageState } {
  if (status === "cancelled") return { state: "cancelled" };
  if (status === "interrupted" || status === "error") {
    return { state: "error", error: { code: status, message: "This reply did not finish; what arrived is shown." } };
  }
  return {};
}

export class ChatStore {
  private byKey = new Map<string, ChatMessage>();
  /** Stored message id → key of the entry showing it. */
  private alias = new Map<string, string>();
  private nextSeq = 1;
  private minSeq = 0;
  /** Reply ids in progress on the current connection (hello.pending + what started since). */
  private live = new Set<string>();
  /** History requests sent and not yet answered, in order (the socket answers in order). */
  private historyQueue: HistoryKind[] = [];
  private changes: StoreChanges = { keys: new Set(), order: false };
  private loadedOnce = false;

  /** Whether older messages exist before the oldest one loaded. */
  hasMore = false;
  /** The id to pass as `before` to load the page before the oldest one loaded. */
  oldestId: string | undefined;

  get size(): number {
    return this.byKey.size;
  }

  get(key: string): ChatMessage | undefined {
    return this.byKey.get(key);
  }

  /** Messages in display order. */
  ordered(): ChatMessage[] {
    const list = [...this.byKey.values()];
    const time = (m: ChatMessage): number => {
      if (m.role === "assistant" && m.clientId) {
        const u = this.byKey.get(userKey(m.clientId));
        if (u) return u.at !== undefined ? u.at + 0.5 : Infinity;
      }
      return m.at ?? Infinity;
    };
    const t = new Map(list.map((m) => [m.key, time(m)]));
    return list.sort((a, b) => {
      const ta = t.get(a.key)!;
      const tb = t.get(b.key)!;
      if (ta !== tb) return ta < tb ? -1 : 1;
      return a.seq - b.seq;
    });
  }

  /** What changed since the last call (for the view's batched re-render). */
  takeChanges(): StoreChanges {
    const c = this.changes;
    this.changes = { keys: new Set(), order: false };
    return c;
  }

  /** Replies still streaming. */
  streaming(): ChatMessage[] {
    return [...this.byKey.values()].filter((m) => m.role === "assistant" && m.state === "streaming");
  }

  /** User messages the server never acknowledged (to send again after a reconnect). */
  unacknowledged(): ChatMessage[] {
    return this.ordered().filter((m) => m.role === "user" && m.state === "sending");
  }

  clear(): void {
    this.byKey.clear();
    this.alias.clear();
    this.live.clear();
    this.historyQueue = [];
    this.hasMore = false;
    this.oldestId = undefined;
    this.loadedOnce = false;
    this.changes = { keys: new Set(), order: true };
  }

  /** A message this tab is sending, plus the empty reply that shows "typing" until text arrives. */
  addOutgoing(id: string, text: string, attachments: { id: string; url: string; alt: string }[] = []): void {
    const images = attachments.map(({ url, alt }) => ({ url, alt }));
    this.upsert(userKey(id), { role: "user", text, state: "sending", clientId: id, images, imageIds: attachments.map((a) => a.id) });
    this.upsert(replyKey(id), { role: "assistant", text: "", state: "streaming", clientId: id });
    this.live.add(id);
  }

  /** Sending failed before it reached the socket: forget it (the text goes back to the input). */
  removeOutgoing(id: string): void {
    this.remove(userKey(id));
    this.remove(replyKey(id));
    this.live.delete(id);
  }

  markCancelRequested(replyTo: string): void {
    const r = this.byKey.get(replyKey(replyTo));
    if (r && r.state === "streaming") this.patch(r, { cancelRequested: true });
  }

  /** Records that a history request went out (answers are matched to requests in order). */
  noteHistoryRequest(kind: HistoryKind): void {
    this.historyQueue.push(kind);
  }

  /** What the next `history` frame will answer: the latest page or an older one. */
  peekHistoryKind(): HistoryKind {
    return this.historyQueue[0] ?? "latest";
  }

  /** Whether an "older" page request is still unanswered. */
  get loadingOlder(): boolean {
    return this.historyQueue.includes("older");
  }

  apply(frame: ServerFrame): void {
    switch (frame.type) {
      case "hello": {
        // A new connection: earlier unanswered requests died with the old one.
        this.historyQueue = [];
        this.live = new Set();
        for (const p of frame.pending ?? []) {
          this.live.add(p.id);
          // The text so far replaces whatever part of it this tab saw before the reconnect.
          this.upsertReply(p.id, { text: p.text, state: "streaming", ...(p.status === "queued" ? { activity: { status: "queued" } } : {}) });
          this.acknowledge(p.id);
        }
        break;
      }
      case "user":
        this.upsert(userKey(frame.id), {
          role: "user",
          text: frame.text,
          state: "sent",
          clientId: frame.id,
          serverId: frame.id,
          at: toMs(frame.at),
          ...(frame.images ? { images: normaliseImages(frame.images) } : {}),
        });
        break;
      case "status": {
        this.live.add(frame.id);
        this.upsertReply(frame.id, { activity: { status: frame.status, detail: frame.detail }, ...this.restartIfDone(frame.id) });
        this.acknowledge(frame.id);
        break;
      }
      case "delta": {
        this.live.add(frame.id);
        const restart = this.restartIfDone(frame.id);
        const prev = restart.text !== undefined ? "" : (this.byKey.get(replyKey(frame.id))?.text ?? "");
        this.upsertReply(frame.id, { ...restart, text: prev + frame.text, activity: undefined });
        this.acknowledge(frame.id);
        break;
      }
      case "image": {
        const r = this.byKey.get(replyKey(frame.id));
        const images = r?.images ?? [];
        if (!images.some((i) => i.url === frame.url)) {
          this.upsertReply(frame.id, { images: [...images, { url: frame.url, alt: frame.alt || "Generated image" }] });
        }
        break;
      }
      case "done": {
        this.live.delete(frame.id);
        const r = this.byKey.get(replyKey(frame.id));
        this.upsertReply(frame.id, {
          state: r?.cancelRequested || frame.status === "cancelled" ? "cancelled" : "done",
          serverId: frame.messageId,
          via: frame.via,
          usage: frame.usage,
          activity: undefined,
          shownAt: Date.now(),
        });
        if (frame.messageId) this.alias.set(frame.messageId, replyKey(frame.id));
        this.acknowledge(frame.id);
        break;
      }
      case "error": {
        if (!frame.id) break; // not about one message: the app shows it as a notice
        this.live.delete(frame.id);
        const r = this.byKey.get(replyKey(frame.id));
        const u = this.byKey.get(userKey(frame.id));
        if (frame.code === "cancelled" || r?.cancelRequested) {
          this.upsertReply(frame.id, { state: "cancelled", activity: undefined });
        } else {
          this.upsertReply(frame.id, { state: "error", error: { code: frame.code, message: frame.message }, activity: undefined });
        }
        if (frame.messageId) {
          this.alias.set(frame.messageId, replyKey(frame.id));
          this.patch(this.byKey.get(replyKey(frame.id))!, { serverId: frame.messageId });
        }
        // Refused before it was stored: don't send it again on reconnect.
        if (u && u.state === "sending") this.patch(u, { state: "failed" });
        break;
      }
      case "history":
        this.applyHistory(frame.messages, frame.hasMore === true, this.historyQueue.shift() ?? "latest");
        break;
      default:
        break;
    }
  }

  /** Merges a page of history (oldest first) without duplicating anything already shown. */
  applyHistory(messages: HistoryMessage[], hasMore: boolean, kind: HistoryKind): void {
    const known = messages.some((m) => this.byKey.has(userKey(m.id)) || this.alias.has(m.id) || this.byKey.has(`m:${m.id}`));
    if (kind === "latest" && this.loadedOnce && hasMore && messages.length > 0 && !known) {
      // More happened while this tab was away than one page holds: start over from this page
      // rather than show a silent gap. Local messages not yet stored are kept.
      const keep = (m: ChatMessage): boolean =>
        m.state === "sending" ||
        (m.state === "streaming" && !!m.clientId && (this.live.has(m.clientId) || this.byKey.get(userKey(m.clientId))?.state === "sending"));
      for (const m of [...this.byKey.values()]) if (!keep(m)) this.remove(m.key);
      this.alias.clear();
      this.oldestId = undefined;
    }

    // Older pages are numbered below everything seen so far, so order holds even without `at`.
    let seq = kind === "older" ? this.minSeq - messages.length : 0;
    if (kind === "older") this.minSeq = seq;
    const seqFor = (): number | undefined => (kind === "older" ? seq++ : undefined);

    let prevUserId: string | undefined;
    for (const m of messages) {
      const text = typeof m.text === "string" ? m.text : "";
      const at = toMs(m.at);
      if (m.role === "user") {
        this.upsert(userKey(m.id), { role: "user", text, state: "sent", clientId: m.id, serverId: m.id, at, images: normaliseImages(m.images) }, seqFor());
        prevUserId = m.id;
        continue;
      }
      const answers = typeof m.replyTo === "string" ? m.replyTo : prevUserId;
      const key = this.alias.get(m.id) ?? (answers !== undefined ? replyKey(answers) : `m:${m.id}`);
      this.alias.set(m.id, key);
      const existing = this.byKey.get(key);
      const clientId = key.startsWith("r:") ? key.slice(2) : undefined;
      if (existing && existing.state === "streaming" && clientId && this.live.has(clientId)) {
        // Still streaming on this connection: deltas continue from hello.pending's text.
        this.patch(existing, { serverId: m.id });
      } else {
        const images = normaliseImages(m.images);
        const ended = storedEnd(m.status);
        this.upsert(
          key,
          {
            role: "assistant",
            text,
            state: ended.state ?? (existing?.state === "cancelled" || existing?.state === "error" ? existing.state : "done"),
            error: ended.error ?? existing?.error,
            clientId,
            serverId: m.id,
            at,
            via: m.via ?? existing?.via,
            images: images.length ? images : (existing?.images ?? []),
            activity: undefined,
          },
          seqFor(),
        );
      }
      prevUserId = undefined;
    }

    if (kind === "older" || this.oldestId === undefined) {
      this.hasMore = hasMore;
      if (messages[0]) this.oldestId = messages[0].id;
    }

    if (kind === "latest") {
      // Replies that were streaming when the connection dropped, are not in progress any more and
      // did not come back in the history either: they ended while we were away. Keep any text.
      for (const m of [...this.byKey.values()]) {
        if (m.role !== "assistant" || m.state !== "streaming" || !m.clientId || this.live.has(m.clientId)) continue;
        const u = this.byKey.get(userKey(m.clientId));
        if (u && u.state === "sending") continue; // about to be sent again
        if (!m.text && m.images.length === 0) this.remove(m.key);
        else this.patch(m, { state: "done", activity: undefined });
      }
    }
    this.loadedOnce = true;
    this.changes.order = true;
  }

  // ---- internals ----

  /** The server has seen the user message `id` (a reply to it exists). */
  private acknowledge(id: string): void {
    const u = this.byKey.get(userKey(id));
    if (u && (u.state === "sending" || u.state === "failed")) this.patch(u, { state: "sent" });
  }

  /** A reply that shows activity after `done` is being sent again (a repeated id): start it over. */
  private restartIfDone(id: string): Partial<ChatMessage> {
    const r = this.byKey.get(replyKey(id));
    return r && r.state !== "streaming" ? { text: "", state: "streaming", error: undefined, images: [] } : { state: "streaming" };
  }

  private upsertReply(id: string, fields: Partial<ChatMessage>): void {
    this.upsert(replyKey(id), { role: "assistant", clientId: id, ...fields });
  }

  private upsert(key: string, fields: Partial<ChatMessage>, seq?: number): void {
    const existing = this.byKey.get(key);
    if (existing) {
      this.patch(existing, fields);
      return;
    }
    const m: ChatMessage = {
      role: "assistant",
      text: "",
      state: "done",
      images: [],
      ...fields,
      key,
      seq: seq ?? this.nextSeq++,
    };
    this.byKey.set(key, m);
    this.changes.keys.add(key);
    this.changes.order = true;
  }

  private patch(m: ChatMessage, fields: Partial<ChatMessage>): void {
    for (const [k, v] of Object.entries(fields) as [keyof ChatMessage, unknown][]) {
      if (v === undefined && !(k === "activity" || k === "error")) continue; // absent, not cleared
      if (k === "at" && v !== m.at) this.changes.order = true;
      (m as unknown as Record<string, unknown>)[k] = v;
    }
    this.changes.keys.add(m.key);
  }

  private remove(key: string): void {
    if (this.byKey.delete(key)) {
      this.changes.keys.add(key);
      this.changes.order = true;
    }
  }
}
