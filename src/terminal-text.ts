/**
 * Text from data (role names, values, descriptions) and from sandbox logs reaches people's
 * terminals through the CLI, the demo and the terminal review. A control character in it
 * would be obeyed by the terminal: ESC sequences erase lines, move the cursor, set the
 * window title or write to the clipboard; a CR overwrites the line. Every terminal sink
 * passes its text through terminalText(), so no renderer has to remember to.
 */

/**
 * C0 controls except TAB and LF, DEL, the C1 controls (U+0080–U+009F: U+009B is a one-byte
 * CSI), and the bidirectional overrides and isolates that reorder what a line appears to say.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** The text with every unsafe character shown as a visible `\u{…}` escape; newlines and tabs stay. */
export function terminalText(text: string): string {
  return text.replace(UNSAFE, (c) => `\\u{${c.codePointAt(0)!.toString(16).padStart(2, '0')}}`);
}

/** A line writer for a terminal stream (stdout or stderr) that escapes what it prints. */
export function terminalLines(stream: NodeJS.WritableStream): (line: string) => void {
  return (line) => {
    stream.write(`${terminalText(line)}\n`);
  };
}

/** A raw writer (no newline added) for a terminal stream that escapes what it prints. */
export function terminalWriter(stream: NodeJS.WritableStream): (text: string) => void {
  return (text) => {
    stream.write(terminalText(text));
  };
}
