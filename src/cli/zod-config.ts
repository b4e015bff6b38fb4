import { config } from 'zod';

/**
 * zod told to interpret its schemas: a command parses each artifact about once, and zod's JIT
 * (a validator compiled per schema on first use, 0.1-0.2 s for a plan and its analysis) costs
 * more than it saves there. Its own module, imported beside the command's: importing the
 * whole `zod` namespace (`import('zod')`) would keep every locale of zod in the build.
 */
export function interpretSchemas(): void {
  config({ jitless: true });
}
