/**
 * The direct route: one reply from Claude on Bedrock, with up to MAX_TOOL_ROUNDS tool rounds. The
 * prompt comes from `buildConverseParts` and each tool round from `appendToolRound`, the two pieces
 * the property test holds to Bedrock's rules. The budget is checked again before every round after
 * the first, so a turn stops as soon as the day's budget is spent.
 */
import { describeError } from "../errors.ts";
import type { Message } from "@aws-sdk/client-bedrock-runtime";
import type { ObjectContext } from "../object-context.ts";
import type { Workspace } from "../workspace.ts";
import { ZERO_USAGE } from "../usage.ts";
import { HISTORY_CHAR_BUDGET, appendToolRound, buildConverseParts, buildSystemPrompt, type ToolRound } from "./prompt.ts";
import { generateImage, streamTurn } from "./bedrock.ts";
import { TOOL_SPECS, runTool } from "./tools.ts";
import type { ReplyContext } from "./reply-context.ts";
import { withImages } from "../images/prompt-images.ts";

export const MAX_TOOL_ROUNDS = 4;
export const MAX_OUTPUT_TOKENS = 8_192;

export async function replyWithBedrock(ctx: ObjectContext, workspace: Workspace, reply: ReplyContext): Promise<void> {
  // Image bytes come from R2 now, so the prompt builder itself stays pure (and property-tested).
  const { history, userImages } = await withImages(ctx.env.IMAGES, ctx.owner().userId, reply.history(HISTORY_CHAR_BUDGET), reply.userImageIds);
  const parts = buildConverseParts({
    systemPrompt: buildSystemPrompt(workspace.snapshot()),
    tools: TOOL_SPECS,
    history,
    userText: reply.userText,
    userImages,
  });
  const messages: Message[] = parts.messages;
  const client = ctx.bedrock();
  for (let round = 0; round < MAX_TOOL_ROUNDS; round++) {
    if (round > 0) reply.checkBudget();
    // Pieces from a later round start a new paragraph.
    const separator = round > 0 && reply.textSoFar() && !reply.textSoFar().endsWith("\n") ? "\n\n" : "";
    let first = true;
    const turn = await streamTurn(client, ctx.config, { system: parts.system, messages, tools: parts.tools, maxTokens: MAX_OUTPUT_TOKENS }, (piece) => {
      reply.emitText(first ? separator + piece : piece);
      first = false;
    }, reply.signal);
    reply.addUsage(turn.usage);
    if (turn.stopReason !== "tool_use" || turn.toolUses.length === 0 || round === MAX_TOOL_ROUNDS - 1) return;

    const toolRound: ToolRound = {
      text: turn.text,
      toolUses: turn.toolUses.map((use) => ({ toolUseId: use.toolUseId ?? "", name: use.name ?? "", input: use.input })),
      results: [],
    };
    for (const toolUse of toolRound.toolUses) {
      reply.emitStatus("tool", toolUse.name);
      const outcome = await runTool(toolUse.name, toolUse.input, {
        workspace,
        images: ctx.env.IMAGES,
        userId: ctx.owner().userId,
        generateImage: (prompt) => generateImage(client, ctx.config, prompt, reply.signal),
      }).catch((error: unknown) => ({ ok: false, text: `The tool failed: ${describeError(error, "reply").message}`, image: undefined }));
      if (outcome.image) {
        reply.addImage(outcome.image);
        reply.addUsage({ ...ZERO_USAGE, images: 1 });
      }
      toolRound.results.push({ toolUseId: toolUse.toolUseId, text: outcome.text, ok: outcome.ok });
    }
    appendToolRound(messages, toolRound);
  }
}
