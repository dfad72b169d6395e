/**
 * The contract between a compiled module and the runtime: memory layout, import and export names,
 * fault codes and the manifest that travels inside the module as a custom section.
 *
 * Both the compiler and the runtime import this file; it imports nothing but types.
 *
 * Linear memory layout (addresses are wasm32 byte addresses, all fixed per module by its manifest):
 *
 *     0x0000 ┌────────────────────────────┐
 *            │ null guard (never an object)│  NULL_GUARD_SIZE; from CONST_TABLE_BASE up: the
 *            │                             │  module's constant tables (switch lookups, data segments)
 *     0x1000 ├────────────────────────────┤
 *            │ runtime scratch: r0 result  │  SCRATCH_SIZE
 *     0x2000 ├────────────────────────────┤  (objects with maps only:)
 *            │ map descriptors + metadata  │  hash buckets, keys; not reachable in checked mode
 *            ├────────────────────────────┤  layout.arenaBase
 *            │ map value arena             │  array/hash values, global data, ring buffers
 *            ├────────────────────────────┤  layout.stackBase
 *            │ eBPF stack: maxCallDepth    │
 *            │ frames of frameSize bytes,  │  the entry frame is at the top;
 *            │ growing down                │  r10 of the entry function = layout.stackTop
 *            ├────────────────────────────┤  layout.dataBase
 *            │ input memory / context      │  (the runtime grows memory to fit)
 *            └────────────────────────────┘
 */

import type { TypeDesc } from './values.js';
import type { ContextKind } from './uapi/index.js';

/** Version of this ABI; a module built for another version is refused. */
export const ABI_VERSION = 1;

/** Name of the custom section holding the JSON manifest. */
export const MANIFEST_SECTION = 'bpf2wasm.manifest';
/** Name of the custom section mapping code offsets to eBPF instruction indices. */
export const INSN_MAP_SECTION = 'bpf2wasm.insnmap';

export const NULL_GUARD_SIZE = 0x1000;
/**
 * The module's constant tables (compiler/rewrite/switch-table.ts lookups) live in
 * [CONST_TABLE_BASE, CONST_TABLE_END), inside the null guard: checked mode faults there, the
 * runtime never places anything there, and the module's active data segments write them at
 * instantiation (nothing clears them between runs). The first KiB stays zero.
 */
export const CONST_TABLE_BASE = 0x400;
export const CONST_TABLE_END = NULL_GUARD_SIZE;
export const SCRATCH_BASE = 0x1000;
export const SCRATCH_SIZE = 0x1000;
/** Where the entry function stores the full 64-bit r0 before returning its low half. */
export const RESULT_ADDR = SCRATCH_BASE;
/**
 * The fault record (three u32: FaultCode, eBPF instruction, detail) a compiled module's own fault
 * function writes before it traps (`unreachable`), and the runtime reads (and clears) when it
 * catches the trap. Modules for a standalone host import `env.fault` instead (the support
 * module's hook). Reporting faults without a JavaScript import spares V8 11 the compile of a
 * wasm-to-JS wrapper for a module that imports nothing else (README "Cold start").
 */
export const FAULT_ADDR = SCRATCH_BASE + 0x10;
/** The kernel's per-frame stack size (MAX_BPF_STACK). */
export const DEFAULT_FRAME_SIZE = 512;
/** The kernel's call depth limit (MAX_CALL_FRAMES). */
export const DEFAULT_MAX_CALL_DEPTH = 8;
export const WASM_PAGE = 65536;

/** Import module and names the compiled module uses. */
export const IMPORT_ENV = 'env';
export const IMPORT_MEMORY = 'memory';
/** `fault(code, insn, detail)`: raises a typed runtime error; never returns. */
export const IMPORT_FAULT = 'fault';
export const IMPORT_HELPERS = 'helpers';
/** `callx(id, r1..r5) -> r0`: dispatches a helper call whose id is in a register. */
export const IMPORT_CALLX = 'callx';

/** Numeric fault codes passed to `env.fault`. */
export const FaultCode = {
  CallDepth: 1,
  UnknownHelper: 2,
  MemoryFault: 3,
  Budget: 4,
  /**
   * A poisoned instruction (a CO-RE relocation that could not be resolved) ran; detail: 0. (Not 5:
   * standalone modules report code + 1 as the run's status, and status 6 is their helper misuse.)
   */
  CoreRelo: 6,
} as const;

/**
 * The helper id of libbpf's poisoned instructions (`call 0xbad2310`): what a CO-RE relocation
 * that cannot be resolved turns its instruction into. Running one is the fault
 * {@link FaultCode.CoreRelo}, never a helper call.
 */
export const CORE_POISON_HELPER = 0xbad2310;

/** A poisoned instruction of a module (see {@link Manifest.corePoisons}). */
export interface CorePoisonEntry {
  /** Its instruction index in the module (the index faults report). */
  insn: number;
  /** The program it belongs to. */
  program: string;
  /** The relocation kind (`byte_off`, `enumval_value`, ...). */
  kind: string;
  /** What it refers to (`struct task_struct.pid`) and its access string. */
  what: string;
  access: string;
  /** Why it could not be resolved. */
  reason: string;
}
export type FaultCode = (typeof FaultCode)[keyof typeof FaultCode];

/** How a helper's arguments and result cross the Wasm/JS boundary. */
export type HelperArgKind =
  /** i64 in Wasm; in JS a bigint, signed (as WebAssembly's JS API converts i64). */
  | 'i64'
  /**
   * i32 in Wasm: the register's low 32 bits (pointers into linear memory, sizes, flags). In JS a
   * number, signed (as the JS API converts i32); `x >>> 0` makes it unsigned.
   */
  | 'i32';

export type HelperResultKind =
  | 'i64'
  /** i32 in Wasm: the result is zero-extended into r0. */
  | 'u32'
  /** i32 in Wasm: the result is sign-extended into r0 (negative errno codes). */
  | 's32'
  /** No result: r0 is set to 0. */
  | 'void';

/** A helper's signature at the Wasm boundary. */
export interface HelperSignature {
  args: HelperArgKind[];
  result: HelperResultKind;
}

/** The generic signature used for helpers without a declared one: five i64 in, one i64 out. */
export const GENERIC_HELPER_SIGNATURE: HelperSignature = {
  args: ['i64', 'i64', 'i64', 'i64', 'i64'],
  result: 'i64',
};

/** One helper the module imports. */
export interface HelperImport {
  id: number;
  /** Import name inside the `helpers` module. */
  importName: string;
  /** Human-readable name (`bpf_map_lookup_elem`, or `helper_<id>`). */
  name: string;
  signature: HelperSignature;
  /** A kfunc (an extern function of the object), looked up by name only; `id` is meaningless. */
  kfunc?: boolean;
}

/** Memory layout of a compiled module. */
export interface MemoryLayout {
  /**
   * Lowest address checked mode lets a program access: the map value arena's start for modules
   * with maps, else stackBase. Absent in modules without maps.
   */
  arenaBase?: number;
  stackBase: number;
  /** r10 of the entry function. */
  stackTop: number;
  frameSize: number;
  maxCallDepth: number;
  /** Where input memory / context is placed. */
  dataBase: number;
  /** Initial memory size in 64 KiB pages. */
  initialPages: number;
  /** Maximum memory size in pages. */
  maximumPages: number;
}

/** One entry point of the module. */
export interface ProgramEntry {
  name: string;
  /** Wasm export: `(r1: i32, r2: i32) -> i32` returning r0's low half; the full r0 is at RESULT_ADDR. */
  exportName: string;
  /** First instruction index of the program. */
  insn: number;
  /** Program type (`xdp`, `socket`, ..., or `raw`). */
  type: string;
  /**
   * The struct r1 points to (`xdp_md`, `__sk_buff`, ..., or `raw`), decided by the compiler from
   * the program type (see contextKindOf in runtime/uapi): the runtime builds packet contexts by it.
   */
  context: ContextKind;
  section?: string;
}

/** The description of what a compiled module needs; stored as JSON in MANIFEST_SECTION. */
export interface Manifest {
  abiVersion: number;
  generator: string;
  programs: ProgramEntry[];
  helpers: HelperImport[];
  /** True if the module imports `helpers.callx`. */
  usesCallx: boolean;
  layout: MemoryLayout;
  /** Number of eBPF instruction slots compiled. */
  insnCount: number;
  /** True if compiled in checked memory mode. */
  checked?: boolean;
  /** The instruction budget per run, if compiled with one. */
  budget?: number;
  /** The object's maps, laid out in linear memory (modules compiled from ELF objects). */
  maps?: MapManifest[];
  /** Callbacks (`lddw src_reg=4` targets), exported as `__cb<number>`; numbers start at 1. */
  callbacks?: CallbackEntry[];
  /** True if `bpf_tail_call` is compiled inline (programs of one module tail-call each other). */
  tailCalls?: boolean;
  /** The object's license (`license` section). */
  license?: string;
  /**
   * Modules with maps: program-visible copies of keys for bpf_for_each_map_elem callbacks (keys
   * of hash maps live in metadata, below the arena): `slots` areas of `slotSize` bytes, one per
   * nesting level, at the end of the value arena.
   */
  keyScratch?: { address: number; slotSize: number; slots: number };
  /** Instructions poisoned by CO-RE relocations that could not be resolved (modules from ELF objects). */
  corePoisons?: CorePoisonEntry[];
  /**
   * Modules whose programs call the `bpf_skc_to_*` helpers: where the socket structs they hand
   * out lie, and the layouts the host BTF gives those structs (runtime/packet/sock-cast.ts).
   */
  sockCasts?: SockCastManifest;
}

/**
 * The `bpf_skc_to_*` helpers' memory (compiler/btf/sock-layout.ts computes it): `slots` areas of
 * `slotSize` bytes at `address` (after the maps' key scratch, inside the span checked mode
 * allows), one per socket a run casts, and per kernel struct (`tcp_sock`, `tcp6_sock`,
 * `tcp_timewait_sock`, `tcp_request_sock`, `udp6_sock`) its layout in the host BTF, when the
 * module was compiled with one that has it.
 */
export interface SockCastManifest {
  address: number;
  slotSize: number;
  slots: number;
  types: Record<string, SockLayout>;
}

/**
 * A kernel struct as the host BTF lays it out: its size and its scalar members (integers, enums;
 * not pointers), nested members flattened to C paths (`inet_conn.icsk_inet.sk.sk_mark`,
 * `rtt_min.s[0].v`; anonymous members' fields under their parent's path), each
 * `[path, bitOffset, bits, signed (1/0), count]`: `count` elements of `bits` bits each for an
 * array of scalars (1 otherwise); a bitfield has a `bits` that is not a multiple of 8 or a
 * `bitOffset` not on a byte.
 */
export interface SockLayout {
  size: number;
  fields: [string, number, number, number, number][];
}

/**
 * The export of a program's repeat loop, `<program export>__repeat(r1: i32, r2: i32, n: i32) ->
 * i32`: runs the program n times (n read as unsigned) as n calls of its entry would, and returns
 * the last run's r0 low half (the full r0 is at RESULT_ADDR). Added by compiler/repeat-export.ts;
 * modules compiled before it have none (the runtime then loops in JS).
 */
export const REPEAT_EXPORT_SUFFIX = '__repeat';

/** Export name prefix of callbacks. */
export const CALLBACK_EXPORT_PREFIX = '__cb';

/** A function whose address a program takes for a helper (`bpf_loop`, `bpf_for_each_map_elem`). */
export interface CallbackEntry {
  /** What the program's register holds for it. */
  number: number;
  /** Its first instruction. */
  insn: number;
  exportName: string;
}

/** One map of a compiled object: its definition, where it lives, its types and initial contents. */
export interface MapManifest {
  name: string;
  /** Index in the object (what `lddw src_reg=1` referred to). */
  index: number;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  mapExtra: number;
  /** libbpf pinning (1 = by name: shared between objects in one runtime registry). */
  pinning: number;
  /** Address of the descriptor (runtime/maps/descriptor.ts): the map's pointer. */
  desc: number;
  /** Address and size of its values in the arena. */
  values: number;
  valuesSize: number;
  /** Address and size of its private metadata. */
  meta: number;
  metaSize: number;
  /** Internal map of a data section (`.data`, `.rodata`, `.bss`, ...). */
  internal?: boolean;
  /** The program may not write it (`.rodata`, BPF_F_RDONLY_PROG). */
  readonly?: boolean;
  /** Initial value of an internal map's single entry, base64. */
  initialData?: string;
  /** BTF-derived types of keys and values, when the object has BTF. */
  keyType?: TypeDesc;
  valueType?: TypeDesc;
  /** Variables of a data section. */
  variables?: { name: string; offset: number; size: number; type?: TypeDesc }[];
  /** Static initial slots: PROG_ARRAY -> program name, maps of maps -> map name. */
  initialValues?: { index: number; program?: string; map?: string }[];
  /** Maps of maps: the name of the inner map definition's template, when declared. */
  innerMap?: string;
  /** Maps of maps: the inner map definition every inner map must match. */
  innerDef?: { type: number; keySize: number; valueSize: number; maxEntries: number; flags: number };
  /** An inner map laid out in advance for this map of maps, handed out by createInnerMap. */
  poolOf?: string;
}
