/** Types for examples/build.mjs, so TypeScript tests can import it. */

/** The project root. */
export const root: string;

/** The path of an npm-installed binary (node_modules/.bin/NAME, also under BPF2WASM_TOOLS), or undefined. */
export function findTool(name: string): string | undefined;

/** esbuild's JS API, or undefined where it is not installed. */
export function loadEsbuild(): Promise<unknown | undefined>;

/** workerd's configuration (Cap'n Proto text) serving worker.js, filter.wasm and maps.wasm on `address`. */
export function workerdConfig(options: { address: string; bindings?: Record<string, string | number> }): string;

/** Builds the examples under `out` (default: in place under examples/); returns the output directories. */
export function buildExamples(options?: { out?: string }): Promise<{ workers: string; deno: string; node: string }>;
