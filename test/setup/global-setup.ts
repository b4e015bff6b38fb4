import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres, type EmbeddedServer } from '../../src/db/embedded.js';

let server: EmbeddedServer | undefined;

/** One embedded PostgreSQL for the whole run; each test file makes its own databases on it. */
export async function setup(project: TestProject): Promise<void> {
  // Over TCP on loopback: test files derive database URLs from this one, and the sandbox's
  // no-network test needs a host port to fail to reach.
  server = await startEmbeddedPostgres({ tcp: true });
  project.provide('pgAdminUrl', server.url('postgres'));
}

export async function teardown(): Promise<void> {
  await server?.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
  }
}
