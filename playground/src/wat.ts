/**
 * The WAT pane: the module as text (wabt's `toText`, loaded on demand) and, for each line of it
 * that is an instruction of a function body, the eBPF instruction it was compiled from.
 *
 * wabt prints one instruction per line in body order (`foldExprs: false`), so the k-th
 * instruction line of a function is the k-th instruction of its body. `codeOffsets` walks the
 * code section to find each instruction's byte offset in the module, and the module's
 * `bpf2wasm.insnmap` section (code offset -> eBPF instruction) maps the offset to the eBPF
 * instruction; a function whose line count does not match is left unmapped (no highlight) rather
 * than mapped wrongly.
 */
/** The custom section holding the code offset -> eBPF instruction pairs (runtime/insnmap.ts). */
const INSN_MAP_SECTION = 'bpf2wasm.insnmap';

/** The pairs of the section: u32 count, then `count` offsets, then `count` instructions (LE). */
function insnPairs(wasm: Uint8Array): Array<[number, number]> {
  const payload = WebAssembly.Module.customSections(new WebAssembly.Module(wasm as BufferSource), INSN_MAP_SECTION)[0];
  if (!payload || payload.byteLength < 4 || payload.byteLength % 4 !== 0) return [];
  const w = new Uint32Array(payload.slice(0));
  const n = Math.min(w[0]!, Math.floor((w.length - 1) / 2));
  const out: Array<[number, number]> = [];
  for (let i = 0; i < n; i++) out.push([w[1 + i]!, w[1 + n + i]!]);
  return out.sort((a, b) => a[0] - b[0]);
}

/** Reads an unsigned LEB128 at `o`; returns [value, next offset]. */
function uleb(b: Uint8Array, o: number): [number, number] {
  let v = 0;
  let shift = 0;
  for (;;) {
    const byte = b[o++];
    if (byte === undefined) throw new Error('truncated LEB128');
    v += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if ((byte & 0x80) === 0) return [v, o];
  }
}
/** Skips a (signed or unsigned) LEB128. */
function skipLeb(b: Uint8Array, o: number): number {
  while ((b[o++]! & 0x80) !== 0) if (o > b.length) throw new Error('truncated LEB128');
  return o;
}

/**
 * The byte offset (from the module start) of every instruction of every defined function, in
 * order, the final `end` of each body left out (wabt prints it as the closing parenthesis).
 * Throws on an opcode it does not know.
 */
export function codeOffsets(wasm: Uint8Array): Array<{ start: number; end: number; offsets: number[] }> {
  let o = 8;
  const out: Array<{ start: number; end: number; offsets: number[] }> = [];
  while (o < wasm.length) {
    const id = wasm[o++]!;
    let size: number;
    [size, o] = uleb(wasm, o);
    const end = o + size;
    if (id === 10) {
      let count: number;
      let p: number;
      [count, p] = uleb(wasm, o);
      for (let f = 0; f < count; f++) {
        let bodySize: number;
        [bodySize, p] = uleb(wasm, p);
        const bodyStart = p;
        const bodyEnd = p + bodySize;
        let groups: number;
        [groups, p] = uleb(wasm, p);
        for (let g = 0; g < groups; g++) {
          p = skipLeb(wasm, p);
          p += 1; // value type
        }
        const offsets: number[] = [];
        while (p < bodyEnd) {
          offsets.push(p);
          p = skipInstruction(wasm, p);
        }
        offsets.pop(); // the body's final `end`
        out.push({ start: bodyStart, end: bodyEnd, offsets });
        p = bodyEnd;
      }
    }
    o = end;
  }
  return out;
}

/** Returns the offset after the instruction at `p`. */
function skipInstruction(b: Uint8Array, p: number): number {
  const op = b[p++]!;
  if (op <= 0x01 || op === 0x05 || op === 0x0b || op === 0x0f || op === 0x1a || op === 0x1b || (op >= 0x45 && op <= 0xc4) || op === 0xd1) return p;
  if (op >= 0x02 && op <= 0x04) return b[p] === 0x40 || (b[p]! >= 0x6f && b[p]! <= 0x7f) ? p + 1 : skipLeb(b, p);
  if (op === 0x0c || op === 0x0d || op === 0x10 || op === 0x12 || (op >= 0x20 && op <= 0x26) || op === 0xd2 || op === 0x41 || op === 0x42) return skipLeb(b, p);
  if (op === 0x0e) {
    let n: number;
    [n, p] = uleb(b, p);
    for (let i = 0; i <= n; i++) p = skipLeb(b, p);
    return p;
  }
  if (op === 0x11 || op === 0x13) return skipLeb(b, skipLeb(b, p));
  if (op === 0x1c) {
    let n: number;
    [n, p] = uleb(b, p);
    return p + n;
  }
  if (op >= 0x28 && op <= 0x3e) return skipLeb(b, skipLeb(b, p));
  if (op === 0x3f || op === 0x40 || op === 0xd0) return p + 1;
  if (op === 0x43) return p + 4;
  if (op === 0x44) return p + 8;
  if (op === 0xfc) {
    let sub: number;
    [sub, p] = uleb(b, p);
    if (sub <= 7) return p;
    if (sub === 8) return skipLeb(b, p) + 1;
    if (sub === 9 || sub === 13 || (sub >= 15 && sub <= 17)) return skipLeb(b, p);
    if (sub === 10) return p + 2;
    if (sub === 11) return p + 1;
    if (sub === 12 || sub === 14) return skipLeb(b, skipLeb(b, p));
  }
  throw new Error(`unknown opcode 0x${op.toString(16)}`);
}

/** The WAT text and, per line, the eBPF instruction it implements (-1: none). */
export interface WatView {
  readonly lines: readonly string[];
  readonly insnOfLine: Int32Array;
}

type Wabt = { readWasm(b: Uint8Array, o: object): { generateNames(): void; applyNames(): void; toText(o: object): string; destroy(): void } };
let wabtPromise: Promise<Wabt> | undefined;

/** Loads wabt (a separate chunk) on first use. */
export function loadWabt(): Promise<Wabt> {
  wabtPromise ??= import('wabt').then(async (m) => {
    const init = (m as unknown as { default: () => Promise<Wabt> }).default;
    return init();
  }).catch((e: unknown) => {
    wabtPromise = undefined;
    throw e;
  });
  return wabtPromise;
}

/** Prints `wasm` as WAT and maps its instruction lines to eBPF instructions. */
export async function watView(wasm: Uint8Array): Promise<WatView> {
  const wabt = await loadWabt();
  const mod = wabt.readWasm(wasm, { readDebugNames: true });
  let text: string;
  try {
    mod.generateNames();
    mod.applyNames();
    text = mod.toText({ foldExprs: false, inlineExport: false });
  } finally {
    mod.destroy();
  }
  const lines = text.replace(/\n$/, '').split('\n');
  const insnOfLine = new Int32Array(lines.length).fill(-1);
  const pairs = insnPairs(wasm);
  let bodies: ReturnType<typeof codeOffsets>;
  try {
    bodies = codeOffsets(wasm);
  } catch {
    return { lines, insnOfLine };
  }
  // Function starts in the text (imports are `(import ... (func ...))`, not matched).
  const starts: number[] = [];
  lines.forEach((l, i) => {
    if (/^ {2}\(func\b/.test(l)) starts.push(i);
  });
  if (starts.length !== bodies.length) return { lines, insnOfLine };
  starts.forEach((start, f) => {
    const { start: bodyStart, end: bodyEnd, offsets } = bodies[f]!;
    // This body's pairs: an instruction belongs to the last pair at or before it.
    const own = pairs.filter(([off]) => off >= bodyStart && off < bodyEnd);
    let i = start + 1;
    while (i < lines.length && /^\s*\(local\b/.test(lines[i]!)) i++;
    const end = starts[f + 1] ?? lines.findIndex((l, j) => j > start && /^ {2}\((?!func)/.test(l));
    const stop = end < 0 ? lines.length : end;
    if (offsets.length === 0 || stop - i < offsets.length) return;
    let next = 0;
    let current = -1;
    for (let k = 0; k < offsets.length; k++) {
      while (next < own.length && own[next]![0] <= offsets[k]!) current = own[next++]![1];
      insnOfLine[i + k] = current;
    }
  });
  return { lines, insnOfLine };
}
