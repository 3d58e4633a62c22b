/** Server-Sent Events for HTTP chat: each frame as `event: <type>` + `data: <json>`, flushed as it happens. */
import type { ChatFrame, FrameListener } from "./frames.ts";

export function sseStream(): { readable: ReadableStream<Uint8Array>; listener: FrameListener; close(): void } {
  const encoder = new TextEncoder();
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  let open = true;
  const write = (text: string) => {
    if (!open) return;
    // A client that went away makes writes fail; the reply goes on and is stored regardless.
    writer.write(encoder.encode(text)).catch(() => {
      open = false;
    });
  };
  write(": stream open\n\n");
  return {
    readable,
    listener: (frame: ChatFrame) => write(`event: ${frame.type}\ndata: ${JSON.stringify(frame)}\n\n`),
    close: () => {
      if (!open) return;
      open = false;
      writer.close().catch(() => {});
    },
  };
}
