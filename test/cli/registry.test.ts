import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/cli/commands/index.js';
import { COMMAND_LIST } from '../../src/cli/commands/registry.js';

/**
 * `ferry --help` lists the registry without importing the command modules; the registry must
 * therefore name exactly the commands there are, in the same order, each loading its own.
 */
describe('the command registry', () => {
  it('names every command in order, and each entry loads that command', async () => {
    expect(COMMAND_LIST.map((c) => c.name)).toEqual(COMMANDS.map((c) => c.name));
    for (const entry of COMMAND_LIST) {
      const command = await entry.load();
      expect(command).toBe(COMMANDS.find((c) => c.name === entry.name));
      expect(command.summary).toBe(entry.summary);
    }
  });
});
