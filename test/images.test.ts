/**
 * Images in (issue 18): a photo sent on Telegram and an image uploaded from the web are stored in
 * R2 for their owner, shown in history, and reach Bedrock as Converse image blocks with the text
 * beside them; fake, oversized and too many images are refused with a clear message and change nothing.
 */
import { describe, expect, it } from "vitest";
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import type { UserActor } from "../src/actors/user-actor.ts";
import { imageKey } from "../src/lib/chat/tools.ts";
import { MAX_IMAGE_BYTES, sniffImage, stripMetadata } from "../src/lib/images/image-bytes.ts";
import { PHOTO_TOO_LARGE, PHOTO_UNREADABLE } from "../src/lib/telegram/messages.ts";
import { api, apiJson, errorCode, jsonInit, newUser, type TestUser } from "./helpers.ts";
import { requests, scenario, script } from "./bedrock-control.ts";
import { actorOf, botToken, calls, connect, runJobs, say, waitFor, waitForTexts } from "./telegram-helpers.ts";
import { control, driveUntil, flyUser, withFly } from "./fly-helpers.ts";

const bytesOf = (b64: string) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
const base64 = (bytes: Uint8Array) => btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(""));

/** A 1×1 PNG with a tEXt chunk (metadata that must not be kept). */
function pngWithText(): Uint8Array {
  const png = bytesOf("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==");
  const text = new TextEncoder().encode("Comment\0taken at 52.37N 4.89E");
  const chunk = new Uint8Array(12 + text.length);
  new DataView(chunk.buffer).setUint32(0, text.length);
  chunk.set(new TextEncoder().encode("tEXt"), 4);
  chunk.set(text, 8);
  // After IHDR (8 signature + 25 chunk bytes).
  return new Uint8Array([...png.subarray(0, 33), ...chunk, ...png.subarray(33)]);
}

/** A small JPEG-shaped file: SOI, an EXIF APP1 segment with a location, SOF0 (64×48), scan data, EOI. */
function jpegWithExif(): Uint8Array {
  const exif = [...new TextEncoder().encode("Exif\0\0GPS 52.37N 4.89E")];
  const app1 = [0xff, 0xe1, 0, exif.length + 2, ...exif];
  const sof = [0xff, 0xc0, 0, 11, 8, 0, 48, 0, 64, 1, 1, 0x11, 0];
  const sos = [0xff, 0xda, 0, 8, 1, 1, 0, 0, 0x3f, 0, 1, 2, 3, 4, 5];
  return new Uint8Array([0xff, 0xd8, ...app1, ...sof, ...sos, 0xff, 0xd9]);
}

function upload(user: TestUser, bytes: Uint8Array, type = "image/png") {
  return apiJson<{ id: string; url: string }>("/api/images", { method: "POST", headers: { ...user.auth, "content-type": type }, body: bytes });
}

function imageBlocks(request: { body: { messages?: { role: string; content: Record<string, unknown>[] }[] } }) {
  const last = request.body.messages!.at(-1)!;
  return {
    images: last.content.filter((b) => b.image).map((b) => b.image as { format: string; source: { bytes: string } }),
    text: last.content.filter((b) => typeof b.text === "string").map((b) => b.text as string).join(" "),
  };
}

async function storedImageKeys(user: TestUser): Promise<string[]> {
  const listed = await env.IMAGES.list({ prefix: `images/${user.userId}/` });
  return listed.objects.map((o) => o.key);
}

async function history(user: TestUser) {
  return (await apiJson<{ messages: { id: string; role: string; text: string; images?: { url: string }[] }[] }>("/api/chat/history?limit=20", { headers: user.auth })).body.messages;
}

describe("an image from the web", () => {
  it("is stored without its metadata, shown in history, and reaches Bedrock as an image block with the text", async () => {
    const user = await newUser("img");
    const { key, tag } = scenario();
    const uploaded = await upload(user, pngWithText());
    expect(uploaded.status).toBe(201);
    expect(uploaded.body.url).toBe(`/api/images/${uploaded.body.id}`);

    const served = await api(uploaded.body.url, { headers: user.auth });
    expect(served.headers.get("content-type")).toBe("image/png");
    const stored = new Uint8Array(await served.arrayBuffer());
    expect(sniffImage(stored)).toBe("png");
    expect(new TextDecoder().decode(stored)).not.toContain("52.37N");

    const reply = await apiJson<{ text: string; status: string }>("/api/chat", jsonInit("POST", { text: `what is this? ${tag}`, images: [uploaded.body.id] }, { ...user.auth, accept: "application/json" }));
    expect(reply.status).toBe(200);
    expect(reply.body.text).toContain("I see 1 image (png)");
    const [request] = await requests(key);
    const { images, text } = imageBlocks(request!);
    expect(images).toEqual([{ format: "png", source: { bytes: base64(stored) } }]);
    expect(text).toContain("what is this?");

    const messages = await history(user);
    expect(messages[0]).toMatchObject({ role: "user", images: [{ url: uploaded.body.url }] });
    // The image stays in the conversation: the next turn still shows it to the model.
    await script(key, [{ text: "still here" }]);
    await apiJson("/api/chat", jsonInit("POST", { text: `and now? ${tag}` }, { ...user.auth, accept: "application/json" }));
    const second = (await requests(key)).at(-1)!;
    expect(second.body.messages!.flatMap((m) => m.content).filter((b) => b.image)).toHaveLength(1);
  });

  it("may come without text, and a JPEG loses its EXIF block", async () => {
    const user = await newUser("img");
    const uploaded = await upload(user, jpegWithExif(), "image/jpeg");
    expect(uploaded.status).toBe(201);
    const stored = new Uint8Array(await (await api(uploaded.body.url, { headers: user.auth })).arrayBuffer());
    expect(sniffImage(stored)).toBe("jpeg");
    expect(new TextDecoder().decode(stored)).not.toContain("GPS");
    const reply = await apiJson<{ text: string }>("/api/chat", jsonInit("POST", { images: [uploaded.body.id] }, { ...user.auth, accept: "application/json" }));
    expect(reply.status).toBe(200);
    expect(reply.body.text).toContain("I see 1 image (jpeg)");
  });

  it("refuses a fake, an oversized, too many or unknown images with a clear message, and stores nothing", async () => {
    const user = await newUser("img");
    const fake = await upload(user, new TextEncoder().encode("<svg xmlns='http://www.w3.org/2000/svg'/>"), "image/png");
    expect(fake.status).toBe(415);
    expect(errorCode(fake.body)).toBe("unsupported_image");
    const big = new Uint8Array(MAX_IMAGE_BYTES + 1);
    big.set(pngWithText());
    const oversized = await upload(user, big);
    expect(oversized.status).toBe(413);
    expect(errorCode(oversized.body)).toBe("image_too_large");
    const empty = await upload(user, new Uint8Array(0));
    expect(empty.status).toBe(400);
    expect(await storedImageKeys(user)).toEqual([]);

    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await upload(user, pngWithText())).body.id);
    const tooMany = await apiJson("/api/chat", jsonInit("POST", { text: "look", images: ids }, { ...user.auth, accept: "application/json" }));
    expect(tooMany.status).toBe(400);
    expect(errorCode(tooMany.body)).toBe("too_many_images");
    const unknown = await apiJson("/api/chat", jsonInit("POST", { text: "look", images: ["img_notmine12345"] }, { ...user.auth, accept: "application/json" }));
    expect(unknown.status).toBe(400);
    expect(errorCode(unknown.body)).toBe("image_not_found");
    // Another user's image is unknown too.
    const other = await newUser("img");
    const theirs = await apiJson("/api/chat", jsonInit("POST", { text: "look", images: [ids[0]] }, { ...other.auth, accept: "application/json" }));
    expect(errorCode(theirs.body)).toBe("image_not_found");
    expect(await history(user)).toEqual([]);
  });

  it("strips only metadata: an image without any comes back byte for byte", () => {
    const plain = bytesOf("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==");
    expect(stripMetadata(plain, "png")).toBe(plain);
    expect(stripMetadata(pngWithText(), "png")).toEqual(plain);
  });
});

describe("a photo from Telegram", () => {
  /** A user whose own bot is claimed and bound to a fresh chat. */
  async function ownerOnTelegram() {
    const user = await newUser("tgimg");
    const token = botToken();
    const chatId = 30_000_000 + Math.floor(Math.random() * 60_000_000);
    await connect(user, token, chatId);
    return { user, token, chatId };
  }

  it("is fetched in its largest size, stored, shown in history and sent to Bedrock with its caption", async () => {
    const { user, token, chatId } = await ownerOnTelegram();
    const { key, tag } = scenario();
    const photo = jpegWithExif();
    const delivery = await say(token, { photo: base64(photo), caption: `my garden ${tag}`, chatId });
    const texts = await waitForTexts(user, token, chatId, 2, 30_000);
    expect(texts[1]).toContain("I see 1 image (jpeg)");
    expect(texts[1]).toContain("my garden");

    const sizes = (delivery.update.message as { photo: { file_id: string; width: number }[] }).photo;
    const largest = sizes.reduce((a, b) => (b.width > a.width ? b : a));
    expect((await calls(token, "getFile")).map((c) => c.params.file_id)).toEqual([largest.file_id]);

    const [request] = await requests(key);
    const { images, text } = imageBlocks(request!);
    expect(images).toHaveLength(1);
    expect(images[0]!.format).toBe("jpeg");
    expect(atob(images[0]!.source.bytes)).not.toContain("GPS");
    expect(text).toContain("my garden");
    const messages = await history(user);
    expect(messages[0]).toMatchObject({ role: "user", id: `tg-${delivery.updateId}`, images: [{ url: `/api/images/img_tg_${delivery.updateId}` }] });
    expect(await storedImageKeys(user)).toEqual([imageKey(user.userId, `img_tg_${delivery.updateId}`)]);
  }, 60_000);

  it("answers a fake or oversized photo with a clear message, without asking the model or storing anything", async () => {
    const { user, token, chatId } = await ownerOnTelegram();
    const { key, tag } = scenario();
    await say(token, { photo: base64(new TextEncoder().encode("MZ this is not a picture")), caption: tag, chatId });
    const big = new Uint8Array(MAX_IMAGE_BYTES + 10);
    big.set(jpegWithExif());
    await say(token, { photo: base64(big), caption: tag, chatId });
    const texts = await waitForTexts(user, token, chatId, 3, 30_000);
    expect(texts.slice(1)).toEqual([PHOTO_UNREADABLE, PHOTO_TOO_LARGE]);
    // The oversized one is refused from its size alone: never downloaded.
    expect((await calls(token, "getFile")).length).toBe(1);
    expect(await requests(key)).toHaveLength(0);
    expect(await history(user)).toEqual([]);
    expect(await storedImageKeys(user)).toEqual([]);
    await waitFor(async () => {
      await runJobs(user);
      return (await runInDurableObject(actorOf(user), (actor: UserActor) => actor.telegram.store.pendingCount())) === 0;
    }, 10_000, "the inbox to drain");
  }, 60_000);
});

describe("an image for a paid user whose messages go to their container", () => {
  it("reaches the container's /v1/chat/completions as an image_url part (a base64 data URL of the stored bytes) after the text", async () => {
    const user = await flyUser("paid");
    await withFly(user, (fly) => fly.provision());
    await driveUntil(user, (s) => s.state === "ready");
    const png = pngWithText();
    const jpeg = jpegWithExif();
    const first = await upload(user, png);
    const second = await upload(user, jpeg, "image/jpeg");
    expect(first.status).toBe(201);
    const reply = await apiJson<{ via: string; status: string }>("/api/chat", jsonInit("POST", { text: "what are these?", images: [first.body.id, second.body.id] }, { ...user.auth, accept: "application/json" }));
    expect(reply.body).toMatchObject({ via: "container", status: "done" });

    const app = await control<{ requests: { path: string; said?: string }[] }>(`apps/${user.app}/requests`);
    const asked = app.requests.filter((r) => r.path === "/v1/chat/completions").at(-1)!;
    const content = JSON.parse(asked.said!) as { type: string; text?: string; image_url?: { url: string } }[];
    expect(content[0]).toEqual({ type: "text", text: "what are these?" });
    // The bytes R2 holds (metadata stripped), in the order they were attached, each with its real type.
    expect(content.slice(1)).toEqual([
      { type: "image_url", image_url: { url: `data:image/png;base64,${base64(stripMetadata(png, "png"))}` } },
      { type: "image_url", image_url: { url: `data:image/jpeg;base64,${base64(stripMetadata(jpeg, "jpeg"))}` } },
    ]);
    // Text alone stays a plain string, as before.
    await apiJson("/api/chat", jsonInit("POST", { text: "and words only" }, { ...user.auth, accept: "application/json" }));
    const plain = (await control<{ requests: { path: string; said?: string }[] }>(`apps/${user.app}/requests`)).requests.filter((r) => r.path === "/v1/chat/completions").at(-1)!;
    expect(plain.said).toBe("and words only");
  }, 60_000);
});
