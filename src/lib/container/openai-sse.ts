/** Reads an OpenAI-shaped chat completion stream (`data: {...}` lines ending in `data: [DONE]`). */

export interface CompletionChunk {
  text: string;
  usage?: { promptTokens: number; completionTokens: number; cacheReadTokens: number };
  error?: string;
}

/** Yields the text and usage of each chunk as it arrives; tolerant of comments and blank keep-alives. */
export async function* readCompletionStream(body: ReadableStream<Uint8Array>): AsyncGenerator<CompletionChunk> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += value;
      let newline: number;
      while ((newline = buffer.indexOf("\n")) !== -1) {
        const line = buffer.slice(0, newline).replace(/\r$/, "");
        buffer = buffer.slice(newline + 1);
        if (!line.startsWith("data:")) continue;
        const data = line.slice(5).trim();
        if (data === "[DONE]") return;
        const chunk = parseChunk(data);
        if (chunk) yield chunk;
      }
    }
  } finally {
    reader.releaseLock();
  }
}

function parseChunk(data: string): CompletionChunk | null {
  let parsed: {
    choices?: { delta?: { content?: string | null } }[];
    usage?: { prompt_tokens?: number; completion_tokens?: number; prompt_tokens_details?: { cached_tokens?: number } } | null;
    error?: { message?: string } | string;
  };
  try {
    parsed = JSON.parse(data);
  } catch {
    return null;
  }
  // OpenClaw reports model failures as a 200 stream with an error chunk.
  if (parsed.error) return { text: "", error: typeof parsed.error === "string" ? parsed.error : (parsed.error.message ?? "error") };
  const text = parsed.choices?.map((c) => c.delta?.content ?? "").join("") ?? "";
  const usage = parsed.usage
    ? { promptTokens: parsed.usage.prompt_tokens ?? 0, completionTokens: parsed.usage.completion_tokens ?? 0, cacheReadTokens: parsed.usage.prompt_tokens_details?.cached_tokens ?? 0 }
    : undefined;
  return { text, ...(usage ? { usage } : {}) };
}
