/** What the command line needs from its host (compiler/cli/bin.ts gives it Node's). */
export interface CliIO {
  readFile(path: string): Promise<Uint8Array>;
  writeFile(path: string, data: Uint8Array | string): Promise<void>;
  stdout(text: string): void;
  stderr(text: string): void;
  /** Reads a file as a stream of chunks (capture files of any size); readFile when absent. */
  readStream?(path: string): AsyncIterable<Uint8Array>;
  /**
   * Opens a file for writing in pieces (`--out` of `run --pcap` writes the kept frames as they
   * are produced, in constant memory); without it the pieces are collected and written with
   * writeFile at the end.
   */
  writeStream?(path: string): Promise<CliWriteStream>;
  /** Whether stderr is a terminal (progress lines are written only then). */
  stderrIsTTY?: boolean;
  /** Monotonic clock in nanoseconds (for --repeat). */
  now(): number;
}

/** A file being written (CliIO.writeStream). */
export interface CliWriteStream {
  /** Appends `data`; resolves when it is handed to the file. */
  write(data: Uint8Array): Promise<void>;
  /** Closes the file. */
  close(): Promise<void>;
}
