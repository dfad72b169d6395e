/** Types for scripts/build-wasm.mjs, so TypeScript tests can import it. */

/** The asc flags the maps module is built with. */
export const ASC_FLAGS: string[];

/** Compiles wasm/maps/index.ts; returns the module's bytes. */
export function compileMaps(): Promise<Uint8Array>;

/** The parts of a module the checks look at. */
export function inspectModule(bytes: Uint8Array): {
  imports: string[];
  exports: { name: string; kind: number; sig: string | undefined }[];
  data: { offset: number; len: number }[];
  globals: number;
  start: boolean;
};

/** What is wrong with a maps module (imports, data outside the scratch area, globals, exports). */
export function checkModule(bytes: Uint8Array): string[];

/** The generated runtime/maps/maps-wasm.ts for `bytes`. */
export function renderModuleFile(bytes: Uint8Array): string;
