/**
 * The narrow model interface the agents depend on: one call, Messages-API shaped, with no
 * vendor types. The Anthropic SDK lives behind it (anthropic-client.ts), and so do the
 * recording and replaying clients (transcript.ts).
 */

export type TextBlock = { type: 'text'; text: string };
export type ToolUseBlock = { type: 'tool_use'; id: string; name: string; input: unknown };
export type ToolResultBlock = { type: 'tool_result'; tool_use_id: string; content: string; is_error?: boolean };

export type ContentBlock = TextBlock | ToolUseBlock;

export interface ModelMessage {
  role: 'user' | 'assistant';
  content: string | Array<TextBlock | ToolUseBlock | ToolResultBlock>;
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
