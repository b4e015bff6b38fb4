/**
 * Named steps inside `ferry run`'s phases (src/cli/run-phases.ts logs them): code at any layer
 * calls `step('store.open')` when a step ends, and the phase log says how long it took since
 * the step or phase before it. Nothing is recorded unless a recorder is installed (the CLI
 * installs one only when its info log is on). Process-wide on purpose: threading a timer
 * through every call on the run's path would change a dozen signatures for a figure.
 */
export type StepRecorder = (name: string, beside?: true) => void;

let recorder: StepRecorder | null = null;

/** Installs (or, with null, removes) the process's step recorder. */
export function recordSteps(r: StepRecorder | null): void {
  recorder = r;
}

/** Marks the end of the step `name` (a no-op without a recorder). */
export function step(name: string): void {
  recorder?.(name);
}

/**
 * Marks a moment of work that goes on beside the run's own steps (the early container's
 * creation and start, the program's frames and exit): recorded with its time only, never as a
 * step of a phase, which it would cut in two.
 */
export function besideStep(name: string): void {
  recorder?.(name, true);
}
