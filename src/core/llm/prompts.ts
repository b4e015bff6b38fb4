import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256 } from '../artifacts/hash.js';
import { FerryError } from '../errors.js';
import { packagePath } from '../package-root.js';

/** prompts/ at the repository root: one versioned template per agent (`planning.v1.md`). */
const PROMPTS_DIR = packagePath('prompts');

export interface PromptTemplate {
  /** `planning.v1` */
  id: string;
  text: string;
  /** sha256 of the file's bytes, recorded on the artifact the prompt produced. */
  sha256: string;
}

/** Loads a template at run time, so the hash recorded is the hash of what was sent. */
export async function loadPrompt(id: string, dir: string = PROMPTS_DIR): Promise<PromptTemplate> {
  let text: string;
  try {
    text = await readFile(join(dir, `${id}.md`), 'utf8');
  } catch (cause) {
    throw new FerryError('PROMPT_MISSING', 'system', `the prompt template ${id}.md is missing from ${dir}`, { cause });
  }
  return { id, text, sha256: sha256(text) };
}
