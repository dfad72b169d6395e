/** What the command line needs from its host (compiler/cli/bin.ts gives it Node's). */
export interface CliIO {
  readFile(path: string): Promise<Uint8Array>;
  writeFile(path: string, data: Uint8Array | string): Promise<void>;
  stdout(text: string): void;
  stderr(text: string): void;
  /** Monotonic clock in nanoseconds (for --repeat). */
  now(): number;
}
