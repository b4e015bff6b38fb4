import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * pg's own escapeIdentifier and escapeLiteral (the very functions `import { escapeLiteral }
 * from 'pg'` gives), taken from pg/lib/utils so that code which only quotes SQL does not load
 * pg's client: that load reaches for `navigator` and so Node's fetch stack, a few hundred ms
 * that `ferry show` and `--help` must not pay.
 */
const utils = require('pg/lib/utils.js') as { escapeIdentifier(text: string): string; escapeLiteral(text: string): string };

export const escapeIdentifier: (text: string) => string = utils.escapeIdentifier;
export const escapeLiteral: (text: string) => string = utils.escapeLiteral;
