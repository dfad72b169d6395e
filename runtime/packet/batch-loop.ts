/**
 * The batch loop: a small Wasm module, encoded here by hand (the runtime has no compiler), that
 * runs a packet program over frames laid out in linear memory, each exactly as the test run
 * (testrun.ts) lays it out, with no JS per frame. It imports the instance's memory and the
 * program's exported entry, and exports `batch`:
 *
 *   batch(base, lens, n, inAt, inEnd, res, out, outLimit, flags) -> frames run
 *
 * Frame k is `lens[k]` bytes (a u32 array at `lens`), back to back from `inAt`. For each frame
 * the loop stops (returns k) when the frame is not one the loop takes (shorter than an Ethernet
 * header or longer than the test run's linear room, or for skbs an IP frame shorter than its
 * header: the caller runs it alone), when it does not
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
import {
  BpfSock, CONTEXT_AREA, ETH_HLEN, LOOPBACK, PAGE_SIZE, PacketType, SKB_HEADROOM, SKB_MAX_DATA, SKB_ROOM_AFTER, SKB_ROOM_BEFORE,
  SKB_SOCKET_AREA, SkBuff, SkbPrivate, XDP_MAX_LINEAR, XDP_PACKET_HEADROOM, XdpMd,
} from './layout.js';

/**
 * The export of a program's batch loop inside its own module: `<program export>__batch2`
 * (compiler/batch-export.ts). The number goes up when what the loop presents changes (2: the
 * dummy socket's `struct bpf_sock` for skb->sk, and IP frames shorter than their header left to
 * the per-frame path), so that a module compiled before keeps its loop unused and gets the
 * runtime's loop module, which is this one.
 */
export const BATCH_EXPORT_SUFFIX = '__batch2';

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

function sleb(v: number): Code {
  const out: Code = [];
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const name = (s: string): Code => [...uleb(s.length), ...[...s].map((c) => c.charCodeAt(0))];
const section = (id: number, body: Code): Code => [id, ...uleb(body.length), ...body];

const get = (l: number): Code => [0x20, l];
const set = (l: number): Code => [0x21, l];
const c = (v: number): Code => [0x41, ...sleb(v | 0)];
// A loop, not Array.prototype.flat: V8's flat reads every element through the generic property
// path, which made encoding a loop body ~0.4 ms (skb: ~3 ms) in a fresh process.
const cat = (...parts: Code[]): Code => {
  const out: Code = [];
  for (const p of parts) for (let i = 0; i < p.length; i++) out.push(p[i]!);
  return out;
};
const bin = (op: number) => (a: Code, b: Code): Code => [...a, ...b, op];
const add = bin(0x6a);
const sub = bin(0x6b);
const and = bin(0x71);
const or = bin(0x72);
const shl = bin(0x74);
const shrU = bin(0x76);
const eq = bin(0x46);
const gtU = bin(0x4b);
const geU = bin(0x4f);
const eqz = (a: Code): Code => [...a, 0x45];
/** `cond ? a : b` (both evaluated). */
const select = (a: Code, b: Code, cond: Code): Code => [...a, ...b, ...cond, 0x1b];
const load = (addr: Code, off = 0): Code => [...addr, 0x28, 2, ...uleb(off)];
const load8 = (addr: Code, off = 0): Code => [...addr, 0x2d, 0, ...uleb(off)];
const load16 = (addr: Code, off = 0): Code => [...addr, 0x2f, 1, ...uleb(off)];
const load64 = (addr: Code, off = 0): Code => [...addr, 0x29, 3, ...uleb(off)];
const store = (addr: Code, value: Code, off = 0): Code => [...addr, ...value, 0x36, 2, ...uleb(off)];
const store64 = (addr: Code, value: Code, off = 0): Code => [...addr, ...value, 0x37, 3, ...uleb(off)];
const when = (cond: Code, ...then: Code[]): Code => [...cond, 0x04, 0x40, ...cat(...then), 0x0b];
/** Branch to the enclosing block `depth` levels out when `cond`. */
const brIf = (depth: number, cond: Code): Code => [...cond, 0x0d, depth];


// Parameters, then locals.
const BASE = 0, LENS = 1, N = 2, IN_AT = 3, IN_END = 4, RES = 5, OUT = 6, LIMIT = 7, FLAGS = 8;
const I = 9, OFF = 10, LEN = 11, DATA = 12, D = 13, OLEN = 14, R = 15, T = 16, DST = 17;
const LOCALS = 9;

const flag = (f: number): Code => and(get(FLAGS), c(f));

/** Zeroes [at + from, at + from + len) with 8-byte stores in a loop (len a multiple of 8, > 0; no call out of the code). Uses local T. */
function zero(at: Code, from: number, len: number): Code {
  return cat(
    c(from), set(T),
    [0x03, 0x40],
    store64(add(at, get(T)), [0x42, 0]),
    add(get(T), c(8)), set(T),
    brIf(0, [...get(T), ...c(from + len), 0x48]), // i32.lt_s: `from` may be negative
    [0x0b],
  );
}

/**
 * LEN bytes from `src` to `dst` (locals), 32 bytes at a time (four 8-byte loads and stores per
 * iteration: a 64-byte frame costs two turns), then 8 at a time, then the last bytes one by one:
 * memory.copy calls out of the generated code, which costs more than the copy for frames this
 * size. Exactly `len` bytes are read and written, as the test run's copy. Uses local T.
 */
function copyBytes(dst: number, src: number, len: number): Code {
  return cat(
    c(0), set(T),
    [0x02, 0x40, 0x03, 0x40],
    brIf(1, gtU(add(get(T), c(32)), get(len))),
    ...[0, 8, 16, 24].map((o) => store64(add(get(dst), get(T)), load64(add(get(src), get(T)), o), o)),
    add(get(T), c(32)), set(T),
    [0x0c, 0, 0x0b, 0x0b],
    [0x02, 0x40, 0x03, 0x40],
    brIf(1, gtU(add(get(T), c(8)), get(len))),
    store64(add(get(dst), get(T)), load64(add(get(src), get(T)))),
    add(get(T), c(8)), set(T),
    [0x0c, 0, 0x0b, 0x0b],
    [0x02, 0x40, 0x03, 0x40],
    brIf(1, geU(get(T), get(len))),
    add(get(dst), get(T)), load8(add(get(src), get(T))), [0x3a, 0, 0], // i32.store8
    add(get(T), c(1)), set(T),
    [0x0c, 0, 0x0b, 0x0b],
  );
}

/** The frame from the input (OFF) to its place in the buffer (DATA); encoded when a loop is, not at import. */
const copyFrame = (): Code => copyBytes(DATA, OFF, LEN);

/** The encoder's pieces the XDP and skb frames use (batch-loop-frames.ts). */
export { get, set, c, cat, add, sub, and, or, shl, shrU, eq, gtU, geU, eqz, select, load, load8, load16, load64, store, store64, when, brIf, flag, zero, copyBytes, copyFrame, BASE, OUT, OFF, LEN, DATA, D, OLEN, T, DST };
export type { Code };

/** What a context kind adds to the loop: its setup, a frame's own stop condition, the frame's buffer, r2, the output frame. */
export interface FrameCode { setup: Code; refuse: Code; frame: Code; entryLength: Code; output: Code }

/**
 * Classic filters (runtime/capture/classic.ts's calling convention): the captured bytes at the
 * data address followed by the original length (u32), r1 = their address, r2 = their length.
 */
export function classicFrame(): FrameCode {
  return {
    refuse: [],
    setup: cat(get(BASE), set(DATA)),
    frame: cat(copyFrame(), store(add(get(DATA), get(LEN)), load(add(get(LENS), shl(get(I), c(2))), ORIG_LENS))),
    entryLength: get(LEN),
    output: [],
  };
}

/**
 * A loop function's locals and code around the call of the program (`call <program>`), the only
 * part that depends on the program's function index: `head` ends with the call's two arguments,
 * `tail` follows the call.
 */
export interface LoopParts {
  readonly head: readonly number[];
  readonly tail: readonly number[];
}

/**
 * The parts of `kind`'s loop function. The compiler does not run this encoder: it copies what it
 * gives from compiler/batch-loop-code.ts (generated from it by scripts/gen-batch-loop.ts), since
 * encoding cost ~0.5-0.8 ms of a fresh process's first compile of an XDP or skb program. The
 * runtime's loop modules run it once per kind (`loopModule`).
 */
export function loopParts(kind: LoopKind, k: FrameCode): LoopParts {
  const head = cat(
    [1, LOCALS, I32], // the locals: LOCALS i32
    k.setup,
    get(IN_AT), set(OFF),
    [0x02, 0x40], // block
    [0x03, 0x40], // loop
    brIf(1, geU(get(I), get(N))),
    load(add(get(LENS), shl(get(I), c(2)))), set(LEN),
    // a frame the loop does not take, the end of the chunk, a full output area: back to the caller
    brIf(1, gtU(sub(get(LEN), c(LOOP_MIN_LEN[kind])), c(LOOP_MAX_LEN[kind] - LOOP_MIN_LEN[kind]))),
    brIf(1, gtU(add(get(OFF), get(LEN)), get(IN_END))),
    brIf(1, gtU(get(OUT), get(LIMIT))),
    k.refuse,
    store(get(BASE), get(I), W_PROGRESS),
    store(get(BASE), get(OFF), W_OFF),
    k.frame,
    // the program's arguments (r1, r2); the call follows
    kind === 'classic' ? get(DATA) : get(BASE), k.entryLength,
  );
  const tail = cat(
    set(R),
    store(add(get(RES), shl(get(I), c(2))), get(R)),
    when(flag(LOOP_COPY_OUT),
      k.output,
      store(add(get(RES), shl(get(I), c(2))), get(OLEN), OLENS),
      add(get(OUT), get(OLEN)), set(OUT)),
    add(get(OFF), get(LEN)), set(OFF),
    add(get(I), c(1)), set(I),
    [0x0c, 0], // br loop
    [0x0b], // end loop
    [0x0b], // end block
    store(get(BASE), get(OFF), W_OFF),
    get(I),
    [0x0b], // end function
  );
  return { head, tail };
}

/** The loop function's body (locals and code, without its size) from its parts, calling function `program`. */
export function loopBodyFrom(parts: LoopParts, program: number): number[] {
  return [...parts.head, 0x10, ...uleb(program), ...parts.tail];
}

/** The loop's function type: `(i32 x 9) -> i32`, encoded. */
export const LOOP_TYPE: readonly number[] = [0x60, 9, ...Array<number>(9).fill(I32), 1, I32];

/**
 * The loop's function body (locals and code, without its size) calling the program's entry at
 * function index `program`: the runtime's loop module calls its import 0; the compiler puts the
 * same body into the program's module (compiler/batch-export.ts) to call the entry directly.
 */
export function loopFunctionBody(kind: LoopKind, frame: FrameCode, program: number): number[] {
  return loopBodyFrom(loopParts(kind, frame), program);
}

/** The loop module of one context kind: imports env.memory and p.f (the program), exports `batch`. */
export function loopWasm(kind: LoopKind, frame: FrameCode): Uint8Array<ArrayBuffer> {
  const code = loopFunctionBody(kind, frame, 0);
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [2, 0x60, 2, I32, I32, 1, I32, ...LOOP_TYPE]),
    ...section(2, [2, ...name('env'), ...name('memory'), 0x02, 0x00, 0x00, ...name('p'), ...name('f'), 0x00, 0x00]),
    ...section(3, [1, 1]),
    ...section(7, [1, ...name('batch'), 0x00, 0x01]),
    ...section(10, [1, ...uleb(code.length), ...code]),
  ]);
}

let classicModule: WebAssembly.Module | undefined;
/**
 * The runtime's loop module, for classic filters (compiled once per process). XDP and skb
 * programs have their loop in their own module (compiler/batch-export.ts); their frames' code
 * (batch-loop-frames.ts) is not part of the runtime.
 */
export function classicLoopModule(): WebAssembly.Module {
  return (classicModule ??= new WebAssembly.Module(loopWasm('classic', classicFrame())));
}
