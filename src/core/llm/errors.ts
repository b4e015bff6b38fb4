import { FerryError, type ErrorCategory, type FerryErrorOptions } from '../errors.js';

/**
 * Everything that can go wrong between ferry and a model, each with a stable code:
 *
 * | code                   | category    | meaning                                                     |
 * |------------------------|-------------|-------------------------------------------------------------|
 * | MODEL_NOT_CONFIGURED   | user        | --llm claude without ANTHROPIC_API_KEY                       |
 * | MODEL_AUTH_FAILED      | user        | the API refused the key (401/403)                           |
 * | MODEL_RATE_LIMITED     | third_party | 429 on every attempt                                        |
 * | MODEL_OVERLOADED       | third_party | 529 (or 5xx) on every attempt                               |
 * | MODEL_TIMEOUT          | third_party | no answer within the request timeout                        |
 * | MODEL_UNREACHABLE      | third_party | the connection failed                                       |
 * | MODEL_API_ERROR        | third_party | any other API error (400, 404, …): the API's message is kept |
 * | MODEL_BUDGET_EXCEEDED  | user        | the per-plan token budget is spent                          |
 * | MODEL_OUTPUT_INVALID   | third_party | the answer still fails the schema after the repair turns (or is empty) |
 * | MODEL_REFUSED          | third_party | the model declined (stop_reason "refusal"); its words are kept |
 * | MODEL_MAX_TOKENS       | third_party | cut off at max_tokens, and again with the larger limit       |
 * | MODEL_NOT_GROUNDED     | third_party | the answer names tables/columns/values the analysis lacks   |
 * | MODEL_CODE_INVALID     | third_party | written functions still do not type-check after the repairs |
 * | MODEL_EXPRESSION_INVALID | third_party | column expressions refused after the repairs (planning settles them as review items) |
 * | MODEL_REPLAY_MISS      | user        | a replayed transcript has no answer for this request        |
 * | MODEL_TRANSCRIPT_INVALID | user      | a transcript file is not a transcript                        |
 */
export class ModelError extends FerryError {
  constructor(code: string, category: ErrorCategory, message: string, options: FerryErrorOptions = {}) {
    super(code, category, message, options);
  }
}
