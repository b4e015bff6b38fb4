/**
 * The parse options for an artifact a process checks once (a plan or analysis read from its
 * file, a run's sandbox record or validation report): zod's schema-compiled fast path is
 * skipped. Zod compiles an object schema into a function on its first parse, which for one
 * parse of a plan costs far more than it saves (a CLI run's plan and analysis: about 5 ms
 * without it, 100+ ms of CPU with it); a long-lived process parsing the same schema again and
 * again (the service's lists) keeps the default. The checks are the same either way.
 */
export const PARSE_ONCE = { jitless: true } as const;
