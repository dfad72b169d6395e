/** Types for scripts/gen-helpers.mjs, so TypeScript tests can import it. */

export interface GenHelperArg {
  name: string;
  type: string;
  kind: 'ptr' | 'ctx' | 'map' | 'callback' | 'scalar64' | 'scalar32';
}

export interface GenHelperProto {
  name: string;
  ret: 'ptr' | 'long' | 'u64' | 's64' | 'u32' | 'int' | 'void';
  retType: string;
  args: GenHelperArg[];
  variadic: boolean;
}

export interface GenHelper {
  id: number;
  name: string;
  ret: GenHelperProto['ret'] | null;
  retType: string | null;
  args: GenHelperArg[] | null;
  variadic: boolean;
}

export interface GenUnparsed {
  name: string;
  line: string;
  error: string;
}

export const DEFAULT_HEADER: string;
export const DEFAULT_OUT: string;

/** Helper ids and names from the FUNC_MAPPER macro (explicit ids or positions), `unspec` excluded, sorted by id. */
export function parseFuncMapper(text: string): { id: number; name: string }[];
/** Parses one prototype line; throws on a prototype it cannot classify. */
export function parsePrototype(line: string): GenHelperProto;
export function parsePrototypes(text: string): {
  protos: Map<string, GenHelperProto>;
  alternates: Map<string, string[]>;
  unparsed: GenUnparsed[];
};
export function parseLinuxVersion(versionH: string): string | null;
export function headerLinuxVersion(headerPath: string): string | null;
export function generateHelperTable(
  headerText: string,
  opts?: { linuxVersion?: string | null },
): { source: string; helpers: GenHelper[]; unparsed: GenUnparsed[]; missing: string[] };
