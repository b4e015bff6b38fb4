import { serveCommand } from '../../service/serve.js';
import { defineCommand, HELP_FLAG, optionalPositiveInteger } from '../args.js';
import { URL_FLAGS, WEAK_SANDBOX_FLAG, withUrls } from '../shared.js';
import { SUMMARIES } from './registry.js';

export const serveCmd = defineCommand({
  name: 'serve',
  summary: SUMMARIES.serve,
  usage: 'ferry serve [--port <n>] [--demo] [--allow-weak-sandbox] [--source <url>] [--target <url>]',
  flags: {
    ...HELP_FLAG,
    port: { type: 'string', value: '<n>', help: 'the port on 127.0.0.1 (0 to 65535; 0: any free port; default 7340)' },
    demo: { type: 'boolean', help: "serve embedded demo databases with the case study's plan waiting for review" },
    ...WEAK_SANDBOX_FLAG,
    ...URL_FLAGS,
  },
  details: `Serves the HTTP API under /api (GET /api/plans, POST /api/describe, …) and the review page
at /, on 127.0.0.1. Every API route needs Authorization: Bearer <token>: FERRY_API_TOKEN
when set, else a token generated at first start and printed once. --demo serves embedded
demo databases with the case study's plan waiting for review. Default port 7340.`,
  async run({ values: v }, { say, loadConfig }) {
    const port = optionalPositiveInteger('--port', v.port, 7340, { min: 0, max: 65535, hint: 'e.g. --port 7340 (or 0 for any free port)' });
    return serveCommand(
      withUrls(loadConfig(), v),
      // The environment is read here, at the edge, like every flag.
      { port, demo: v.demo === true, token: process.env.FERRY_API_TOKEN || undefined, allowWeakSandbox: v['allow-weak-sandbox'] === true },
      say,
    );
  },
});
