/**
 * Custom sections appended to the emitted module: the JSON manifest and the map from code offsets
 * to eBPF instruction indices (from Binaryen's source map), which the runtime uses to name the
 * instruction behind a trap.
 */

function leb128(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/**
 * Appends a custom section at the end of a module. Appending (rather than asking Binaryen to add
 * it) guarantees that no code offset moves.
 */
export function appendCustomSection(wasm: Uint8Array, name: string, payload: Uint8Array): Uint8Array {
  return appendCustomSections(wasm, [[name, payload]]);
}

let encoder: TextEncoder | undefined;

/** The UTF-8 bytes of `s`, from one TextEncoder for every compile (a browser makes an object for each one). */
export function utf8(s: string): Uint8Array {
  return (encoder ??= new TextEncoder()).encode(s);
}

/** Appends custom sections, in order, with one copy of the module (a large module is megabytes). */
export function appendCustomSections(wasm: Uint8Array, sections: ReadonlyArray<readonly [string, Uint8Array]>): Uint8Array {
  const parts: Array<{ header: number[]; nameBytes: Uint8Array; payload: Uint8Array }> = [];
  for (const [name, payload] of sections) {
    const nameBytes = utf8(name);
    const body = leb128(nameBytes.length);
    const size = body.length + nameBytes.length + payload.length;
    parts.push({ header: [0, ...leb128(size), ...body], nameBytes, payload });
  }
  let length = wasm.length;
  for (const p of parts) length += p.header.length + p.nameBytes.length + p.payload.length;
  const out = new Uint8Array(length);
  out.set(wasm, 0);
  let at = wasm.length;
  for (const p of parts) {
    out.set(p.header, at);
    at += p.header.length;
    out.set(p.nameBytes, at);
    at += p.nameBytes.length;
    out.set(p.payload, at);
    at += p.payload.length;
  }
  return out;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_INDEX = new Int8Array(128).fill(-1);
for (let i = 0; i < B64.length; i++) B64_INDEX[B64.charCodeAt(i)] = i;

/**
 * Decodes a source map's `mappings` (one generated line: the Wasm binary) into sorted
 * [code offset, source line] pairs (0-based lines, as source maps store them).
 */
export function decodeSourceMapMappings(mappings: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let col = 0;
  let line = 0;
  const fields: number[] = [];
  let value = 0;
  let shift = 0;
  const flushSegment = (): void => {
    if (fields.length >= 3) {
      col += fields[0]!;
      line += fields[2]!;
      out.push([col, line]);
    } else if (fields.length >= 1) {
      col += fields[0]!;
    }
    fields.length = 0;
  };
  for (let i = 0; i < mappings.length; i++) {
    const ch = mappings.charCodeAt(i);
    if (ch === 44 /* , */ || ch === 59 /* ; */) {
      flushSegment();
      continue;
    }
    const digit = B64_INDEX[ch] ?? -1;
    if (digit < 0) continue;
    value += (digit & 31) * 2 ** shift;
    if (digit & 32) {
      shift += 5;
    } else {
      const negative = value % 2 === 1;
      const magnitude = Math.floor(value / 2);
      fields.push(negative ? -magnitude : magnitude);
      value = 0;
      shift = 0;
    }
  }
  flushSegment();
  return out;
}

/** The [code offset, instruction index] pairs of a Binaryen source map. */
export function insnMapFromSourceMap(sourceMap: string | null): Array<[number, number]> {
  if (!sourceMap) return [];
  const parsed = JSON.parse(sourceMap) as { mappings?: string };
  // Binaryen stores line L as L - 1 and drops a first mapping equal to the initial state (line 0),
  // so the compiler sets line = instruction index + 2: stored lines are index + 1, never 0.
  return decodeSourceMapMappings(parsed.mappings ?? '').map(([off, line]) => [off, line - 1] as [number, number]);
}
