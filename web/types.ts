/**
 * The shapes of API.md as the page sees them. Everything the server sends is treated as untrusted
 * and possibly incomplete (parts of the backend may not be built yet), so most fields are optional
 * here and every reader copes with them missing.
 */

export type Tier = "free" | "paid";
export type ChatMode = "auto" | "direct";
export type Route = "direct" | "container";
export type FlyState = "none" | "provisioning" | "ready" | "failed" | "deleting";

/** The provisioning steps, in order (API.md, Fly status). */
export const FLY_STEPS = [
  "create_app",
  "set_secrets",
  "allocate_ips",
  "create_machines",
  "wait_started",
  "health_check",
] as const;
export type FlyStep = (typeof FLY_STEPS)[number];

export interface FlyMachine {
  id?: string;
  state?: string;
  region?: string;
}

export interface FlyStatus {
  state?: FlyState | string;
  step?: FlyStep | string | null;
  detail?: string;
  app?: string;
  url?: string;
  region?: string;
  machines?: FlyMachine[];
  attempts?: number;
  nextRetryAt?: string | number | null;
  lastError?: string | { message?: string } | null;
  workspace?: {
    sha256?: string;
    syncedSha256?: string;
    lastSyncAt?: string | number | null;
    pendingSync?: boolean;
  };
}

export interface TelegramStatus {
  claimed?: boolean;
  botUsername?: string | null;
  linkUrl?: string | null;
  /** Whether an owner chat has redeemed the link code (`ownerBound` in the Worker; optional). */
  ownerBound?: boolean;
  linked?: boolean;
  fromPool?: boolean;
}

export interface Usage {
  inputTokens?: number;
  outputTokens?: number;
  cacheReadTokens?: number;
  cacheWriteTokens?: number;
  images?: number;
  costUsd?: number;
}

export interface UsageDay extends Usage {
  date: string;
}

export interface Me {
  userId?: string;
  email?: string;
  tier?: Tier | string;
  chatMode?: ChatMode | string;
  mode?: Route | string;
  fly?: FlyStatus | null;
  telegram?: TelegramStatus | null;
  usage?: Usage | null;
}

export interface Health {
  ok?: boolean;
  version?: string;
  devAuth?: boolean;
}

export interface WorkspaceFile {
  name: string;
  size?: number;
  sha256?: string;
  version?: number;
  updatedAt?: string | number;
}

export interface FileVersion {
  version: number;
  size?: number;
  sha256?: string;
  updatedAt?: string | number;
  /** The Worker inlines each version's content (null for a version that recorded a deletion). */
  content?: string | null;
  text?: string;
  deleted?: boolean;
  /** Who made it: "user" | "tool" | "container" | "restore" | "starter" (optional). */
  source?: string;
}

export interface ImageRef {
  url: string;
  alt: string;
}

export interface HistoryMessage {
  id: string;
  role: "user" | "assistant";
  text: string;
  at?: string | number;
  via?: string;
  images?: (ImageRef | string)[];
  /** Optional: the id of the user message an assistant message answers (not in API.md). */
  replyTo?: string;
  /** Optional: how a stored reply ended ("streaming" | "done" | "interrupted" | "cancelled" | "error"). */
  status?: string;
}

// ---- WebSocket frames (API.md, "Web chat over WebSocket") ----

export type ClientFrame =
  | { type: "chat"; id: string; text: string; images?: string[] }
  | { type: "history"; before?: string; limit?: number }
  | { type: "cancel"; id: string };

export interface HelloFrame {
  type: "hello";
  userId?: string;
  tier?: string;
  mode?: string;
  fly?: { state?: string };
  /** `status` "queued": the message waits behind the reply in progress. */
  pending?: { id: string; text: string; status?: string }[];
}
export interface UserFrame {
  type: "user";
  id: string;
  text: string;
  at?: string | number;
  /** Images the message carries (a photo from Telegram, an upload from another tab). */
  images?: (ImageRef | string)[];
}
export interface StatusFrame {
  type: "status";
  id: string;
  status: "thinking" | "waking_container" | "tool" | string;
  detail?: string;
}
export interface DeltaFrame {
  type: "delta";
  id: string;
  text: string;
}
export interface ImageFrame {
  type: "image";
  id: string;
  url: string;
  alt?: string;
}
export interface DoneFrame {
  type: "done";
  id: string;
  messageId?: string;
  via?: string;
  usage?: Usage;
  /** "cancelled" when the reply was stopped (optional). */
  status?: string;
}
export interface ErrorFrame {
  type: "error";
  id?: string;
  code: string;
  message: string;
  /** The stored reply's id, when the error ends a reply that was stored (optional). */
  messageId?: string;
  /** Optional extras a server may add to budget errors. */
  resetAt?: string | number;
  retryAfter?: number;
}
export interface HistoryFrame {
  type: "history";
  messages: HistoryMessage[];
  hasMore?: boolean;
}
export interface FlyFrame {
  type: "fly";
  state?: string;
  step?: string | null;
  detail?: string;
}
export interface WorkspaceFrame {
  type: "workspace";
  name: string;
  sha256?: string | null;
  version?: number;
  /** The container's write lost a race: its text was kept as a version, the person's stays current. */
  conflict?: boolean;
}

export type ServerFrame =
  | HelloFrame
  | UserFrame
  | StatusFrame
  | DeltaFrame
  | ImageFrame
  | DoneFrame
  | ErrorFrame
  | HistoryFrame
  | FlyFrame
  | WorkspaceFrame;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;
const isStr = (v: unknown): v is string => typeof v === "string";

/**
 * Parses one text frame from the server. Returns null for anything that is not a frame this page
 * understands with the fields it needs (unknown types are ignored, never thrown on).
 */
export function parseServerFrame(data: string): ServerFrame | null {
  let v: unknown;
  try {
    v = JSON.parse(data);
  } catch {
    return null;
  }
  if (!isObj(v) || !isStr(v.type)) return null;
  switch (v.type) {
    case "hello": {
      const pending = Array.isArray(v.pending)
        ? v.pending.filter((p): p is { id: string; text: string; status?: unknown } => isObj(p) && isStr(p.id)).map((p) => ({
            id: p.id,
            text: isStr(p.text) ? p.text : "",
            ...(isStr(p.status) ? { status: p.status } : {}),
          }))
        : [];
      return { ...(v as object), type: "hello", pending } as HelloFrame;
    }
    case "user":
      return isStr(v.id) ? ({ ...v, text: isStr(v.text) ? v.text : "" } as unknown as UserFrame) : null;
    case "status":
      return isStr(v.id) && isStr(v.status) ? (v as unknown as StatusFrame) : null;
    case "delta":
      return isStr(v.id) && isStr(v.text) ? (v as unknown as DeltaFrame) : null;
    case "image":
      return isStr(v.id) && isStr(v.url) ? (v as unknown as ImageFrame) : null;
    case "done":
      return isStr(v.id) ? (v as unknown as DoneFrame) : null;
    case "error":
      return {
        ...v,
        code: isStr(v.code) ? v.code : "error",
        message: isStr(v.message) ? v.message : "Something went wrong.",
      } as unknown as ErrorFrame;
    case "history": {
      const messages = Array.isArray(v.messages)
        ? v.messages.filter(
            (m): m is HistoryMessage =>
              isObj(m) && isStr(m.id) && (m.role === "user" || m.role === "assistant"),
          )
        : [];
      return { type: "history", messages, hasMore: v.hasMore === true };
    }
    case "fly":
      return v as unknown as FlyFrame;
    case "workspace":
      return isStr(v.name) ? (v as unknown as WorkspaceFrame) : null;
    default:
      return null;
  }
}
