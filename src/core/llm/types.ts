/**
 * The narrow model interface the agents depend on: one call, Messages-API shaped, with no
 * vendor types. The Anthropic SDK lives behind it (anthropic-client.ts), and so do the
 * recording and replaying clients (transcript.ts).
 */

export type TextBlock = { type: 'text'; text: string };
export type ToolUseBlock = { type: 'tool_use'; id: string; name: string; input: unknown };
export type ToolResultBlock = { type: 'tool_result'; tool_use_id: string; content: string; is_error?: boolean };

/**
 * Thinking blocks (on by default on newer models) are opaque here: kept verbatim so that an
 * assistant turn is sent back exactly as it came, which the API requires of a tool-use turn.
 */
export type ThinkingBlock = { type: 'thinking' | 'redacted_thinking' } & Record<string, unknown>;

export type ContentBlock = TextBlock | ToolUseBlock | ThinkingBlock;

export interface ModelMessage {
  role: 'user' | 'assistant';
  content: string | Array<ContentBlock | ToolResultBlock>;
}

export interface ModelTool {
  name: string;
  description: string;
  /** A JSON Schema object (from z.toJSONSchema). */
  input_schema: Record<string, unknown>;
}

export interface ModelRequest {
  system: string;
  messages: ModelMessage[];
  tools?: ModelTool[];
  toolChoice?: { type: 'auto' } | { type: 'any' } | { type: 'tool'; name: string };
  maxTokens: number;
}

export interface ModelUsage {
  inputTokens: number;
  outputTokens: number;
}

export interface ModelResponse {
  content: ContentBlock[];
  usage: ModelUsage;
  stopReason: string | null;
  model: string;
}

export interface ModelClient {
  /** The model asked for (the response names the one that answered). */
  readonly model: string;
  createMessage(request: ModelRequest): Promise<ModelResponse>;
}

/**
 * The user turn that answers an assistant turn: the API wants a tool_result for every tool_use
 * it made, so the one being answered gets `text` and any other gets a short refusal.
 */
export function answerToolUses(content: readonly ContentBlock[], answered: ToolUseBlock | undefined, text: string, isError: boolean): ModelMessage {
  const uses = content.filter((b): b is ToolUseBlock => b.type === 'tool_use');
  if (uses.length === 0) return { role: 'user', content: text };
  return {
    role: 'user',
    content: uses.map((u) =>
      u.id === (answered ?? uses[0])?.id
        ? { type: 'tool_result' as const, tool_use_id: u.id, content: text, ...(isError ? { is_error: true } : {}) }
        : { type: 'tool_result' as const, tool_use_id: u.id, content: `Not used: ${u.name} was not asked for now. One call at a time.`, is_error: true },
    ),
  };
}
