/**
 * The code-offset -> instruction-index map carried in a module's INSN_MAP_SECTION, and the lookup
 * that turns a Wasm trap's stack trace into the eBPF instruction that faulted.
 */

/** Encodes [offset, insn] pairs: u32 count, then `count` offsets, then `count` insns (LE). */
export function encodeInsnMap(pairs: Array<[number, number]>): Uint8Array {
  const sorted = [...pairs].sort((a, b) => a[0] - b[0]);
  return encodeInsnMapColumns(sorted.map((p) => p[0]), sorted.map((p) => p[1]));
}

/** The same from two columns already sorted by code offset (what the direct writer collects). */
export function encodeInsnMapColumns(offsets: ArrayLike<number>, insns: ArrayLike<number>): Uint8Array {
  const n = offsets.length;
  const out = new Uint32Array(1 + 2 * n);
  out[0] = n;
  for (let i = 0; i < n; i++) {
    out[1 + i] = offsets[i]!;
    out[1 + n + i] = insns[i]!;
  }
  return new Uint8Array(out.buffer);
}

/** A decoded instruction map. */
export class InsnMap {
  private readonly offsets: Uint32Array;
  private readonly insns: Uint32Array;

  constructor(payload: ArrayBuffer | undefined) {
    if (!payload || payload.byteLength < 4 || payload.byteLength % 4 !== 0) {
      this.offsets = new Uint32Array(0);
      this.insns = new Uint32Array(0);
      return;
    }
    const words = new Uint32Array(payload.slice(0));
    const n = Math.min(words[0]!, Math.floor((words.length - 1) / 2));
    this.offsets = words.subarray(1, 1 + n);
    this.insns = words.subarray(1 + n, 1 + 2 * n);
  }

  /** The instruction whose code starts at or most closely before `offset`, if any. */
  lookup(offset: number): number | undefined {
    let lo = 0;
    let hi = this.offsets.length - 1;
    let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.offsets[mid]! <= offset) {
        best = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return best < 0 ? undefined : this.insns[best];
  }
}

/**
 * Extracts the module byte offset of the innermost Wasm frame from an error's stack, as V8
 * (`wasm-function[3]:0x1a2`) and SpiderMonkey (`wasm-function[3]:0x1a2`) print it.
 */
export function trapOffsetFromStack(stack: string | undefined): number | undefined {
  if (!stack) return undefined;
  const m = /wasm-function\[\d+\]:0x([0-9a-f]+)/i.exec(stack);
  return m ? parseInt(m[1]!, 16) : undefined;
}
