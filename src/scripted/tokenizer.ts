/**
 * The scripted model's own tokenizer: one token per word or punctuation mark,
 * plus a chat template of 4 tokens per message and 3 to prime the reply. Chosen
 * so that a characters/4 estimate is wrong in both directions, as real ones are.
 */
export function countText(text: string): number {
  return (text.match(/[\p{L}\p{N}_]+|[^\s\p{L}\p{N}_]/gu) ?? []).length;
}

export interface ChatLike {
  messages: Array<{ role: string; content?: unknown; tool_calls?: unknown; name?: string }>;
  tools?: unknown[];
}

export function countChat(req: ChatLike): number {
  let n = 3;
  for (const m of req.messages) {
    n += 4 + countText(typeof m.content === "string" ? m.content : JSON.stringify(m.content ?? ""));
    if (m.tool_calls) n += countText(JSON.stringify(m.tool_calls));
  }
  if (req.tools?.length) n += countText(JSON.stringify(req.tools));
  return n;
}
