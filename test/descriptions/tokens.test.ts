import { describe, expect, it } from 'vitest';
import { tokenize } from '../../agents/planning/reading/tokens.js';

const words = (text: string) => tokenize(text).map((t) => [t.kind, t.value, text.slice(t.start, t.end)]);

describe('the reader’s tokens', () => {
  it('reads a possessive as its word, and a lone apostrophe as no quoted value', () => {
    // "office's" once became the word office and an empty quoted string, which the reader took
    // for a label: LABEL_NOT_FOUND 'no offices row is called ""'.
    expect(words("their office's city")).toEqual([
      ['word', 'their', 'their'],
      ['word', 'office', "office's"],
      ['word', 'city', 'city'],
    ]);
    expect(words('the track’s media type, the manager’s name')).toEqual([
      ['word', 'the', 'the'],
      ['word', 'track', 'track’s'],
      ['word', 'media', 'media'],
      ['word', 'type', 'type'],
      ['punct', ',', ','],
      ['word', 'the', 'the'],
      ['word', 'manager', 'manager’s'],
      ['word', 'name', 'name'],
    ]);
    expect(tokenize("rock ' n roll").filter((t) => t.kind === 'string')).toEqual([]);
  });

  it('keeps quoted values, doubled quotes and contractions as before', () => {
    expect(words("name <> 'O''Brien' but don't skip")).toEqual([
      ['word', 'name', 'name'],
      ['op', '<>', '<>'],
      ['string', "O'Brien", "'O''Brien'"],
      ['word', 'but', 'but'],
      ['word', "don't", "don't"],
      ['word', 'skip', 'skip'],
    ]);
  });
});
