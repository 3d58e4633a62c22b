/** What a route (direct Bedrock, the user's container) may do with the reply it produces. */
import type { Usage } from "../usage.ts";
import type { StoredImage, Via } from "./history.ts";
import type { PromptTurn } from "./prompt.ts";

export interface ReplyContext {
  clientId: string;
  userText: string;
  /** The R2 ids of the images the message carries (none for text alone). */
  userImageIds: string[];
  signal: AbortSignal;
  emitText(piece: string): void;
  emitStatus(status: "thinking" | "waking_container" | "tool", detail?: string): void;
  addUsage(usage: Usage): void;
  addImage(image: StoredImage): void;
  setVia(via: Via): void;
  textSoFar(): string;
  /** The conversation before this message, at most `maxChars` of it. */
  history(maxChars: number): PromptTurn[];
  /** Charges the usage so far to today and throws 429 `budget_exceeded` once the budget is spent. */
  checkBudget(): void;
}

/** Where a reply is produced: direct Bedrock, or (hybrid routing) the user's container. */
export interface ReplyProducer {
  /** Returns true when it produced the reply; false hands the same message to direct Bedrock. */
  produce(reply: ReplyContext): Promise<boolean>;
}
