/** What the command line needs from its host (compiler/cli/bin.ts gives it Node's). */
export interface CliIO {
  readFile(path: string): Promise<Uint8Array>;
  writeFile(path: string, data: Uint8Array | string): Promise<void>;
  stdout(text: string): void;
  stderr(text: string): void;
  /** Reads a file as a stream of chunks (capture files of any size); readFile when absent. */
  readStream?(path: string): AsyncIterable<Uint8Array>;
  /** Whether stderr is a terminal (progress lines are written only then). */
  stderrIsTTY?: boolean;
  /** Monotonic clock in nanoseconds (for --repeat). */
  now(): number;
}
