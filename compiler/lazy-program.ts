/**
 * Large programs decoded for the compiler without keeping an object per instruction.
 *
 * A 100k-instruction compile used to keep its decoded instructions, ~9 MB of objects, to the
 * end: the young generation's scavenges copied them and promoted them into old-space pages
 * fresh from the OS. From LAZY_MIN_SLOTS on, `decodeForCompile` checks every slot as
 * `decodeProgram` does (the common instructions without making an object, the rest through
 * the runtime's decoder, so the checks and their errors are the same), keeps a copy of the bytes
 * and four typed columns per instruction (slot, kind, target, frame use), and decodes an
 * instruction again, as a short-lived object, wherever one is asked for (`insnsOf(program)`).
 * Smaller programs are decoded by `decodeProgram` as before. The runtime (the interpreter)
 * never needs this: it lives here, out of the runtime's bundle.
 */
import { decodeLddw, decodeProgram, decodeSlot, readSlotInto, ALU_OPS, JMP_OPS, programSlots, type RawSlot } from '../runtime/isa/decode.js';
import {
  INSN_LIST, insnTarget, insnUsesFrame, LDDW_PSEUDO_FUNC, type AluInsn, type AluOp, type Insn, type InsnList,
  type JcondInsn, type JmpOp, type LoadInsn, type Program, type StoreImmInsn, type StoreRegInsn,
} from '../runtime/isa/insn.js';
import { AluCode, Class, JmpCode, MAX_INSNS, MAX_REG, ModeCode, Op, R10, sizeBytes, Source } from '../runtime/isa/opcodes.js';

/**
 * From this many slots on, programs are decoded lazily. Up to some tens of thousands the
 * objects cost little (they fit in the young generation with everything else a compile keeps),
 * less than decoding each instruction a second time.
 */
export const LAZY_MIN_SLOTS = 32_768;

/** `decodeProgram` for the compiler: the same program (and errors), lazily from LAZY_MIN_SLOTS on. */
export function decodeForCompile(bytes: Uint8Array, options: { maxInsns?: number } = {}): Program {
  const slotCount = programSlots(bytes, options.maxInsns ?? MAX_INSNS);
  if (slotCount < LAZY_MIN_SLOTS) return decodeProgram(bytes, options);
  // A copy of the bytes: instructions are decoded again from them, and the caller may change its
  // buffer afterwards.
  const own = bytes.slice();
  const view = new DataView(own.buffer, own.byteOffset, own.byteLength);
  // Per instruction (at most one per slot) its slot, kind, target and use of the frame, which the
  // CFG reads for every instruction (DecodedInsns answers them without an object).
  const pcs = new Int32Array(slotCount);
  const kinds = new Uint8Array(slotCount);
  const targets = new Int32Array(slotCount);
  const frame = new Uint8Array(slotCount);
  let count = 0;
  const slotToInsn = new Int32Array(slotCount);
  const raw = RAW;
  for (let pc = 0; pc < slotCount; ) {
    readSlotInto(view, pc, raw);
    slotToInsn[pc] = count;
    pcs[count] = pc;
    if (raw.opcode === Op.LDDW) {
      decodeLddw(view, pc, slotCount, raw);
      kinds[count] = K_LDDW;
      targets[count] = raw.src === LDDW_PSEUDO_FUNC ? pc + 1 + raw.imm : -1;
      count++;
      slotToInsn[pc + 1] = -1;
      pc += 2;
      continue;
    }
    const k = commonKind(raw);
    if (k >= 0) {
      kinds[count] = k;
      targets[count] = k === K_JCOND || (k === K_JA && (raw.opcode & 0x07) === Class.JMP) ? pc + raw.off + 1
        : k === K_JA ? pc + raw.imm + 1 : -1;
      frame[count] = (k === K_LDX ? raw.src : k === K_ST || k === K_STX ? raw.dst : 0) === R10 ? 1 : 0;
    } else {
      // Decoded for its checks and these columns only (the object is young garbage).
      const insn = decodeSlot(raw, pc);
      kinds[count] = kindCode(insn.kind);
      targets[count] = insnTarget(insn);
      frame[count] = insnUsesFrame(insn) ? 1 : 0;
    }
    count++;
    pc += 1;
  }
  return new LazyProgram(new DecodedInsns(view, pcs, kinds, targets, frame, count), slotCount, slotToInsn);
}

/**
 * A lazily decoded program. A class, not an object literal with a getter: V8 may decide to
 * allocate a literal's objects straight in the old generation once enough of them survive a
 * collection (allocation-site pretenuring), and a program there keeps the young objects it
 * refers to alive until the next full collection (tried: ~200 page faults per 10k compile).
 */
class LazyProgram implements Program {
  readonly [INSN_LIST]: DecodedInsns;

  constructor(list: DecodedInsns, readonly slotCount: number, readonly slotToInsn: Int32Array) {
    this[INSN_LIST] = list;
  }

  /** The objects, made when first asked for (the interpreter, the validator, tools). */
  get insns(): Insn[] {
    return this[INSN_LIST].all();
  }
}

// The decoder's operation tables indexed by code >> 4.
const ALU_BY_CODE: Array<AluOp | undefined> = new Array<AluOp | undefined>(16).fill(undefined);
for (const [code, op] of ALU_OPS) ALU_BY_CODE[code >> 4] = op;
const JMP_BY_CODE: Array<JmpOp | undefined> = new Array<JmpOp | undefined>(16).fill(undefined);
for (const [code, op] of JMP_OPS) JMP_BY_CODE[code >> 4] = op;

/** Instruction kinds as numbers (DecodedInsns' column) and back. */
const KINDS: ReadonlyArray<Insn['kind']> = [
  'alu', 'end', 'lddw', 'ldx', 'st', 'stx', 'atomic', 'ja', 'jcond', 'call', 'call_local', 'callx', 'kfunc', 'exit', 'ldabs', 'ldind',
];
const K_ALU = 0;
const K_LDDW = 2;
const K_LDX = 3;
const K_ST = 4;
const K_STX = 5;
const K_JA = 7;
const K_JCOND = 8;

/**
 * The kind code of the common instructions decodeSlot accepts without an error (arithmetic but
 * byte swaps, with offset 0; plain loads and stores; jumps), found without making an object;
 * -1 for everything else (rarer shapes, and every invalid one), which decodeSlot then decodes
 * or refuses. Never more permissive than decodeSlot.
 */
function commonKind(raw: RawSlot): number {
  const op = raw.opcode;
  const isReg = (op & Source.X) !== 0;
  // Registers: dst written must be r0-r9; any read register r0-r10.
  switch (op & 0x07) {
    case Class.ALU:
    case Class.ALU64: {
      const code = op & 0xf0;
      if (code === AluCode.END || raw.off !== 0 || raw.dst >= R10 || (isReg && raw.src > MAX_REG)) return -1;
      const alu = ALU_BY_CODE[code >> 4];
      return alu === undefined || (alu === 'neg' && isReg) ? -1 : K_ALU;
    }
    case Class.LDX:
      return (op & 0xe0) === ModeCode.MEM && raw.dst < R10 && raw.src <= MAX_REG ? K_LDX : -1;
    case Class.ST:
      return (op & 0xe0) === ModeCode.MEM && raw.dst <= MAX_REG ? K_ST : -1;
    case Class.STX:
      return (op & 0xe0) === ModeCode.MEM && raw.dst <= MAX_REG && raw.src <= MAX_REG ? K_STX : -1;
    case Class.JMP:
    case Class.JMP32: {
      const code = op & 0xf0;
      if (code === JmpCode.JA) return isReg ? -1 : K_JA;
      if (code === JmpCode.CALL || code === JmpCode.EXIT) return -1;
      if (JMP_BY_CODE[code >> 4] === undefined || raw.dst > MAX_REG || (isReg && raw.src > MAX_REG)) return -1;
      return K_JCOND;
    }
    default:
      return -1;
  }
}

function kindCode(kind: Insn['kind']): number {
  switch (kind) {
    case 'alu': return K_ALU;
    case 'end': return 1;
    case 'lddw': return K_LDDW;
    case 'ldx': return K_LDX;
    case 'st': return K_ST;
    case 'stx': return K_STX;
    case 'atomic': return 6;
    case 'ja': return K_JA;
    case 'jcond': return K_JCOND;
    case 'call': return 9;
    case 'call_local': return 10;
    case 'callx': return 11;
    case 'kfunc': return 12;
    case 'exit': return 13;
    case 'ldabs': return 14;
    case 'ldind': return 15;
  }
}

/** Shared by decodeForCompile and DecodedInsns, which run synchronously and never nest. */
const RAW: RawSlot = { opcode: 0, dst: 0, src: 0, off: 0, imm: 0 };

// What DecodedInsns.peek writes its instructions into (their fields in decodeSlot's order; a
// common shape has no offset, so no sdiv, smod or movsx, and its loads are not sign-extending).
const PEEK_ALU: AluInsn = { kind: 'alu', pc: 0, op: 'add', width: 64, dst: 0, src: null, imm: 0, sxBits: 0 };
const PEEK_LDX: LoadInsn = { kind: 'ldx', pc: 0, size: 8, signed: false, dst: 0, src: 0, off: 0 };
const PEEK_ST: StoreImmInsn = { kind: 'st', pc: 0, size: 8, dst: 0, off: 0, imm: 0 };
const PEEK_STX: StoreRegInsn = { kind: 'stx', pc: 0, size: 8, dst: 0, src: 0, off: 0 };
const PEEK_JCOND: JcondInsn = { kind: 'jcond', pc: 0, op: 'jeq', width: 64, dst: 0, src: null, imm: 0, off: 0, target: 0 };


/**
 * A decoded program's instructions, decoded again from its (checked) bytes on every `get`
 * until `all()` makes the whole array, which is then what `get` returns from.
 */
class DecodedInsns implements InsnList {
  constructor(
    private readonly view: DataView,
    private readonly pcs: Int32Array,
    private readonly kinds: Uint8Array,
    private readonly targets: Int32Array,
    private readonly frame: Uint8Array,
    readonly length: number,
  ) {}

  /** The objects, once `all` made them. */
  private cache: Insn[] | null = null;

  kind(index: number): Insn['kind'] {
    return this.cache !== null ? this.cache[index]!.kind : KINDS[this.kinds[index]!]!;
  }

  pc(index: number): number {
    return this.cache !== null ? this.cache[index]!.pc : this.pcs[index]!;
  }

  target(index: number): number {
    return this.cache !== null ? insnTarget(this.cache[index]!) : this.targets[index]!;
  }

  usesFrame(index: number): boolean {
    return this.cache !== null ? insnUsesFrame(this.cache[index]!) : this.frame[index] === 1;
  }

  get(index: number): Insn | undefined {
    if (this.cache !== null) return this.cache[index];
    if (!(index >= 0 && index < this.length)) return undefined;
    return this.decode(this.pcs[index]!);
  }

  /**
   * The common arithmetic, load, store and conditional jump shapes (commonKind's, nearly every
   * instruction of a large program) are written into one object per kind, with the fields decodeSlot gives them;
   * the rest are decoded as by `get`.
   */
  peek(index: number): Insn | undefined {
    if (this.cache !== null) return this.cache[index];
    if (!(index >= 0 && index < this.length)) return undefined;
    const pc = this.pcs[index]!;
    const raw = RAW;
    readSlotInto(this.view, pc, raw);
    switch (commonKind(raw)) {
      case K_ALU: {
        const x = PEEK_ALU;
        const isReg = (raw.opcode & Source.X) !== 0;
        x.pc = pc;
        x.op = ALU_BY_CODE[(raw.opcode & 0xf0) >> 4]!;
        x.width = (raw.opcode & 0x07) === Class.ALU64 ? 64 : 32;
        x.dst = raw.dst;
        x.src = isReg ? raw.src : null;
        x.imm = isReg ? 0 : raw.imm;
        return x;
      }
      case K_LDX: {
        const x = PEEK_LDX;
        x.pc = pc;
        x.size = sizeBytes(raw.opcode);
        x.dst = raw.dst;
        x.src = raw.src;
        x.off = raw.off;
        return x;
      }
      case K_ST: {
        const x = PEEK_ST;
        x.pc = pc;
        x.size = sizeBytes(raw.opcode);
        x.dst = raw.dst;
        x.off = raw.off;
        x.imm = raw.imm;
        return x;
      }
      case K_JCOND: {
        const x = PEEK_JCOND;
        const isReg = (raw.opcode & Source.X) !== 0;
        x.pc = pc;
        x.op = JMP_BY_CODE[(raw.opcode & 0xf0) >> 4]!;
        x.width = (raw.opcode & 0x07) === Class.JMP ? 64 : 32;
        x.dst = raw.dst;
        x.src = isReg ? raw.src : null;
        x.imm = isReg ? 0 : raw.imm;
        x.off = raw.off;
        x.target = pc + raw.off + 1;
        return x;
      }
      case K_STX: {
        const x = PEEK_STX;
        x.pc = pc;
        x.size = sizeBytes(raw.opcode);
        x.dst = raw.dst;
        x.src = raw.src;
        x.off = raw.off;
        return x;
      }
      default:
        return this.decode(pc);
    }
  }

  all(): Insn[] {
    if (this.cache === null) {
      const insns = new Array<Insn>(this.length);
      for (let i = 0; i < this.length; i++) insns[i] = this.decode(this.pcs[i]!);
      this.cache = insns;
    }
    return this.cache;
  }

  private decode(pc: number): Insn {
    const raw = RAW;
    readSlotInto(this.view, pc, raw);
    // Checked when the program was decoded: these cannot fail now.
    return raw.opcode === Op.LDDW ? decodeLddw(this.view, pc, this.view.byteLength / 8, raw) : decodeSlot(raw, pc);
  }
}

