import type { Command, FlagSpecs } from '../args.js';
import { approveCmd } from './approve.js';
import { planCmd } from './plan.js';
import { replayCmd } from './replay.js';
import { reviewCmd } from './review.js';
import { rollbackCmd } from './rollback.js';
import { runCmd } from './run.js';
import { runsCmd } from './runs.js';
import { sandboxCmd } from './sandbox.js';
import { serveCmd } from './serve.js';
import { showCmd } from './show.js';
import { validateCmd } from './validate.js';
import { workerCmd } from './worker.js';

/** Every `ferry` command, in the order `ferry --help` lists them. */
export const COMMANDS: ReadonlyArray<Command<FlagSpecs>> = [planCmd, showCmd, approveCmd, reviewCmd, runCmd, validateCmd, rollbackCmd, runsCmd, replayCmd, serveCmd, sandboxCmd, workerCmd];
