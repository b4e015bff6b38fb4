import { serveCommand } from '../../service/serve.js';
import { defineCommand, HELP_FLAG, optionalPositiveInteger } from '../args.js';
import { URL_FLAGS, WEAK_SANDBOX_FLAG, withUrls } from '../shared.js';
import { SUMMARIES } from './registry.js';

export const serveCmd = defineCommand({
  name: 'serve',
  summary: SUMMARIES.serve,
  usage: 'ferry serve [--port <n>] [--pool <n>] [--demo] [--allow-weak-sandbox] [--source <url>] [--target <url>]',
  flags: {
    ...HELP_FLAG,
    port: { type: 'string', value: '<n>', help: 'the port on 127.0.0.1 (0 to 65535; 0: any free port; default 7340)' },
    pool: { type: 'string', value: '<n>', help: 'warm sandbox containers kept ready, one per run (0 to 32; default FERRY_SANDBOX_POOL, else 1)' },
    demo: { type: 'boolean', help: "serve embedded demo databases with the case study's plan waiting for review" },
    ...WEAK_SANDBOX_FLAG,
    ...URL_FLAGS,
  },
  details: `Serves the HTTP API under /api (GET /api/plans, POST /api/describe, …) and the review page
at /, on 127.0.0.1. Every API route needs Authorization: Bearer <token>: FERRY_API_TOKEN
when set, else a token generated at first start and printed once. --demo serves embedded
demo databases with the case study's plan waiting for review. Default port 7340.
--pool <n>: n sandbox containers are started ahead with the policy and wait for a run, so a
run's program starts at once; each serves one run and is removed after, and the pool refills
(a run in n key ranges takes n). Each idle one holds its Node process's memory.`,
  async run({ values: v }, { say, loadConfig }) {
    const port = optionalPositiveInteger('--port', v.port, 7340, { min: 0, max: 65535, hint: 'e.g. --port 7340 (or 0 for any free port)' });
    const config = withUrls(loadConfig(), v);
    const pool = optionalPositiveInteger('--pool', v.pool, config.sandboxPool.size, { min: 0, max: 32, hint: 'e.g. --pool 4 (0: every run starts its container cold)' });
    return serveCommand(
      config,
      // The environment is read here, at the edge, like every flag.
      { port, demo: v.demo === true, token: process.env.FERRY_API_TOKEN || undefined, allowWeakSandbox: v['allow-weak-sandbox'] === true, pool },
      say,
    );
  },
});
