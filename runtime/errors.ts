/**
 * Typed errors shared by the compiler and the runtime.
 *
 * Every error a user can cause carries a stable `code` (tests assert it, never the wording), a
 * `location` saying where (instruction index, source line, ELF section and offset, map or helper
 * name) and a one-sentence message. `formatError` renders the single line the CLI prints.
 */

/** Where an error happened. Every field is optional; the ones that apply are set. */
export interface ErrorLocation {
  /** eBPF instruction index (in 8-byte slots, as `llvm-objdump -d` numbers them). */
  insn?: number;
  /** 1-based line in an assembly source, or in the C source `file` when that is set. */
  line?: number;
  /** C source file of the instruction (from the object's `.BTF.ext` line info), with `line`. */
  file?: string;
  /** The text of that C source line. */
  source?: string;
  /** ELF section name. */
  section?: string;
  /** Byte offset (in the input file, or in the ELF section when `section` is set). */
  offset?: number;
  /** Map name. */
  map?: string;
  /** Helper name or id. */
  helper?: string;
  /** Faulting linear-memory address (runtime faults). */
  address?: number;
  /** Program (function or ELF program) name. */
  program?: string;
  /** 0-based frame index in a capture file (the frame being read when the error was found). */
  frame?: number;
  /** The path of a field in host-supplied state (`net.routes[2].prefix`). */
  field?: string;
}

/** Stable error codes. Add new ones at the end; never renumber or rename. */
export const ErrorCode = {
  // input format
  EmptyProgram: 'E_EMPTY_PROGRAM',
  ProgramTooLarge: 'E_PROGRAM_TOO_LARGE',
  TruncatedInput: 'E_TRUNCATED_INPUT',
  // decoding
  UnknownOpcode: 'E_UNKNOWN_OPCODE',
  BadRegister: 'E_BAD_REGISTER',
  WriteR10: 'E_WRITE_R10',
  TruncatedLddw: 'E_TRUNCATED_LDDW',
  BadLddw: 'E_BAD_LDDW',
  ReservedField: 'E_RESERVED_FIELD',
  // control flow
  JumpOutOfRange: 'E_JUMP_OUT_OF_RANGE',
  JumpIntoLddw: 'E_JUMP_INTO_LDDW',
  FallOffEnd: 'E_FALL_OFF_END',
  BadCallTarget: 'E_BAD_CALL_TARGET',
  JumpAcrossFunction: 'E_JUMP_ACROSS_FUNCTION',
  UnknownHelper: 'E_UNKNOWN_HELPER',
  TooComplex: 'E_TOO_COMPLEX',
  Unsupported: 'E_UNSUPPORTED',
  // assembler
  AsmSyntax: 'E_ASM_SYNTAX',
  // ELF objects
  BadElf: 'E_BAD_ELF',
  // runtime
  MemoryFault: 'E_MEMORY_FAULT',
  CallDepth: 'E_CALL_DEPTH',
  HelperFailed: 'E_HELPER_FAILED',
  BadModule: 'E_BAD_MODULE',
  BadArgument: 'E_BAD_ARGUMENT',
  Trap: 'E_TRAP',
  // the compiler's own bugs
  Internal: 'E_INTERNAL',
  // validation (compile option `validate`)
  Unreachable: 'E_UNREACHABLE',
  UninitRegister: 'E_UNINIT_REGISTER',
  StackOutOfFrame: 'E_STACK_OUT_OF_FRAME',
  InfiniteLoop: 'E_INFINITE_LOOP',
  // instruction budget
  Budget: 'E_BUDGET',
  // maps (issue 4)
  /** A map definition bpf2wasm cannot lay out (unsupported type, sizes out of range, too large). */
  BadMap: 'E_BAD_MAP',
  /** A map operation from JS failed with the kernel's errno (EEXIST, ENOENT, E2BIG, ...). */
  MapOp: 'E_MAP_OP',
  /** A program in an object refers to something missing (map, program, callback). */
  BadObject: 'E_BAD_OBJECT',
  // capture files and classic BPF (issue 9)
  /** A pcap or pcapng file is truncated or corrupt (CaptureError.reason says how). */
  BadCapture: 'E_BAD_CAPTURE',
  /** A capture's link type cannot be run (only Ethernet can). */
  LinkType: 'E_LINK_TYPE',
  /** Classic BPF: division or modulo by a constant zero. */
  DivByZero: 'E_DIV_BY_ZERO',
  /** Classic BPF: a scratch memory index outside M[0..15]. */
  BadScratch: 'E_BAD_SCRATCH',
  /** Classic BPF: a scratch memory slot read before every path to it has written it. */
  UninitScratch: 'E_UNINIT_SCRATCH',
  /** Classic BPF: a constant shift by 32 or more. */
  BadShift: 'E_BAD_SHIFT',
  /** A program of an instance was run while a run of the same instance was in progress (from a helper). */
  Reentrant: 'E_REENTRANT',
  /** An optional package a feature needs is not installed (binaryen for -O1/-O2, wabt for .wat). */
  MissingDependency: 'E_MISSING_DEPENDENCY',
  /** A packet test run refused its input as BPF_PROG_TEST_RUN does (the errno is in the message). */
  TestRun: 'E_TEST_RUN',
  /** Host-supplied network state (`net`: interfaces, routes, neighbours, sockets) is malformed; `location.field` names the field. */
  HostState: 'E_HOST_STATE',
  /**
   * `--standalone` (compileStandalone): a program calls a helper only a host can provide (packet
   * helpers of the JS test run, custom helpers, kfuncs, callx); the message names helper and program.
   */
  StandaloneHelper: 'E_STANDALONE_HELPER',
  /**
   * A program ran an instruction poisoned by a CO-RE relocation that could not be resolved against
   * the runtime's context BTF (libbpf's `call 0xbad2310`); the message names the relocation.
   */
  CoreRelo: 'E_CORE_RELO',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Base class of every error bpf2wasm raises on purpose. */
export class Bpf2WasmError extends Error {
  readonly code: ErrorCode;
  readonly location: ErrorLocation;
  /** The message without the code and location prefix. */
  readonly detail: string;

  constructor(code: ErrorCode, detail: string, location: ErrorLocation = {}, options?: { cause?: unknown }) {
    super(formatMessage(code, detail, location), options);
    this.name = new.target.name;
    this.code = code;
    this.location = location;
    this.detail = detail;
  }
}

/** The program was rejected before it ran (decode, validation, code generation). */
export class CompileError extends Bpf2WasmError {}

/** Assembly text could not be assembled. */
export class AsmError extends Bpf2WasmError {}

/** A running program faulted (memory fault, call depth, helper failure). */
export class BpfRuntimeError extends Bpf2WasmError {}

/**
 * A feature needs an optional package that is not installed (`binaryen` for -O1/-O2, `wabt` for
 * `.wat` output); code `E_MISSING_DEPENDENCY`, and the message says what to install.
 */
export class MissingDependencyError extends Bpf2WasmError {
  /** The npm package to install. */
  readonly dependency: string;

  constructor(dependency: string, detail: string, options?: { cause?: unknown }) {
    super(ErrorCode.MissingDependency, detail, {}, options);
    this.dependency = dependency;
  }
}

/** A bug in bpf2wasm itself, never the user's fault. */
export class InternalError extends Bpf2WasmError {}

/** Renders a location as `insn 3`, `line 7`, `section .text offset 0x40`, ... */
export function formatLocation(loc: ErrorLocation): string {
  const parts: string[] = [];
  if (loc.program !== undefined) parts.push(`program ${loc.program}`);
  if (loc.section !== undefined) parts.push(`section ${loc.section}`);
  if (loc.frame !== undefined) parts.push(`frame ${loc.frame}`);
  if (loc.line !== undefined && loc.file === undefined) parts.push(`line ${loc.line}`);
  if (loc.insn !== undefined) parts.push(`insn ${loc.insn}`);
  if (loc.offset !== undefined) parts.push(`offset 0x${loc.offset.toString(16)}`);
  if (loc.map !== undefined) parts.push(`map ${loc.map}`);
  if (loc.helper !== undefined) parts.push(`helper ${loc.helper}`);
  if (loc.address !== undefined) parts.push(`address 0x${(loc.address >>> 0).toString(16)}`);
  if (loc.field !== undefined) parts.push(`field ${loc.field}`);
  return parts.join(', ');
}

function formatMessage(code: ErrorCode, detail: string, loc: ErrorLocation): string {
  const where = formatLocation(loc);
  const message = where ? `${code} at ${where}: ${detail}` : `${code}: ${detail}`;
  return loc.file !== undefined ? `${message}; ${formatSourceLine(loc)}` : message;
}

/** The C line of a location, as the kernel's verifier log names it: `fault.c:18: return *p == 5 ? 1 : 2;`. */
export function formatSourceLine(loc: ErrorLocation): string {
  const at = `${loc.file ?? '?'}:${loc.line ?? 0}`;
  return loc.source ? `${at}: ${loc.source}` : at;
}

/** True for errors raised on purpose by bpf2wasm (as opposed to bugs or host failures). */
export function isBpf2WasmError(e: unknown): e is Bpf2WasmError {
  return e instanceof Bpf2WasmError;
}
