/**
 * The batch loop: a small Wasm module, encoded by hand (the runtime has no compiler: the loop
 * function's code is encoded in batch-loop-encode.ts and kept in batch-loop-code.ts, generated), that
 * runs a packet program over frames laid out in linear memory, each exactly as the test run
 * (testrun.ts) lays it out, with no JS per frame. It imports the instance's memory and the
 * program's exported entry, and exports `batch`:
 *
 *   batch(base, lens, n, inAt, inEnd, res, out, outLimit, flags) -> frames run
 *
 * Frame k is `lens[k]` bytes (a u32 array at `lens`), back to back from `inAt`. For each frame
 * the loop stops (returns k) when the frame is not one the loop takes (shorter than an Ethernet
 * header or longer than the test run's linear room: the caller runs it alone), when it does not
 * end before `inEnd` (the caller copies the next chunk in), or when `out` passed `outLimit`.
 * Otherwise it writes the context and the test run's buffer, calls the program, and stores the
 * return value at `res[k]` and, with LOOP_COPY_OUT, the output frame at `out` (advancing it) and
 * its length at `res[OLENS / 4 + k]`.
 *
 * Words in the context area past the largest context struct (192 bytes) tell the caller and the
 * packet helpers where the loop is: the frame in progress (W_PROGRESS, written before each run,
 * so a trap names its frame), the input offset of the frame in progress or, on return, of the
 * next frame (W_OFF), and for skbs the mac and network headers and the end of the room the
 * helpers may grow into (W_MAC, W_NET, W_HEAD, W_END), which the helpers read and move through the run
 * state (batch.ts makes them accessors).
 */
import { CONTEXT_AREA, ETH_HLEN, SKB_MAX_DATA, SkbPrivate, XDP_MAX_LINEAR } from './layout.js';
import { LOOP_PARTS } from './batch-loop-code.js';

/** The export of a program's batch loop inside its own module: `<program export>__batch` (compiler/batch-export.ts). */
export const BATCH_EXPORT_SUFFIX = '__batch';

/** Loop flag: copy each output frame out. */
export const LOOP_COPY_OUT = 1;
/** Loop flag (XDP): zero the headroom before each frame (a helper can reach it). */
export const LOOP_ZERO_HEADROOM = 2;
/** Loop flag (skb): the program sees the frame from its Ethernet header (tc, socket filters in 'mac' mode). */
export const LOOP_FROM_MAC = 4;

/** Frames per loop call at most (the result arrays are sized for it). */
export const LOOP_MAX_FRAMES = 16384;
/** Where the output lengths are, from `res` (after the return values). */
export const OLENS = 4 * LOOP_MAX_FRAMES;

/** Words at base + W_*: see the module comment. */
export const W_PROGRESS = CONTEXT_AREA - 4;
export const W_OFF = CONTEXT_AREA - 8;
export const W_END = CONTEXT_AREA - 12;
/**
 * The skb's Ethernet header, network header and buffer head: the test run's SkbPrivate words
 * (layout.ts; the batch zeroes them when it ends), which legacy loads at negative offsets read.
 */
export const W_MAC = SkbPrivate.mac;
export const W_NET = SkbPrivate.network;
export const W_HEAD = SkbPrivate.head;

/** `batch(...)`: see the module comment. */
export type BatchLoop = (base: number, lens: number, n: number, inAt: number, inEnd: number, res: number, out: number, outLimit: number, flags: number) => number;

/** Where a classic filter's loop finds the frames' original lengths, from `lens`. */
export const ORIG_LENS = 4 * LOOP_MAX_FRAMES;
/** The longest frame a classic filter's loop takes: pcap's largest snapshot length (frames run in place at the data address). */
export const CLASSIC_MAX_LEN = 262144;

/** The context kinds of the loop: the test run's XDP and skb buffers, and classic filters over captured bytes. */
export type LoopKind = 'xdp' | 'skb' | 'classic';

/** The shortest and longest frame each loop takes. */
export const LOOP_MIN_LEN = { xdp: ETH_HLEN, skb: ETH_HLEN, classic: 0 } as const;
export const LOOP_MAX_LEN = { xdp: XDP_MAX_LINEAR, skb: SKB_MAX_DATA, classic: CLASSIC_MAX_LEN } as const;

// ---- encoding ----

type Code = number[];
const I32 = 0x7f;

/** An unsigned LEB128 (the Wasm binary format's integers); compiler/batch-export.ts uses it too. */
export function uleb(v: number): Code {
  const out: Code = [];
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
}

const name = (s: string): Code => [...uleb(s.length), ...[...s].map((c) => c.charCodeAt(0))];
const section = (id: number, body: Code): Code => [id, ...uleb(body.length), ...body];

/** The loop's function type: `(i32 x 9) -> i32`, encoded. */
export const LOOP_TYPE: readonly number[] = [0x60, 9, ...Array<number>(9).fill(I32), 1, I32];

/**
 * The loop's function body (locals and code, without its size) calling the program's entry at
 * function index `program`: the runtime's loop module calls its import 0; the compiler puts the
 * same body into the program's module (compiler/batch-export.ts) to call the entry directly.
 *
 * The body is encoded by runtime/packet/batch-loop-encode.ts; what it encodes is kept in
 * runtime/packet/batch-loop-code.ts (generated), so that a process does not run the encoder for
 * the first XDP or skb program it compiles (~0.5-0.8 ms in a fresh process).
 */
export function loopFunctionBody(kind: LoopKind, program: number): number[] {
  const { head, tail } = LOOP_PARTS[kind];
  const out: Code = head.slice();
  out.push(0x10);
  for (const b of uleb(program)) out.push(b);
  for (let i = 0; i < tail.length; i++) out.push(tail[i]!);
  return out;
}

/** The loop module of one context kind: imports env.memory and p.f (the program), exports `batch`. */
function loopWasm(kind: LoopKind): Uint8Array<ArrayBuffer> {
  const code = loopFunctionBody(kind, 0);
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [2, 0x60, 2, I32, I32, 1, I32, ...LOOP_TYPE]),
    ...section(2, [2, ...name('env'), ...name('memory'), 0x02, 0x00, 0x00, ...name('p'), ...name('f'), 0x00, 0x00]),
    ...section(3, [1, 1]),
    ...section(7, [1, ...name('batch'), 0x00, 0x01]),
    ...section(10, [1, ...uleb(code.length), ...code]),
  ]);
}

const modules: Partial<Record<LoopKind, WebAssembly.Module>> = {};
/** The loop module of `kind` (compiled once per process). */
export function loopModule(kind: LoopKind): WebAssembly.Module {
  return (modules[kind] ??= new WebAssembly.Module(loopWasm(kind)));
}
