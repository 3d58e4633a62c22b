import { describe, expect, it } from "vitest";
import { env } from "cloudflare:workers";
import { evictDurableObject } from "cloudflare:test";
import { apiJson, errorCode, newUser } from "./helpers.ts";
import { requests, scenario, script } from "./bedrock-control.ts";
import { connect, type Frame } from "./ws-client.ts";

const isDone = (id: string) => (f: Frame) => (f.type === "done" || f.type === "error") && f.id === id;
const deltasOf = (frames: Frame[], id: string) => frames.filter((f) => f.type === "delta" && f.id === id).map((f) => f.text).join("");

describe("web chat over WebSocket", () => {
  it("greets with hello and streams a reply: user, status, deltas, done", async () => {
    const user = await newUser();
    const { socket } = await connect(user);
    const hello = await socket!.next((f) => f.type === "hello");
    expect(hello).toMatchObject({ userId: user.userId, tier: "free", mode: "direct", fly: { state: "none" }, pending: [] });
    const { key, tag } = scenario();
    await script(key, [{ text: "streamed over the socket", pieces: 4, delayMs: 30 }]);
    socket!.send({ type: "chat", id: "w1", text: `hi ${tag}` });
    const done = await socket!.next(isDone("w1"));
    expect(done).toMatchObject({ type: "done", via: "bedrock" });
    expect(deltasOf(socket!.frames, "w1")).toBe("streamed over the socket");
    const types = socket!.frames.filter((f) => f.id === "w1").map((f) => f.type);
    expect(types[0]).toBe("user");
    expect(types).toContain("status");
    socket!.close();
  });

  it("authenticates browsers with a one-use ticket and refuses a replayed one", async () => {
    const user = await newUser();
    const { status, body } = await apiJson<{ ticket: string; expiresIn: number }>("/api/chat/ticket", { method: "POST", headers: user.auth });
    expect(status).toBe(201);
    expect(body.expiresIn).toBe(60);
    const first = await connect(null, `?ticket=${encodeURIComponent(body.ticket)}`);
    expect(first.status).toBe(101);
    await first.socket!.next((f) => f.type === "hello");
    const replay = await connect(null, `?ticket=${encodeURIComponent(body.ticket)}`);
    expect(replay.status).toBe(401);
    expect(errorCode(await replay.response.json())).toBe("invalid_ticket");
    const forged = await connect(null, `?ticket=${user.userId}.forged`);
    expect(forged.status).toBe(401);
    const none = await connect(null);
    expect(none.status).toBe(401);
    first.socket!.close();
  });

  it("sends a repeated id the stored reply instead of a second model call", async () => {
    const user = await newUser();
    const { socket } = await connect(user);
    const { key, tag } = scenario();
    await script(key, [{ text: "the one reply" }, { text: "A SECOND REPLY" }]);
    socket!.send({ type: "chat", id: "dup", text: `x ${tag}` });
    await socket!.next(isDone("dup"));
    const before = socket!.frames.length;
    socket!.send({ type: "chat", id: "dup", text: `x ${tag}` });
    await socket!.next((f) => f.type === "done" && f.id === "dup" && socket!.frames.indexOf(f) >= before);
    const replay = socket!.frames.slice(before);
    expect(deltasOf(replay, "dup")).toBe("the one reply");
    expect(replay.filter((f) => f.type === "user")).toHaveLength(0);
    expect(await requests(key)).toHaveLength(1);
    socket!.close();
  });

  it("shows one conversation in every tab of the user", async () => {
    const user = await newUser();
    const a = (await connect(user)).socket!;
    const b = (await connect(user)).socket!;
    await b.next((f) => f.type === "hello");
    const { key, tag } = scenario();
    await script(key, [{ text: "both tabs see this", pieces: 3 }]);
    a.send({ type: "chat", id: "tabs", text: `hey ${tag}` });
    await b.next(isDone("tabs"));
    expect(b.frames.find((f) => f.type === "user" && f.id === "tabs")).toBeTruthy();
    expect(deltasOf(b.frames, "tabs")).toBe("both tabs see this");
    a.close();
    b.close();
  });

  it("cancels a reply and keeps what was produced", async () => {
    const user = await newUser();
    const { socket } = await connect(user);
    const { key, tag } = scenario();
    await script(key, [{ text: "a b c d e f g h i j k l m n o p", pieces: 16, delayMs: 150 }]);
    socket!.send({ type: "chat", id: "stop", text: `long ${tag}` });
    await socket!.next((f) => f.type === "delta" && f.id === "stop");
    socket!.send({ type: "cancel", id: "stop" });
    const done = await socket!.next(isDone("stop"));
    expect(done).toMatchObject({ type: "done", status: "cancelled" });
    const partial = deltasOf(socket!.frames, "stop");
    expect(partial.length).toBeGreaterThan(0);
    expect(partial.length).toBeLessThan("a b c d e f g h i j k l m n o p".length);
    const history = await apiJson<{ messages: { text: string; status?: string }[] }>("/api/chat/history", { headers: user.auth });
    expect(history.body.messages.at(-1)).toMatchObject({ text: partial, status: "cancelled" });
    socket!.close();
  });

  it("recovers a reply after a reconnect in the middle of it: hello.pending, then the rest, nothing twice", async () => {
    const user = await newUser();
    const first = (await connect(user)).socket!;
    const { key, tag } = scenario();
    const full = "one two three four five six seven eight";
    await script(key, [{ text: full, pieces: 8, delayMs: 120 }]);
    first.send({ type: "chat", id: "rc", text: `go ${tag}` });
    await first.next((f) => f.type === "delta" && f.id === "rc");
    first.close();
    const second = (await connect(user)).socket!;
    const hello = await second.next((f) => f.type === "hello");
    const pending = (hello.pending as { id: string; text: string }[]).find((p) => p.id === "rc");
    expect(pending).toBeTruthy();
    await second.next(isDone("rc"));
    expect(pending!.text + deltasOf(second.frames, "rc")).toBe(full);
    second.send({ type: "history", limit: 10 });
    const history = await second.next((f) => f.type === "history");
    const replies = (history.messages as { role: string; text: string }[]).filter((m) => m.role === "assistant");
    expect(replies.map((m) => m.text)).toEqual([full]);
    second.close();
  });

  it("keeps sockets open across hibernation (eviction) and keeps serving them", async () => {
    const user = await newUser();
    const { socket } = await connect(user);
    await socket!.next((f) => f.type === "hello");
    await evictDurableObject(env.USER_ACTOR.get(env.USER_ACTOR.idFromName(user.userId)));
    const { key, tag } = scenario();
    await script(key, [{ text: "after the nap" }]);
    socket!.send({ type: "chat", id: "hib", text: `wake ${tag}` });
    await socket!.next(isDone("hib"));
    expect(deltasOf(socket!.frames, "hib")).toBe("after the nap");
    socket!.send("ping");
    await new Promise((r) => setTimeout(r, 100));
    expect(socket!.raw).toContain("pong");
    socket!.close();
  });

  it("answers malformed and unknown frames with an error frame and stays open", async () => {
    const user = await newUser();
    const { socket } = await connect(user);
    await socket!.next((f) => f.type === "hello");
    socket!.send("{not json");
    socket!.send({ type: "dance" });
    socket!.send({ type: "chat", id: 7, text: "x" });
    socket!.send(JSON.stringify({ type: "chat", id: "big", text: "x".repeat(200_000) }));
    await new Promise((r) => setTimeout(r, 300));
    const errors = socket!.frames.filter((f) => f.type === "error");
    expect(errors.map((e) => e.code)).toEqual(["invalid_frame", "invalid_frame", "invalid_id", "frame_too_large"]);
    socket!.send({ type: "history" });
    await socket!.next((f) => f.type === "history");
    expect(socket!.closed).toBe(false);
    socket!.close();
  });

  it("limits the frame rate per socket with error frames", async () => {
    const user = await newUser();
    const { socket } = await connect(user);
    await socket!.next((f) => f.type === "hello");
    for (let i = 0; i < 40; i++) socket!.send({ type: "history", limit: 1 });
    await socket!.next((f) => f.type === "error" && f.code === "rate_limited");
    expect(socket!.frames.filter((f) => f.type === "history").length).toBeLessThan(40);
    socket!.close();
  });
});
