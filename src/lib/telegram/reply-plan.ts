/**
 * What to send for one update, decided once and stored with it (`telegram_inbox.plan`), so a retry
 * after a crash sends exactly the parts still missing and never asks the model again.
 */
import type { ReplyResult } from "../chat/chat-engine.ts";
import { IMAGE_ID_PATTERN } from "../chat/tools.ts";
import { splitForTelegram } from "./split.ts";
import { CUT_OFF_NOTE, REPLY_FAILED } from "./messages.ts";

export type PlanPart =
  /**
   * `markdown`: the companion's words, sent as Telegram HTML (plain text if Telegram refuses it).
   * `editMessageId`: the message the reply streamed into, edited into this part instead of a new one.
   */
  | { type: "text"; text: string; markdown: boolean; editMessageId?: number }
  /** A generated image, read from R2 when it is sent. */
  | { type: "photo"; imageId: string; caption: string };

/** What to send for one update, and where. An update that needs no answer has no parts. */
export interface Plan {
  chatId: number;
  parts: PlanPart[];
}

/** Telegram's caption limit (after entity parsing). */
export const CAPTION_LIMIT = 1024;

/** One plain-text message of our own. */
export function textPlan(text: string): PlanPart[] {
  return [{ type: "text", text, markdown: false }];
}

/** The parts that carry a finished (or cut-off) reply from the chat engine. */
export function planReply(result: Pick<ReplyResult, "text" | "images" | "status" | "error">): PlanPart[] {
  const photos: PlanPart[] = result.images.flatMap((image) => {
    const id = /\/api\/images\/([^/?#]+)$/.exec(image.url)?.[1];
    return id && IMAGE_ID_PATTERN.test(id) ? [{ type: "photo" as const, imageId: id, caption: image.alt.slice(0, CAPTION_LIMIT) }] : [];
  });
  const text = result.text.trim();
  // Our own refusals (over today's budget) say what happened and when it passes.
  if (text === "" && photos.length === 0) return textPlan(result.error?.code === "budget_exceeded" ? result.error.message : REPLY_FAILED);
  const cutOff = text !== "" && (result.status === "interrupted" || result.status === "error");
  const full = cutOff ? `${text}\n\n_${CUT_OFF_NOTE}_` : text;
  const texts: PlanPart[] = splitForTelegram(full).map((piece) => ({ type: "text", text: piece, markdown: true }));
  return [...texts, ...photos];
}
