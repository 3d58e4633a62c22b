/**
 * The plumbing every HTTP stand-in of the container tests needs (callback-standin.ts,
 * worker-standin.ts): reading a whole request body, and listening on a free loopback port with a
 * close that also drops open connections, so a test's `after` never waits on a keep-alive socket
 * the container still holds.
 */
import type { IncomingMessage, Server } from "node:http";
import type { AddressInfo } from "node:net";

export async function readRaw(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export interface Listening {
  port: number;
  /** `http://127.0.0.1:PORT`, no trailing slash. */
  url: string;
  close(): Promise<void>;
}

export async function listenLocal(server: Server): Promise<Listening> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
