/**
 * Assembler for the bpf_conformance suite's syntax (see /shared/conformance/README.md):
 *
 *     mov32 %r0, 1              add %r0, %r1            ldxw %r0, [%r1+4]
 *     stxdw [%r10-8], %r2       stw [%r1+2], 5          lddw %r0, 0x1122334455667788
 *     jeq %r1, 5, label         ja +2                   ja32 label
 *     call 5                    call local func1        callx %r2 (also `call %r2`)
 *     lock fetch add [%r1], %r2 be16 %r0                movsx832 %r2, %r1
 *     label:                    # comment               exit
 *
 * Beyond the suite, it accepts what the disassembler prints for instructions the suite has no
 * spelling for, so every canonical program round-trips: `lddw %r1, 0x5, map_fd` (pseudo
 * source), `call runtime 7, 2` (kfunc with module offset), `ldabsw 4`, `ldindh %r1, 4`.
 *
 * The result goes through the Insn form and compiler/encode.ts, so the assembler and the
 * decoder agree on every bit by construction.
 */
import { AsmError, ErrorCode } from '../../runtime/errors.js';
import type { AluOp, AtomicOp, Insn, JmpOp, MemSize, Reg } from '../../runtime/isa/insn.js';
import { LddwSrc, MAX_REG } from '../../runtime/isa/opcodes.js';
import { encodeProgram, insnSlots } from '../encode.js';

/** Names of the lddw pseudo sources in the third operand, index = `src` field value. */
export const LDDW_SOURCE_NAMES: readonly string[] = (() => {
  const names: string[] = [];
  for (const [key, value] of Object.entries(LddwSrc)) names[value] = key.toLowerCase();
  return names;
})();

/** Mnemonic size suffixes, as used by ldx/st/stx and the legacy packet loads. */
export const SIZE_SUFFIX: Readonly<Record<MemSize, string>> = { 1: 'b', 2: 'h', 4: 'w', 8: 'dw' };
const SUFFIX_SIZE: Readonly<Record<string, MemSize>> = { b: 1, h: 2, w: 4, dw: 8 };

const ALU_NAMES: ReadonlySet<string> = new Set<AluOp>([
  'add', 'sub', 'mul', 'div', 'sdiv', 'or', 'and', 'lsh', 'rsh', 'mod', 'smod', 'xor', 'mov', 'arsh',
]);
const JMP_NAMES: ReadonlySet<string> = new Set<JmpOp>([
  'jeq', 'jgt', 'jge', 'jset', 'jne', 'jsgt', 'jsge', 'jlt', 'jle', 'jslt', 'jsle',
]);
const ATOMIC_NAMES: ReadonlySet<string> = new Set<AtomicOp>(['add', 'or', 'and', 'xor', 'xchg', 'cmpxchg']);

/** The implicit label the reference assembler gives the first `exit`, used by e.g. `ja exit`. */
const EXIT_LABEL = 'exit';

const INT32_MIN = -0x8000_0000;
const UINT32_MAX = 0xffff_ffff;

/** A jump or local call whose offset waits for a label to be placed. */
interface Fixup {
  insn: Extract<Insn, { kind: 'ja' | 'jcond' | 'call_local' }>;
  label: string;
  line: number;
}

function fail(line: number, detail: string): never {
  throw new AsmError(ErrorCode.AsmSyntax, detail, { line });
}

/** Parses a decimal or `0x` hex integer with an optional sign, or returns null. */
export function parseInteger(token: string): bigint | null {
  const m = /^([+-]?)(0x[0-9a-f]+|[0-9]+)$/i.exec(token);
  if (!m) return null;
  const magnitude = BigInt(m[2]!);
  return m[1] === '-' ? -magnitude : magnitude;
}

/** Parse state for one source text. */
class Assembler {
  private readonly insns: Insn[] = [];
  private readonly labels = new Map<string, number>();
  private readonly fixups: Fixup[] = [];
  private firstExit: number | null = null;
  private pc = 0;
  private line = 0;

  run(text: string): Insn[] {
    const lines = text.split(/\r?\n/);
    for (let i = 0; i < lines.length; i++) {
      this.line = i + 1;
      this.parseLine(lines[i]!);
    }
    this.resolveFixups();
    return this.insns;
  }

  private parseLine(raw: string): void {
    const hash = raw.indexOf('#');
    let rest = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    // Any number of `label:` prefixes, alone or before an instruction.
    for (let m = /^([A-Za-z_.$][\w.$]*)\s*:\s*/.exec(rest); m; m = /^([A-Za-z_.$][\w.$]*)\s*:\s*/.exec(rest)) {
      const name = m[1]!;
      if (this.labels.has(name)) fail(this.line, `label '${name}' is defined twice`);
      this.labels.set(name, this.pc);
      rest = rest.slice(m[0].length);
    }
    if (rest === '') return;
    const sp = /\s/.exec(rest);
    const mnemonic = (sp ? rest.slice(0, sp.index) : rest).toLowerCase();
    const operandText = sp ? rest.slice(sp.index).trim() : '';
    const insn = this.parseInsn(mnemonic, operandText);
    this.insns.push(insn);
    this.pc += insnSlots(insn);
  }

  private parseInsn(mn: string, text: string): Insn {
    const pc = this.pc;
    if (mn === 'lock') return this.parseAtomic(text);
    if (mn === 'call') return this.parseCall(text);
    const ops = this.splitOperands(text);
    let m: RegExpExecArray | null;

    if ((m = /^movsx(8|16|32)(32|64)$/.exec(mn))) {
      const bits = Number(m[1]) as 8 | 16 | 32;
      const width = Number(m[2]) as 32 | 64;
      if (bits === 32 && width === 32) fail(this.line, `'${mn}' does not exist: 32-bit movsx extends from 8 or 16 bits only`);
      this.arity(mn, ops, 2);
      return { kind: 'alu', pc, op: 'movsx', width, dst: this.reg(ops[0]!), src: this.reg(ops[1]!), imm: 0, sxBits: bits };
    }
    if ((m = /^neg(32|64)?$/.exec(mn))) {
      this.arity(mn, ops, 1);
      return { kind: 'alu', pc, op: 'neg', width: m[1] === '32' ? 32 : 64, dst: this.reg(ops[0]!), src: null, imm: 0, sxBits: 0 };
    }
    if ((m = /^([a-z]+?)(32|64)?$/.exec(mn)) && ALU_NAMES.has(m[1]!)) {
      this.arity(mn, ops, 2);
      const width = m[2] === '32' ? 32 : 64;
      const dst = this.reg(ops[0]!);
      const op = m[1] as AluOp;
      if (ops[1]!.startsWith('%')) return { kind: 'alu', pc, op, width, dst, src: this.reg(ops[1]!), imm: 0, sxBits: 0 };
      return { kind: 'alu', pc, op, width, dst, src: null, imm: this.imm32(ops[1]!), sxBits: 0 };
    }
    if ((m = /^(be|le|swap|bswap)(16|32|64)$/.exec(mn))) {
      this.arity(mn, ops, 1);
      const op = m[1] === 'be' ? 'be' : m[1] === 'le' ? 'le' : 'bswap';
      return { kind: 'end', pc, op, bits: Number(m[2]) as 16 | 32 | 64, dst: this.reg(ops[0]!) };
    }
    if ((m = /^([a-z]+?)(32)?$/.exec(mn)) && JMP_NAMES.has(m[1]!)) {
      this.arity(mn, ops, 3);
      const dst = this.reg(ops[0]!);
      const src = ops[1]!.startsWith('%') ? this.reg(ops[1]!) : null;
      const imm = src === null ? this.imm32(ops[1]!) : 0;
      const insn: Insn = {
        kind: 'jcond', pc, op: m[1] as JmpOp, width: m[2] ? 32 : 64, dst, src, imm, off: 0, target: 0,
      };
      this.setJumpTarget(insn, ops[2]!, 16);
      return insn;
    }
    if (mn === 'ja' || mn === 'ja32') {
      this.arity(mn, ops, 1);
      const insn: Insn = { kind: 'ja', pc, wide: mn === 'ja32', off: 0, target: 0 };
      this.setJumpTarget(insn, ops[0]!, mn === 'ja32' ? 32 : 16);
      return insn;
    }
    if (mn === 'exit') {
      this.arity(mn, ops, 0);
      if (this.firstExit === null) this.firstExit = pc;
      return { kind: 'exit', pc };
    }
    if (mn === 'callx') {
      this.arity(mn, ops, 1);
      return { kind: 'callx', pc, reg: this.reg(ops[0]!) };
    }
    if (mn === 'lddw') return this.parseLddw(mn, ops);
    if ((m = /^ldx(s?)(b|h|w|dw)$/.exec(mn))) {
      const size = SUFFIX_SIZE[m[2]!]!;
      if (m[1] && size === 8) fail(this.line, `'${mn}' does not exist: sign-extending loads are 1, 2 or 4 bytes`);
      this.arity(mn, ops, 2);
      const dst = this.reg(ops[0]!);
      const { reg: src, off } = this.mem(ops[1]!);
      return { kind: 'ldx', pc, size, signed: m[1] === 's', dst, src, off };
    }
    if ((m = /^st(x?)(b|h|w|dw)$/.exec(mn))) {
      this.arity(mn, ops, 2);
      const size = SUFFIX_SIZE[m[2]!]!;
      const { reg: dst, off } = this.mem(ops[0]!);
      if (m[1]) return { kind: 'stx', pc, size, dst, src: this.reg(ops[1]!), off };
      return { kind: 'st', pc, size, dst, off, imm: this.imm32(ops[1]!) };
    }
    if ((m = /^ld(abs|ind)(b|h|w)$/.exec(mn))) {
      const size = SUFFIX_SIZE[m[2]!] as 1 | 2 | 4;
      if (m[1] === 'abs') {
        this.arity(mn, ops, 1);
        return { kind: 'ldabs', pc, size, src: 0, imm: this.imm32(ops[0]!) };
      }
      this.arity(mn, ops, 2);
      return { kind: 'ldind', pc, size, src: this.reg(ops[0]!), imm: this.imm32(ops[1]!) };
    }
    return fail(this.line, `unknown mnemonic '${mn}'`);
  }

  /** `lock [fetch] op[32] [%rD+off], %rS`. */
  private parseAtomic(text: string): Insn {
    const m = /^(fetch\s+)?([a-z0-9]+)(?:\s+(.*))?$/i.exec(text);
    if (!m) fail(this.line, "'lock' needs an operation, e.g. 'lock add [%r1+0], %r2'");
    const opName = m[2]!.toLowerCase();
    const om = /^([a-z]+?)(32|64)?$/.exec(opName);
    if (!om || !ATOMIC_NAMES.has(om[1]!)) fail(this.line, `unknown atomic operation 'lock ${opName}'`);
    const op = om[1] as AtomicOp;
    const ops = this.splitOperands(m[3] ?? '');
    this.arity(`lock ${opName}`, ops, 2);
    const { reg: dst, off } = this.mem(ops[0]!);
    const src = this.reg(ops[1]!);
    // xchg and cmpxchg always return the old value, so `fetch` is implied (and tolerated).
    const fetch = m[1] !== undefined || op === 'xchg' || op === 'cmpxchg';
    return { kind: 'atomic', pc: this.pc, op, fetch, size: om[2] === '32' ? 4 : 8, dst, src, off };
  }

  /** `call N`, `call helper N`, `call %rN`, `call local target`, `call runtime N[, off]`. */
  private parseCall(text: string): Insn {
    const pc = this.pc;
    const m = /^(local|helper|runtime)\s+(.*)$/i.exec(text);
    const mode = m ? m[1]!.toLowerCase() : null;
    const ops = this.splitOperands(m ? m[2]! : text);
    const name = mode ? `call ${mode}` : 'call';
    if (mode === 'runtime') {
      if (ops.length !== 1 && ops.length !== 2) fail(this.line, `'${name}' takes 1 or 2 operands, got ${ops.length}`);
      return { kind: 'kfunc', pc, btfId: this.imm32(ops[0]!), off: ops[1] === undefined ? 0 : this.off16(ops[1]) };
    }
    this.arity(name, ops, 1);
    const op = ops[0]!;
    if (mode !== 'local' && op.startsWith('%')) return { kind: 'callx', pc, reg: this.reg(op) };
    if (mode === 'local' || (mode === null && parseInteger(op) === null)) {
      const insn: Insn = { kind: 'call_local', pc, imm: 0, target: 0 };
      this.setJumpTarget(insn, op, 32);
      return insn;
    }
    return { kind: 'call', pc, helper: this.imm32(op) };
  }

  /** `lddw %rD, imm64[, source]`. */
  private parseLddw(mn: string, ops: string[]): Insn {
    if (ops.length !== 2 && ops.length !== 3) fail(this.line, `'${mn}' takes 2 or 3 operands, got ${ops.length}`);
    const dst = this.reg(ops[0]!);
    const v = parseInteger(ops[1]!);
    if (v === null) fail(this.line, `'${ops[1]}' is not a number`);
    if (v < -(1n << 63n) || v >= 1n << 64n) fail(this.line, `immediate ${ops[1]} does not fit in 64 bits`);
    const value = BigInt.asUintN(64, v);
    let src = 0;
    if (ops[2] !== undefined) {
      const tok = ops[2].toLowerCase();
      const byName = LDDW_SOURCE_NAMES.indexOf(tok);
      const byNumber = parseInteger(tok);
      if (byName >= 0) src = byName;
      else if (byNumber !== null && byNumber >= 0n && byNumber < BigInt(LDDW_SOURCE_NAMES.length)) src = Number(byNumber);
      else fail(this.line, `unknown lddw source '${ops[2]}' (expected ${LDDW_SOURCE_NAMES.join(', ')} or 0-${LDDW_SOURCE_NAMES.length - 1})`);
    }
    const imm = Number(BigInt.asIntN(32, value));
    const imm2 = Number(BigInt.asIntN(32, value >> 32n));
    return { kind: 'lddw', pc: this.pc, dst, src, imm, imm2, value };
  }

  private splitOperands(text: string): string[] {
    if (text.trim() === '') return [];
    const ops = text.split(',').map((s) => s.trim());
    if (ops.some((o) => o === '')) fail(this.line, 'empty operand (stray comma?)');
    return ops;
  }

  private arity(mn: string, ops: string[], n: number): void {
    if (ops.length !== n) {
      fail(this.line, `'${mn}' takes ${n} operand${n === 1 ? '' : 's'}, got ${ops.length}`);
    }
  }

  private reg(tok: string): Reg {
    const m = /^%r(\d+)$/i.exec(tok);
    if (!m) fail(this.line, `expected a register like %r1, got '${tok}'`);
    const n = Number(m[1]);
    if (n > MAX_REG) fail(this.line, `register '${tok}' does not exist (%r0-%r${MAX_REG} only)`);
    return n;
  }

  /** A 32-bit immediate; values up to 0xffffffff are taken as their bit pattern. */
  private imm32(tok: string): number {
    const v = parseInteger(tok);
    if (v === null) fail(this.line, `expected a number, got '${tok}'`);
    if (v < BigInt(INT32_MIN) || v > BigInt(UINT32_MAX)) fail(this.line, `immediate ${tok} does not fit in 32 bits`);
    return Number(BigInt.asIntN(32, v));
  }

  private off16(tok: string): number {
    const v = parseInteger(tok);
    if (v === null) fail(this.line, `expected an offset, got '${tok}'`);
    if (v < -0x8000n || v > 0x7fffn) fail(this.line, `offset ${tok} does not fit in 16 signed bits (-32768..32767)`);
    return Number(v);
  }

  /** `[%rN]`, `[%rN+off]` or `[%rN-off]`, spaces allowed inside the brackets. */
  private mem(tok: string): { reg: Reg; off: number } {
    const m = /^\[\s*(%?\w+)\s*(?:([+-])\s*(\w+))?\s*\]$/.exec(tok);
    if (!m) fail(this.line, `expected a memory operand like [%r1+4], got '${tok}'`);
    const reg = this.reg(m[1]!);
    return { reg, off: m[2] === undefined ? 0 : this.off16(m[2] + m[3]) };
  }

  /** A jump operand: `+N`/`-N`/`N` relative to the next instruction, or a label. */
  private setJumpTarget(insn: Fixup['insn'], tok: string, bits: 16 | 32): void {
    const v = parseInteger(tok);
    if (v === null) {
      if (!/^[A-Za-z_.$][\w.$]*$/.test(tok)) fail(this.line, `expected a label or a +N/-N offset, got '${tok}'`);
      this.fixups.push({ insn, label: tok, line: this.line });
      return;
    }
    this.setOffset(insn, v, bits, tok, this.line);
  }

  private setOffset(insn: Fixup['insn'], v: bigint, bits: 16 | 32, what: string, line: number): void {
    const limit = 1n << BigInt(bits - 1);
    if (v < -limit || v >= limit) {
      fail(line, `jump offset ${what} does not fit in ${bits} signed bits`);
    }
    const off = Number(v);
    if (insn.kind === 'call_local') insn.imm = off;
    else insn.off = off;
    insn.target = insn.pc + off + 1;
  }

  private resolveFixups(): void {
    for (const f of this.fixups) {
      let at = this.labels.get(f.label);
      if (at === undefined && f.label === EXIT_LABEL && this.firstExit !== null) at = this.firstExit;
      if (at === undefined) fail(f.line, `undefined label '${f.label}'`);
      const bits = f.insn.kind === 'jcond' || (f.insn.kind === 'ja' && !f.insn.wide) ? 16 : 32;
      this.setOffset(f.insn, BigInt(at - f.insn.pc - 1), bits, `to '${f.label}' (${at - f.insn.pc - 1})`, f.line);
    }
  }
}

/**
 * Assembles conformance-syntax text to normalised instructions, with `pc` (slot index) and
 * jump targets filled in. Throws AsmError (code E_ASM_SYNTAX, `location.line` 1-based).
 */
export function assembleInsns(text: string): Insn[] {
  return new Assembler().run(text);
}

/**
 * Assembles conformance-syntax text to program bytes (8 bytes per slot, little-endian).
 * Throws AsmError (code E_ASM_SYNTAX, `location.line` 1-based) on the first error.
 */
export function assemble(text: string): Uint8Array {
  return encodeProgram(assembleInsns(text));
}
