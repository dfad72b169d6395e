/**
 * Validator: the structural checks of the Linux kernel's eBPF verifier that do not need types,
 * run on a decoded program and its CFG before any code is emitted. Each rejection is a
 * CompileError with a stable code, the instruction index (`location.insn`) and a one-sentence
 * message saying which rule the instruction breaks.
 *
 * Checks already done before this module runs (always, validation or not):
 *
 * - runtime/isa/decode.ts: unknown opcodes (E_UNKNOWN_OPCODE), registers above r10
 *   (E_BAD_REGISTER), writes to r10 (E_WRITE_R10), a lddw without its second slot
 *   (E_TRUNCATED_LDDW) or with a malformed one (E_BAD_LDDW), empty and oversized programs.
 * - compiler/cfg.ts: jumps outside the program (E_JUMP_OUT_OF_RANGE), into the second half of a
 *   lddw (E_JUMP_INTO_LDDW) or into another function (E_JUMP_ACROSS_FUNCTION), calls to nowhere
 *   (E_BAD_CALL_TARGET), functions whose last instruction is not exit or ja (E_FALL_OFF_END).
 *
 * Checks done here, in this order (the first failure is reported):
 *
 * 1. Reserved fields (E_RESERVED_FIELD), as the kernel's "BPF_xxx uses reserved fields": every
 *    field an instruction does not use must be zero. Needs the raw bytes (`options.bytes`);
 *    skipped when only a decoded Program is available, because decoding drops unused fields.
 * 2. Unreachable instructions (E_UNREACHABLE), as the kernel's "unreachable insn": every
 *    instruction must be reachable from an entry point through jumps and bpf-to-bpf calls.
 * 3. Infinite loops (E_INFINITE_LOOP): a loop from which no exit instruction can be reached.
 *    A loop that can exit is accepted, whether or not it terminates (that is undecidable in
 *    general; the kernel's answer is to simulate every path, bpf2wasm's is the instruction
 *    budget and the host's own time limits).
 * 4. Uninitialised registers (E_UNINIT_REGISTER), as the kernel's "R%d !read_ok": a register
 *    read before it is written on some path. A forward must-be-initialised dataflow over each
 *    function's CFG (path-insensitive, so slightly stricter than the kernel, which follows
 *    each path separately). At a program entry only r1 (context / input memory) and r10 are
 *    set, as in the kernel; at a bpf-to-bpf callee's entry r1-r5 and r10 are set (r0 and
 *    r6-r9 are not); after any call (helper, callx, kfunc, local) or legacy packet load r0 is
 *    set and r1-r5 are not. Reads are: operands of ALU, jump, load, store and atomic
 *    instructions (including base addresses and the stored value), r0 at exit, r0 for cmpxchg
 *    and the register of callx. Helper arguments are not checked (the arity of a helper is not
 *    known; the kernel checks only the declared arguments). The kernel also requires r6 = ctx
 *    for legacy packet loads; bpf2wasm's packet is the input memory, so r6 is not read.
 *    bpf2wasm's runtime (like the conformance suite's contract) also sets r2 to the length of
 *    the input memory, but the kernel does not, so reading r2 first is rejected by default; no
 *    conformance program does it. Pass `entryRegs: [1, 2, 10]` to accept such programs.
 * 5. Stack accesses at constant offsets outside the frame (E_STACK_OUT_OF_FRAME), as the
 *    kernel's "invalid stack off": an access through r10, or through a register holding r10
 *    plus a constant on every path (copies of r10 adjusted by add/sub of immediates), must lie
 *    within [r10 - frameSize, r10).
 *
 * Checks of the kernel verifier NOT done, and what protects the host instead:
 *
 * - Pointer types and provenance (PTR_TO_CTX, PTR_TO_MAP_VALUE, PTR_TO_PACKET, scalar vs
 *   pointer, pointer arithmetic rules, pointer leaks), bounds tracking of scalars and pointers,
 *   packet-range checks, alignment, reads of uninitialised stack slots, division by a constant
 *   zero and out-of-range constant shifts (both have defined results in RFC 9669), helper
 *   argument types, reference tracking (locks, ringbuf records, socket refs), and the 8-frame /
 *   512-byte combined stack-depth analysis.
 * - Instead: a compiled program is a WebAssembly module; every load and store goes to the
 *   module's own linear memory (stack, scratch, input data) and an access outside it traps and
 *   becomes E_MEMORY_FAULT naming the instruction, so a wrong pointer can corrupt only the
 *   program's own memory, never the host. Helpers are imports the host chooses; they receive
 *   plain integers and must treat pointer arguments as untrusted offsets into that memory.
 *   bpf-to-bpf call depth is checked at run time (E_CALL_DEPTH); the runtime's instruction
 *   budget and the host's timeouts bound running time.
 */
import { DEFAULT_FRAME_SIZE } from '../runtime/abi.js';
import { CompileError, ErrorCode } from '../runtime/errors.js';
import { readSlot, type RawSlot } from '../runtime/isa/decode.js';
import type { Insn, Program, Reg } from '../runtime/isa/insn.js';
import { MAX_REG, R10 } from '../runtime/isa/opcodes.js';
import type { FunctionCfg, ProgramCfg } from '../runtime/isa/cfg.js';

/**
 * Error codes raised by the validator that runtime/errors.ts does not list yet.
 * TODO(lead): add to ErrorCode (Unreachable, UninitRegister, StackOutOfFrame, InfiniteLoop) and
 * use those instead of the casts.
 */
export const ValidateErrorCode = {
  Unreachable: ErrorCode.Unreachable,
  UninitRegister: ErrorCode.UninitRegister,
  StackOutOfFrame: ErrorCode.StackOutOfFrame,
  InfiniteLoop: ErrorCode.InfiniteLoop,
} as const;

export interface ValidateOptions {
  /**
   * The program's bytes (8 per slot, as given to decodeProgram). Needed for the reserved-field
   * check, which is skipped without them.
   */
  bytes?: Uint8Array;
  /** Stack bytes per frame; default 512 (the kernel's MAX_BPF_STACK). */
  frameSize?: number;
  /**
   * Slot indices of the program entry points (the same list given to buildCfg). Default:
   * slot 0 and every function no call reaches.
   */
  entryPcs?: readonly number[];
  /** Registers initialised at a program entry; default r1 and r10, as the kernel. */
  entryRegs?: readonly Reg[];
}

/** Registers initialised at a program entry by default, as in the kernel: r1 (context) and r10. */
export const DEFAULT_ENTRY_REGS: readonly Reg[] = [1, R10];
/** Registers initialised at a bpf-to-bpf callee's entry: the arguments r1-r5 and r10. */
export const CALLEE_ENTRY_REGS: readonly Reg[] = [1, 2, 3, 4, 5, R10];

const ALL_REGS = (1 << (MAX_REG + 1)) - 1;
/** r1-r5: clobbered by calls. */
const CALLER_SAVED = 0b111110;

function mask(regs: readonly Reg[]): number {
  let m = 0;
  for (const r of regs) m |= 1 << r;
  return m;
}

function fail(code: ErrorCode, pc: number, detail: string): never {
  throw new CompileError(code, detail, { insn: pc });
}

/**
 * Runs every check (see the module comment) and throws a CompileError for the first violation.
 * `cfg` must come from buildCfg on the same program.
 */
export function validateProgram(program: Program, cfg: ProgramCfg, options: ValidateOptions = {}): void {
  const frameSize = options.frameSize ?? DEFAULT_FRAME_SIZE;
  if (options.bytes) checkReservedFields(program, options.bytes);
  checkReachable(program, cfg);
  for (const fn of cfg.functions) checkLoopsExit(program, fn);

  // Which functions are program entries and which are bpf-to-bpf callees.
  const callees = new Set<number>();
  for (const fn of cfg.functions) {
    for (const b of fn.blocks) {
      for (let i = b.first; i <= b.last; i++) {
        const insn = program.insns[i]!;
        if (insn.kind === 'call_local') callees.add(insn.target);
      }
    }
  }
  const entries = new Set<number>(options.entryPcs ?? [0]);
  const entryMask = mask(options.entryRegs ?? DEFAULT_ENTRY_REGS);
  const calleeMask = mask(CALLEE_ENTRY_REGS);
  for (const fn of cfg.functions) {
    const isCallee = callees.has(fn.startPc);
    // A function nothing calls can only be run as an entry point.
    const isEntry = entries.has(fn.startPc) || !isCallee;
    const init = (isEntry ? entryMask : ALL_REGS) & (isCallee ? calleeMask : ALL_REGS);
    checkDataflow(program, fn, init, frameSize);
  }
}

// ---------------------------------------------------------------------------- reserved fields

function reserved(pc: number, what: string, fields: string): never {
  fail(ErrorCode.ReservedField, pc, `${what} does not use ${fields}, which must therefore be zero`);
}

/**
 * The kernel's reserved-field rules ("BPF_ALU uses reserved fields" and its siblings): a field
 * the instruction does not use must be zero. Opcode, register range and the fields that select
 * an operation (offset of sdiv/movsx, imm of END and atomics) were checked by the decoder.
 */
export function checkReservedFields(program: Program, bytes: Uint8Array): void {
  if (bytes.length < program.slotCount * 8) {
    throw new CompileError(ErrorCode.BadArgument, 'the bytes given for validation are shorter than the program', {});
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const insn of program.insns) checkInsnFields(insn, readSlot(view, insn.pc));
}

function checkInsnFields(insn: Insn, raw: RawSlot): void {
  const { pc } = insn;
  switch (insn.kind) {
    case 'alu':
      if (insn.op === 'neg') {
        if (raw.src !== 0 || raw.imm !== 0) reserved(pc, 'neg', 'the source register and the immediate');
      } else if (insn.src !== null) {
        if (raw.imm !== 0) reserved(pc, `${insn.op} with a register operand`, 'the immediate');
      } else if (raw.src !== 0) {
        reserved(pc, `${insn.op} with an immediate operand`, 'the source register');
      }
      return;
    case 'end':
      if (raw.src !== 0 || raw.off !== 0) reserved(pc, `${insn.op}${insn.bits}`, 'the source register and the offset');
      return;
    case 'lddw':
      if (raw.off !== 0) reserved(pc, 'lddw', 'the offset');
      return;
    case 'ldabs':
      if (raw.dst !== 0 || raw.src !== 0 || raw.off !== 0) reserved(pc, 'ldabs', 'the registers and the offset');
      return;
    case 'ldind':
      if (raw.dst !== 0 || raw.off !== 0) reserved(pc, 'ldind', 'the destination register and the offset');
      return;
    case 'ldx':
      if (raw.imm !== 0) reserved(pc, 'a load', 'the immediate');
      return;
    case 'st':
      if (raw.src !== 0) reserved(pc, 'a store of an immediate', 'the source register');
      return;
    case 'stx':
      if (raw.imm !== 0) reserved(pc, 'a store of a register', 'the immediate');
      return;
    case 'atomic':
      return; // imm selects the operation; every other field is used
    case 'ja':
      if (raw.dst !== 0 || raw.src !== 0) reserved(pc, 'ja', 'the registers');
      if (insn.wide ? raw.off !== 0 : raw.imm !== 0) reserved(pc, insn.wide ? 'ja32' : 'ja', insn.wide ? 'the offset' : 'the immediate');
      return;
    case 'jcond':
      if (insn.src !== null) {
        if (raw.imm !== 0) reserved(pc, `${insn.op} with a register operand`, 'the immediate');
      } else if (raw.src !== 0) {
        reserved(pc, `${insn.op} with an immediate operand`, 'the source register');
      }
      return;
    case 'call':
    case 'call_local':
      if (raw.dst !== 0 || raw.off !== 0) reserved(pc, insn.kind === 'call' ? 'a helper call' : 'a local call', 'the destination register and the offset');
      return;
    case 'kfunc':
      if (raw.dst !== 0) reserved(pc, 'a kfunc call', 'the destination register');
      return;
    case 'callx':
      // Not in the kernel. The register is in dst; some encoders repeat it in imm, so imm is free.
      if (raw.src !== 0 || raw.off !== 0) reserved(pc, 'callx', 'the source register and the offset');
      return;
    case 'exit':
      // The kernel does not check the offset of exit.
      if (raw.dst !== 0 || raw.src !== 0 || raw.imm !== 0) reserved(pc, 'exit', 'the registers and the immediate');
      return;
  }
}

// ---------------------------------------------------------------------------- reachability

/**
 * Every instruction must be reachable from an entry point. The CFG keeps only reachable blocks
 * of functions reachable by calls, so whatever they do not cover is dead code.
 */
function checkReachable(program: Program, cfg: ProgramCfg): void {
  const reached = new Uint8Array(program.insns.length);
  for (const fn of cfg.functions) {
    for (const b of fn.blocks) reached.fill(1, b.first, b.last + 1);
  }
  const i = reached.indexOf(0);
  if (i >= 0) {
    fail(
      ValidateErrorCode.Unreachable,
      program.insns[i]!.pc,
      'this instruction is unreachable: no path from a program entry leads to it',
    );
  }
}

// ---------------------------------------------------------------------------- infinite loops

/**
 * Rejects loops with no way out: the blocks from which no exit is reachable. Every block without
 * an exit has a successor, so such blocks always contain a cycle; the error names the first
 * instruction (lowest index) of the first such cycle.
 */
function checkLoopsExit(program: Program, fn: FunctionCfg): void {
  const { blocks } = fn;
  const n = blocks.length;
  const canExit = new Uint8Array(n);
  const stack: number[] = [];
  for (const b of blocks) {
    if (program.insns[b.last]!.kind === 'exit') {
      canExit[b.id] = 1;
      stack.push(b.id);
    }
  }
  while (stack.length > 0) {
    for (const p of blocks[stack.pop()!]!.preds) {
      if (!canExit[p]) {
        canExit[p] = 1;
        stack.push(p);
      }
    }
  }
  if (canExit.every((x) => x === 1)) return;

  // Strongly connected components of the trapped blocks (iterative Tarjan); report the cyclic
  // component whose first instruction comes first.
  const index = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const onStack = new Uint8Array(n);
  const sccStack: number[] = [];
  let counter = 0;
  let best = -1;
  for (let root = 0; root < n; root++) {
    if (canExit[root] || index[root] !== -1) continue;
    const work: { v: number; i: number }[] = [{ v: root, i: 0 }];
    index[root] = low[root] = counter++;
    sccStack.push(root);
    onStack[root] = 1;
    while (work.length > 0) {
      const top = work[work.length - 1]!;
      const succs = blocks[top.v]!.succs;
      if (top.i < succs.length) {
        const w = succs[top.i++]!;
        if (canExit[w]) continue; // cannot happen: successors of trapped blocks are trapped
        if (index[w] === -1) {
          index[w] = low[w] = counter++;
          sccStack.push(w);
          onStack[w] = 1;
          work.push({ v: w, i: 0 });
        } else if (onStack[w]) {
          low[top.v] = Math.min(low[top.v]!, index[w]!);
        }
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1]!.v;
        low[parent] = Math.min(low[parent]!, low[top.v]!);
      }
      if (low[top.v] === index[top.v]) {
        const comp: number[] = [];
        let w: number;
        do {
          w = sccStack.pop()!;
          onStack[w] = 0;
          comp.push(w);
        } while (w !== top.v);
        const cyclic = comp.length > 1 || blocks[top.v]!.succs.includes(top.v);
        if (cyclic) {
          const first = Math.min(...comp.map((c) => blocks[c]!.first));
          if (best === -1 || first < best) best = first;
        }
      }
    }
  }
  const at = best === -1 ? blocks.find((b) => !canExit[b.id])!.first : best;
  fail(
    ValidateErrorCode.InfiniteLoop,
    program.insns[at]!.pc,
    'this loop never ends: no path from it reaches an exit instruction',
  );
}

// ---------------------------------------------------------------------------- registers and stack

/**
 * Dataflow state at a program point: which registers are initialised on every path, and for each
 * register the constant `k` when it holds r10 + k on every path (NaN otherwise).
 */
interface State {
  init: number;
  /** Registers a call may have clobbered since they were last written (for messages only). */
  clobbered: number;
  fp: Float64Array;
}

function copyState(s: State): State {
  return { init: s.init, clobbered: s.clobbered, fp: s.fp.slice() };
}

/** Meets `from` into `into`; returns true if `into` changed. */
function meet(into: State, from: State): boolean {
  let changed = false;
  const init = into.init & from.init;
  const clobbered = into.clobbered | from.clobbered;
  if (init !== into.init || clobbered !== into.clobbered) {
    into.init = init;
    into.clobbered = clobbered;
    changed = true;
  }
  for (let r = 0; r <= MAX_REG; r++) {
    const a = into.fp[r]!;
    if (!Number.isNaN(a) && a !== from.fp[r]) {
      into.fp[r] = NaN;
      changed = true;
    }
  }
  return changed;
}

function regName(r: Reg): string {
  return `r${r}`;
}

function offText(k: number): string {
  return k < 0 ? `r10${k}` : `r10+${k}`;
}

/** "r1 and r10", "r1-r5 and r10": the registers of a mask, for messages. */
function regList(m: number): string {
  const regs: string[] = [];
  for (let r = 0; r <= MAX_REG; r++) {
    if (!(m & (1 << r))) continue;
    let last = r;
    while (last < MAX_REG && m & (1 << (last + 1))) last++;
    regs.push(last >= r + 2 ? `${regName(r)}-${regName(last)}` : regName(r));
    if (last >= r + 2) r = last;
  }
  if (regs.length <= 1) return regs.join('');
  return `${regs.slice(0, -1).join(', ')} and ${regs[regs.length - 1]!}`;
}

class Checker {
  constructor(
    /** Registers set at the function's entry (for messages). */
    private readonly entryInit: number,
    private readonly frameSize: number,
    /** When false, the transfer function runs without checking (fixpoint iteration). */
    public check: boolean,
  ) {}

  private use(s: State, r: Reg, pc: number, subject = `${regName(r)} is read here`): void {
    if (!this.check || (s.init & (1 << r)) !== 0) return;
    const why = (s.clobbered & (1 << r)) !== 0
      ? 'calls and legacy packet loads leave r1-r5 uninitialised'
      : `the function starts with only ${regList(this.entryInit)} set`;
    fail(ValidateErrorCode.UninitRegister, pc, `${subject} but it is not initialised on every path to this instruction (${why})`);
  }

  private mem(s: State, base: Reg, off: number, size: number, pc: number): void {
    this.use(s, base, pc, `${regName(base)} is used as an address`);
    if (!this.check) return;
    const k = s.fp[base]!;
    if (Number.isNaN(k)) return;
    const at = k + off;
    if (at < -this.frameSize || at + size > 0) {
      const via = base === R10 ? '' : ` (through ${regName(base)} = ${offText(k)})`;
      fail(
        ValidateErrorCode.StackOutOfFrame,
        pc,
        `the ${size}-byte stack access at ${offText(at)}${via} is outside the ${this.frameSize}-byte frame r10-${this.frameSize}..r10-1`,
      );
    }
  }

  private set(s: State, r: Reg, fp = NaN): void {
    s.init |= 1 << r;
    s.clobbered &= ~(1 << r);
    s.fp[r] = fp;
  }

  private clobberCall(s: State): void {
    s.init &= ~CALLER_SAVED;
    s.clobbered |= CALLER_SAVED;
    for (let r = 1; r <= 5; r++) s.fp[r] = NaN;
    this.set(s, 0);
  }

  /** Applies one instruction to `s`, checking its reads when `check` is set. */
  step(s: State, insn: Insn): void {
    const pc = insn.pc;
    switch (insn.kind) {
      case 'alu': {
        if (insn.src !== null) this.use(s, insn.src, pc);
        if (insn.op !== 'mov' && insn.op !== 'movsx') this.use(s, insn.dst, pc);
        let fp = NaN;
        if (insn.width === 64) {
          if (insn.op === 'mov' && insn.src !== null) fp = s.fp[insn.src]!;
          else if (insn.op === 'add' && insn.src === null) fp = s.fp[insn.dst]! + insn.imm;
          else if (insn.op === 'sub' && insn.src === null) fp = s.fp[insn.dst]! - insn.imm;
        }
        this.set(s, insn.dst, fp);
        return;
      }
      case 'end':
        this.use(s, insn.dst, pc);
        this.set(s, insn.dst);
        return;
      case 'lddw':
        this.set(s, insn.dst);
        return;
      case 'ldx':
        this.mem(s, insn.src, insn.off, insn.size, pc);
        this.set(s, insn.dst);
        return;
      case 'st':
        this.mem(s, insn.dst, insn.off, insn.size, pc);
        return;
      case 'stx':
        this.mem(s, insn.dst, insn.off, insn.size, pc);
        this.use(s, insn.src, pc, `${regName(insn.src)} is stored here`);
        return;
      case 'atomic':
        this.mem(s, insn.dst, insn.off, insn.size, pc);
        this.use(s, insn.src, pc);
        if (insn.op === 'cmpxchg') {
          this.use(s, 0, pc, 'cmpxchg compares with r0');
          this.set(s, 0);
        } else if (insn.fetch) {
          this.set(s, insn.src);
        }
        return;
      case 'jcond':
        this.use(s, insn.dst, pc);
        if (insn.src !== null) this.use(s, insn.src, pc);
        return;
      case 'ja':
        return;
      case 'callx':
        this.use(s, insn.reg, pc, `callx takes the helper id from ${regName(insn.reg)}`);
        this.clobberCall(s);
        return;
      case 'call':
      case 'call_local':
      case 'kfunc':
        this.clobberCall(s);
        return;
      case 'ldind':
        this.use(s, insn.src, pc);
        this.clobberCall(s);
        return;
      case 'ldabs':
        this.clobberCall(s);
        return;
      case 'exit':
        this.use(s, 0, pc, 'exit returns r0');
        return;
    }
  }
}

function checkDataflow(program: Program, fn: FunctionCfg, entryInit: number, frameSize: number): void {
  const { blocks } = fn;
  const n = blocks.length;
  const entry: State = { init: entryInit, clobbered: 0, fp: new Float64Array(MAX_REG + 1).fill(NaN) };
  entry.fp[R10] = 0;
  const inStates: (State | null)[] = new Array<State | null>(n).fill(null);
  inStates[0] = entry;
  const checker = new Checker(entryInit, frameSize, false);
  const transfer = (b: number, s: State): State => {
    const out = copyState(s);
    const block = blocks[b]!;
    for (let i = block.first; i <= block.last; i++) checker.step(out, program.insns[i]!);
    return out;
  };
  // Worklist to the fixpoint; states only lose facts, so this terminates.
  const queued = new Uint8Array(n);
  const work: number[] = [0];
  queued[0] = 1;
  while (work.length > 0) {
    const b = work.pop()!;
    queued[b] = 0;
    const out = transfer(b, inStates[b]!);
    for (const s of blocks[b]!.succs) {
      const cur = inStates[s];
      let changed: boolean;
      if (cur === null) {
        inStates[s] = copyState(out);
        changed = true;
      } else {
        changed = meet(cur, out);
      }
      if (changed && !queued[s]) {
        queued[s] = 1;
        work.push(s);
      }
    }
  }
  checker.check = true;
  for (let b = 0; b < n; b++) {
    const s = inStates[b];
    if (s !== null) transfer(b, s);
  }
}
