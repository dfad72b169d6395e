/**
 * The initial contents of a standalone module's memory, computed at compile time: the object's
 * maps created exactly as the JS runtime creates them at instantiate (descriptors, metadata,
 * hash seeds, the descriptor table the maps module checks pointers against, global data, static
 * prog-array and map-of-maps slots; runtime/object.ts ObjectRuntime.create), run here in a
 * scratch memory, then taken as data segments; and the support module's configuration words
 * (wasm/standalone/config.ts).
 */
import { NULL_GUARD_SIZE, SCRATCH_SIZE, type Manifest } from '../../runtime/abi.js';
import { ObjectRuntime } from '../../runtime/object.js';

/** One active data segment: bytes at an address. */
export interface DataSegment {
  address: number;
  bytes: Uint8Array;
}

/** Addresses of the configuration words (wasm/standalone/config.ts; a test checks they agree). */
export const STANDALONE_CONFIG = {
  floor: 0x1100,
  data: 0x1104,
  maxPages: 0x1108,
  keyScratch: 0x110c,
  keySlot: 0x1110,
  keySlots: 0x1114,
  callbacks: 0x1118,
} as const;

/** Zero runs at least this long split a segment (each segment costs about 6 bytes). */
const ZERO_RUN = 16;

/**
 * The data segments of a module compiled from `manifest`: the maps region as `ObjectRuntime`
 * leaves it (with `globals` set, as `instantiate({ globals })` sets them) and the configuration.
 */
export async function initialImage(manifest: Manifest, globals: Record<string, unknown> | undefined): Promise<DataSegment[]> {
  const { layout } = manifest;
  let segments: DataSegment[] = [];
  if (manifest.maps) {
    const memory = new WebAssembly.Memory({ initial: layout.initialPages });
    await ObjectRuntime.create(memory, manifest, globals ? { globals } : {});
    const bytes = new Uint8Array(memory.buffer);
    // The maps' scratch (with the descriptor table) up to the stack: everything the runtime wrote.
    segments = nonZeroRuns(bytes, NULL_GUARD_SIZE + SCRATCH_SIZE / 2, layout.stackBase);
  }

  const config = new DataView(new ArrayBuffer(STANDALONE_CONFIG.callbacks + 4 - STANDALONE_CONFIG.floor));
  const put = (at: number, v: number): void => config.setUint32(at - STANDALONE_CONFIG.floor, v >>> 0, true);
  put(STANDALONE_CONFIG.floor, layout.arenaBase ?? layout.stackBase);
  put(STANDALONE_CONFIG.data, layout.dataBase);
  put(STANDALONE_CONFIG.maxPages, layout.maximumPages);
  put(STANDALONE_CONFIG.keyScratch, manifest.keyScratch?.address ?? 0);
  put(STANDALONE_CONFIG.keySlot, manifest.keyScratch?.slotSize ?? 0);
  put(STANDALONE_CONFIG.keySlots, manifest.keyScratch?.slots ?? 0);
  put(STANDALONE_CONFIG.callbacks, manifest.callbacks?.length ?? 0);
  segments.unshift({ address: STANDALONE_CONFIG.floor, bytes: new Uint8Array(config.buffer) });
  return segments;
}

/** The runs of `bytes[from, to)` that are not zero, merged across zero gaps shorter than ZERO_RUN. */
export function nonZeroRuns(bytes: Uint8Array, from: number, to: number): DataSegment[] {
  const out: DataSegment[] = [];
  let i = from;
  while (i < to) {
    while (i < to && bytes[i] === 0) i++;
    if (i >= to) break;
    const start = i;
    let lastNonZero = i;
    while (i < to && i - lastNonZero < ZERO_RUN) {
      if (bytes[i] !== 0) lastNonZero = i;
      i++;
    }
    out.push({ address: start, bytes: bytes.slice(start, lastNonZero + 1) });
    i = lastNonZero + 1;
  }
  return out;
}
