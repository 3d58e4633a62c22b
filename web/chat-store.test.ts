import { describe, expect, it } from "vitest";
import { ChatStore } from "./chat-store.ts";
import { backoffDelay } from "./chat-socket.ts";
import { errorText } from "./chat-view.ts";
import type { HistoryMessage, ServerFrame } from "./types.ts";

const T0 = Date.parse("2026-05-01T10:00:00Z");
const iso = (s: number): string => new Date(T0 + s * 1000).toISOString();

function feed(store: ChatStore, ...frames: ServerFrame[]): void {
  for (const f of frames) store.apply(f);
}
function texts(store: ChatStore): string[] {
  return store.ordered().map((m) => `${m.role}:${m.text}`);
}
function history(store: ChatStore, messages: HistoryMessage[], hasMore = false, kind: "latest" | "older" = "latest"): void {
  store.noteHistoryRequest(kind);
  store.apply({ type: "history", messages, hasMore });
}

describe("ChatStore", () => {
  it("marks a message waiting behind the reply in progress as queued, also after a reconnect, until it starts", () => {
    const s = new ChatStore();
    feed(s, { type: "hello", pending: [] });
    history(s, []);
    s.addOutgoing("q1", "one");
    s.addOutgoing("q2", "two");
    feed(
      s,
      { type: "user", id: "q1", text: "one", at: iso(1) },
      { type: "status", id: "q1", status: "thinking" },
      { type: "user", id: "q2", text: "two", at: iso(1) },
      { type: "status", id: "q2", status: "queued" },
    );
    const reply = (id: string) => s.ordered().find((m) => m.role === "assistant" && m.clientId === id);
    expect(reply("q2")?.activity?.status).toBe("queued");
    // A new connection learns the same from hello.pending.
    feed(s, { type: "hello", pending: [{ id: "q1", text: "O" }, { id: "q2", text: "", status: "queued" }] });
    expect(reply("q2")?.activity?.status).toBe("queued");
    feed(s, { type: "done", id: "q1", messageId: "m1", via: "bedrock" }, { type: "status", id: "q2", status: "thinking" });
    expect(reply("q2")?.activity?.status).toBe("thinking");
  });

  it("shows a sent message and its streamed reply once, also after history repeats them", () => {
    const s = new ChatStore();
    feed(s, { type: "hello", pending: [] });
    history(s, []);
    s.addOutgoing("c1", "hi");
    expect(texts(s)).toEqual(["user:hi", "assistant:"]);
    feed(
      s,
      { type: "user", id: "c1", text: "hi", at: iso(1) },
      { type: "status", id: "c1", status: "thinking" },
      { type: "delta", id: "c1", text: "Hel" },
      { type: "delta", id: "c1", text: "lo!" },
      { type: "done", id: "c1", messageId: "m9", via: "bedrock" },
    );
    expect(texts(s)).toEqual(["user:hi", "assistant:Hello!"]);
    history(s, [
      { id: "c1", role: "user", text: "hi", at: iso(1) },
      { id: "m9", role: "assistant", text: "Hello!", at: iso(3) },
    ]);
    expect(texts(s)).toEqual(["user:hi", "assistant:Hello!"]);
    expect(s.get("r:c1")?.state).toBe("done");
    expect(s.get("r:c1")?.via).toBe("bedrock");
  });

  it("resumes a reply after a reconnect from hello.pending without repeating text", () => {
    const s = new ChatStore();
    s.addOutgoing("c1", "tell me");
    feed(s, { type: "user", id: "c1", text: "tell me", at: iso(1) }, { type: "delta", id: "c1", text: "Once up" });
    // Connection drops; the reply kept going on the server.
    feed(s, { type: "hello", pending: [{ id: "c1", text: "Once upon a ti" }] });
    history(s, [{ id: "c1", role: "user", text: "tell me", at: iso(1) }]);
    feed(s, { type: "delta", id: "c1", text: "me." }, { type: "done", id: "c1", messageId: "m2" });
    expect(texts(s)).toEqual(["user:tell me", "assistant:Once upon a time."]);
  });

  it("fills in a reply that finished while offline from history, matched to its question", () => {
    const s = new ChatStore();
    s.addOutgoing("c1", "q");
    feed(s, { type: "user", id: "c1", text: "q", at: iso(1) }, { type: "delta", id: "c1", text: "partial" });
    feed(s, { type: "hello", pending: [] });
    history(s, [
      { id: "c1", role: "user", text: "q", at: iso(1) },
      { id: "m5", role: "assistant", text: "partial and complete", at: iso(4) },
    ]);
    expect(texts(s)).toEqual(["user:q", "assistant:partial and complete"]);
    expect(s.get("r:c1")?.state).toBe("done");
  });

  it("lists a message the server never received for resending, and not once acknowledged", () => {
    const s = new ChatStore();
    s.addOutgoing("c1", "lost?");
    feed(s, { type: "hello", pending: [] });
    history(s, []);
    expect(s.unacknowledged().map((m) => m.clientId)).toEqual(["c1"]);
    expect(s.get("r:c1")?.state).toBe("streaming"); // its typing placeholder stays
    feed(s, { type: "user", id: "c1", text: "lost?", at: iso(2) });
    expect(s.unacknowledged()).toEqual([]);
  });

  it("prepends older pages in order and tracks where to continue", () => {
    const s = new ChatStore();
    history(s, [
      { id: "u3", role: "user", text: "3", at: iso(30) },
      { id: "a3", role: "assistant", text: "r3", at: iso(31) },
    ], true);
    expect(s.oldestId).toBe("u3");
    expect(s.hasMore).toBe(true);
    history(s, [
      { id: "u1", role: "user", text: "1", at: iso(10) },
      { id: "a1", role: "assistant", text: "r1", at: iso(11) },
      { id: "u2", role: "user", text: "2", at: iso(20) },
    ], false, "older");
    expect(texts(s)).toEqual(["user:1", "assistant:r1", "user:2", "user:3", "assistant:r3"]);
    expect(s.oldestId).toBe("u1");
    expect(s.hasMore).toBe(false);
  });

  it("orders older pages correctly even when the server sends no timestamps", () => {
    const s = new ChatStore();
    history(s, [{ id: "u2", role: "user", text: "2" }], true);
    history(s, [{ id: "u1", role: "user", text: "1" }], false, "older");
    expect(texts(s)).toEqual(["user:1", "user:2"]);
  });

  it("marks a refused message and its reply, and does not resend it", () => {
    const s = new ChatStore();
    s.addOutgoing("c1", "hello");
    feed(s, { type: "error", id: "c1", code: "budget_exceeded", message: "Daily budget used up." });
    expect(s.get("r:c1")?.state).toBe("error");
    expect(s.get("r:c1")?.error?.code).toBe("budget_exceeded");
    expect(s.get("u:c1")?.state).toBe("failed");
    expect(s.unacknowledged()).toEqual([]);
  });

  it("starts a reply over when a repeated id makes the server send it again", () => {
    const s = new ChatStore();
    s.addOutgoing("c1", "x");
    feed(s, { type: "delta", id: "c1", text: "full reply" }, { type: "done", id: "c1", messageId: "m1" });
    feed(s, { type: "delta", id: "c1", text: "full reply" }, { type: "done", id: "c1", messageId: "m1" });
    expect(texts(s)).toEqual(["user:x", "assistant:full reply"]);
  });

  it("marks a cancelled reply as cancelled and keeps its text", () => {
    const s = new ChatStore();
    s.addOutgoing("c1", "x");
    feed(s, { type: "delta", id: "c1", text: "some" });
    s.markCancelRequested("c1");
    feed(s, { type: "done", id: "c1", messageId: "m1" });
    expect(s.get("r:c1")?.state).toBe("cancelled");
    expect(s.get("r:c1")?.text).toBe("some");
  });

  it("shows another tab's conversation in time order, each reply after its question", () => {
    const s = new ChatStore();
    history(s, [{ id: "u1", role: "user", text: "first", at: iso(1) }, { id: "a1", role: "assistant", text: "r1", at: iso(2) }]);
    feed(
      s,
      { type: "user", id: "t2", text: "from tab 2", at: iso(5) },
      { type: "delta", id: "t2", text: "answer 2" },
      { type: "image", id: "t2", url: "/api/images/i1", alt: "cat" },
      { type: "image", id: "t2", url: "/api/images/i1", alt: "cat" },
    );
    expect(texts(s)).toEqual(["user:first", "assistant:r1", "user:from tab 2", "assistant:answer 2"]);
    expect(s.get("r:t2")?.images).toHaveLength(1);
  });

  it("starts over from the latest page when a reconnect left a gap bigger than a page", () => {
    const s = new ChatStore();
    history(s, [{ id: "u1", role: "user", text: "old", at: iso(1) }], true);
    s.addOutgoing("c9", "unsent");
    feed(s, { type: "hello", pending: [] });
    history(s, [{ id: "u50", role: "user", text: "new", at: iso(500) }], true);
    expect(texts(s)).toEqual(["user:new", "user:unsent", "assistant:"]);
    expect(s.oldestId).toBe("u50");
  });

  it("drops an empty placeholder whose reply ended while offline without being stored", () => {
    const s = new ChatStore();
    s.addOutgoing("c1", "q");
    feed(s, { type: "user", id: "c1", text: "q", at: iso(1) });
    feed(s, { type: "hello", pending: [] });
    history(s, [{ id: "c1", role: "user", text: "q", at: iso(1) }]);
    expect(texts(s)).toEqual(["user:q"]);
  });
});

describe("ChatStore with the Worker's extras", () => {
  it("keys history replies by replyTo and shows how a stored reply ended", () => {
    const s = new ChatStore();
    history(s, [
      { id: "c1", role: "user", text: "a", at: iso(1) },
      { id: "c2", role: "user", text: "b", at: iso(2) },
      { id: "a_1", role: "assistant", text: "for a", at: iso(3), replyTo: "c1", status: "done" },
      { id: "a_2", role: "assistant", text: "half", at: iso(4), replyTo: "c2", status: "interrupted" },
    ]);
    expect(texts(s)).toEqual(["user:a", "assistant:for a", "user:b", "assistant:half"]);
    expect(s.get("r:c2")?.state).toBe("error");
    expect(s.get("r:c2")?.error?.code).toBe("interrupted");
  });

  it("keeps a reply that is still streaming on reload: hello.pending wins over the stored partial", () => {
    const s = new ChatStore();
    feed(s, { type: "hello", pending: [{ id: "c1", text: "Once upon" }] });
    history(s, [
      { id: "c1", role: "user", text: "story", at: iso(1) },
      { id: "a_1", role: "assistant", text: "Once", at: iso(1), replyTo: "c1", status: "streaming" },
    ]);
    feed(s, { type: "delta", id: "c1", text: " a time" }, { type: "done", id: "c1", messageId: "a_1", status: "cancelled" });
    expect(texts(s)).toEqual(["user:story", "assistant:Once upon a time"]);
    expect(s.get("r:c1")?.state).toBe("cancelled");
  });

  it("links an error frame's messageId so the stored reply is not shown twice", () => {
    const s = new ChatStore();
    s.addOutgoing("c1", "q");
    feed(s, { type: "user", id: "c1", text: "q", at: iso(1) }, { type: "delta", id: "c1", text: "part" });
    feed(s, { type: "error", id: "c1", messageId: "a_9", code: "interrupted", message: "cut off" });
    history(s, [
      { id: "c1", role: "user", text: "q", at: iso(1) },
      { id: "a_9", role: "assistant", text: "part", at: iso(2) },
    ]);
    expect(texts(s)).toEqual(["user:q", "assistant:part"]);
  });
});

describe("errorText", () => {
  it("shows a budget reset time in the reader's time zone instead of raw ISO", () => {
    const text = errorText("budget_exceeded", "You have used today's 200,000 tokens. Your budget resets at 2026-11-28T00:00:00.000Z.");
    expect(text).not.toContain("2026-11-28T00:00:00.000Z");
    expect(text).toMatch(/resets at .+\./);
  });
  it("adds when a budget resets if the server did not say", () => {
    expect(errorText("budget_exceeded", "Budget used up.")).toContain("midnight UTC");
  });
});

describe("backoffDelay", () => {
  it("grows exponentially with jitter and is capped at 30 s", () => {
    expect(backoffDelay(1, () => 0)).toBe(500);
    expect(backoffDelay(1, () => 1)).toBe(1000);
    expect(backoffDelay(4, () => 0)).toBe(4000);
    expect(backoffDelay(4, () => 1)).toBe(8000);
    expect(backoffDelay(50, () => 1)).toBe(30_000);
    expect(backoffDelay(50, () => 0)).toBe(15_000);
  });
});
