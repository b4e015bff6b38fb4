/** The program's log: every line to onLog as it comes, and a capped tail for the run record. */

const MAX_LINE_BYTES = 16 * 1024;

export interface LogCollectorOptions {
  /** Bytes the program may write in all; the rest is cut with a marker and onLimit is called once. */
  maxBytes: number;
  /** Bytes of the newest lines kept for the record. */
  tailBytes: number;
  onLog?: ((line: string, stream: 'stdout' | 'stderr') => void) | undefined;
  onLimit?: ((bytes: number) => void) | undefined;
}

export class LogCollector {
  private readonly partial: Record<'stdout' | 'stderr', string> = { stdout: '', stderr: '' };
  private readonly decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };
  private kept: string[] = [];
  private keptBytes = 0;
  private droppedLines = 0;
  private droppedBytes = 0;
  private totalBytes = 0;
  private cut = false;
  private readonly maxBytes: number;
  private readonly tailBytes: number;
  private readonly onLog: LogCollectorOptions['onLog'];
  private readonly onLimit: LogCollectorOptions['onLimit'];

  constructor(options: LogCollectorOptions) {
    this.maxBytes = options.maxBytes;
    this.tailBytes = options.tailBytes;
    this.onLog = options.onLog;
    this.onLimit = options.onLimit;
  }

  write(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    const before = this.totalBytes;
    this.totalBytes += chunk.length;
    if (this.cut) return;
    let data = chunk;
    if (this.totalBytes > this.maxBytes) {
      // Keep what fits, then a marker: a flood cannot push the rest of the log (or memory) away.
      data = chunk.subarray(0, Math.max(0, this.maxBytes - before));
      this.cut = true;
    }
    let text = this.partial[stream] + this.decoders[stream].decode(data, { stream: !this.cut });
    let nl: number;
    while ((nl = text.indexOf('\n')) !== -1) {
      this.line(stream, text.slice(0, nl));
      text = text.slice(nl + 1);
    }
    // A line that never ends is cut rather than buffered without bound.
    while (text.length > MAX_LINE_BYTES) {
      this.line(stream, text.slice(0, MAX_LINE_BYTES));
      text = text.slice(MAX_LINE_BYTES);
    }
    this.partial[stream] = text;
    if (this.cut) {
      this.end();
      this.line('stderr', `[ferry: log cut: the program wrote more than the limit of ${this.maxBytes} bytes]`, true);
      try {
        this.onLimit?.(this.totalBytes);
      } catch {
        // The session decides what the limit means; a failing callback must not break logging.
      }
    }
  }

  end(): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      const rest = this.partial[stream] + this.decoders[stream].decode();
      this.partial[stream] = '';
      if (rest.length > 0) this.line(stream, rest);
    }
  }

  /** A line of ferry's own about the run (not the program's), kept in the tail and passed to onLog. */
  note(text: string): void {
    const line = `[ferry: ${text}]`;
    try {
      this.onLog?.(line, 'stderr');
    } catch {
      // A failing log sink must not break the run.
    }
    this.line('stderr', line, true);
  }

  /** Whether the program wrote past maxBytes. */
  get overLimit(): boolean {
    return this.cut;
  }

  private line(stream: 'stdout' | 'stderr', raw: string, ferryOwn = false): void {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (!ferryOwn) {
      try {
        this.onLog?.(line, stream);
      } catch {
        // A failing log sink must not break the run.
      }
    }
    const full = stream === 'stderr' && !ferryOwn ? `[stderr] ${line}` : line;
    // One line longer than the whole tail keeps its beginning rather than vanishing.
    const entry = full.length > this.tailBytes / 2 ? `${full.slice(0, Math.floor(this.tailBytes / 2))} [ferry: line cut]` : full;
    this.kept.push(entry);
    this.keptBytes += Buffer.byteLength(entry) + 1;
    while (this.keptBytes > this.tailBytes && this.kept.length > 1) {
      const first = this.kept.shift() as string;
      const size = Buffer.byteLength(first) + 1;
      this.keptBytes -= size;
      this.droppedLines += 1;
      this.droppedBytes += size;
    }
  }

  /** The kept lines, preceded by a marker when earlier ones were dropped. */
  tail(): string[] {
    if (this.droppedLines === 0) return [...this.kept];
    return [`[ferry: ${this.droppedLines} earlier log lines (${this.droppedBytes} bytes) dropped; record keeps ${this.tailBytes} bytes]`, ...this.kept];
  }

  /** Whether any kept line matches (used to recognise V8's out-of-memory report). */
  contains(pattern: RegExp): boolean {
    return this.kept.some((l) => pattern.test(l));
  }

  /** The line that best says why a program died: its last error line on stderr, else its last lines. */
  errorSummary(): string {
    const stderr = this.kept.filter((l) => l.startsWith('[stderr] ')).map((l) => l.slice('[stderr] '.length));
    const errorLine = [...stderr].reverse().find((l) => /^(\w*(Error|Exception)\b.*:|FATAL ERROR|Uncaught|ferry harness:)/.test(l.trim()));
    if (errorLine) return errorLine.trim();
    return this.kept.filter((l) => l.trim() !== '' && l !== '[stderr] ').slice(-3).join(' | ');
  }

  get bytes(): number {
    return this.totalBytes;
  }
}
