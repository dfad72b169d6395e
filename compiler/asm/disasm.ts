/**
 * Disassembler with two spellings:
 *
 * - `conformance`: the bpf_conformance suite's syntax, the one compiler/asm/assemble.ts reads.
 *   Jumps are printed as relative `+N`/`-N`, so `assemble(disassemble(x))` reproduces `x`
 *   byte for byte for every canonical program.
 * - `llvm`: LLVM's BPF assembly, as `llvm-objdump -d` prints it (`r0 += 5`, `w1 = w2`,
 *   `if r1 > 3 goto +1`, `r1 = 0x1122334455667788 ll`, `lock *(u64 *)(r1 + 0) += r2`), for
 *   people who read clang output. bpf-to-bpf calls print as `call pc+N` and kfuncs as
 *   `call kfunc N` because LLVM prints both like helper calls, which would be ambiguous.
 */
import { decodeProgram } from '../../runtime/isa/decode.js';
import type { AluOp, AtomicOp, Insn, JmpOp, MemSize, Program } from '../../runtime/isa/insn.js';
import { LDDW_SOURCE_NAMES, SIZE_SUFFIX } from './assemble.js';

/** Which assembly spelling to print. */
export type AsmSyntax = 'conformance' | 'llvm';

/** Options of `disassemble`. */
export interface DisassembleOptions {
  /** Spelling; `conformance` by default. */
  syntax?: AsmSyntax;
  /** Prefix each line with the slot index like llvm-objdump (`   0:\t`). Off by default. */
  addresses?: boolean;
  /**
   * Lines printed before an instruction (C source lines, function labels), by its slot: what
   * `llvm-objdump -S` interleaves. Printed as they are (no prefix added).
   */
  annotate?: (pc: number) => readonly string[] | undefined;
}

// ---------------------------------------------------------------- conformance syntax

/** Small and negative values read best in decimal; masks and addresses in hex. */
function confImm(imm: number): string {
  if (imm < 10) return String(imm);
  return '0x' + imm.toString(16);
}

function confReg(r: number): string {
  return `%r${r}`;
}

function confMem(reg: number, off: number): string {
  if (off === 0) return `[${confReg(reg)}]`;
  return `[${confReg(reg)}${off > 0 ? '+' : ''}${off}]`;
}

function rel(off: number): string {
  return off >= 0 ? `+${off}` : String(off);
}

function confAlu(insn: Extract<Insn, { kind: 'alu' }>): string {
  const w = insn.width === 32 ? '32' : '';
  const dst = confReg(insn.dst);
  if (insn.op === 'neg') return `neg${w} ${dst}`;
  if (insn.op === 'movsx') return `movsx${insn.sxBits}${insn.width} ${dst}, ${confReg(insn.src ?? 0)}`;
  return `${insn.op}${w} ${dst}, ${insn.src === null ? confImm(insn.imm) : confReg(insn.src)}`;
}

/** One instruction in the conformance suite's syntax. */
function formatConformance(insn: Insn): string {
  switch (insn.kind) {
    case 'alu':
      return confAlu(insn);
    case 'end':
      return `${insn.op === 'bswap' ? 'swap' : insn.op}${insn.bits} ${confReg(insn.dst)}`;
    case 'lddw': {
      const text = `lddw ${confReg(insn.dst)}, 0x${insn.value.toString(16)}`;
      return insn.src === 0 ? text : `${text}, ${LDDW_SOURCE_NAMES[insn.src] ?? insn.src}`;
    }
    case 'ldx':
      return `ldx${insn.signed ? 's' : ''}${SIZE_SUFFIX[insn.size]} ${confReg(insn.dst)}, ${confMem(insn.src, insn.off)}`;
    case 'st':
      return `st${SIZE_SUFFIX[insn.size]} ${confMem(insn.dst, insn.off)}, ${confImm(insn.imm)}`;
    case 'stx':
      return `stx${SIZE_SUFFIX[insn.size]} ${confMem(insn.dst, insn.off)}, ${confReg(insn.src)}`;
    case 'atomic': {
      const fetch = insn.fetch && insn.op !== 'xchg' && insn.op !== 'cmpxchg' ? 'fetch ' : '';
      const w = insn.size === 4 ? '32' : '';
      return `lock ${fetch}${insn.op}${w} ${confMem(insn.dst, insn.off)}, ${confReg(insn.src)}`;
    }
    case 'ja':
      return `${insn.wide ? 'ja32' : 'ja'} ${rel(insn.off)}`;
    case 'jcond': {
      const src = insn.src === null ? confImm(insn.imm) : confReg(insn.src);
      return `${insn.op}${insn.width === 32 ? '32' : ''} ${confReg(insn.dst)}, ${src}, ${rel(insn.off)}`;
    }
    case 'call':
      return `call ${insn.helper}`;
    case 'call_local':
      return `call local ${rel(insn.imm)}`;
    case 'kfunc':
      return `call runtime ${insn.btfId}${insn.off === 0 ? '' : `, ${insn.off}`}`;
    case 'callx':
      return `callx ${confReg(insn.reg)}`;
    case 'exit':
      return 'exit';
    case 'ldabs':
      return `ldabs${SIZE_SUFFIX[insn.size]} ${confImm(insn.imm)}`;
    case 'ldind':
      return `ldind${SIZE_SUFFIX[insn.size]} ${confReg(insn.src)}, ${confImm(insn.imm)}`;
  }
}

// ---------------------------------------------------------------- LLVM syntax

const LLVM_ALU: Readonly<Record<Exclude<AluOp, 'mov' | 'movsx' | 'neg'>, string>> = {
  add: '+=', sub: '-=', mul: '*=', div: '/=', sdiv: 's/=', or: '|=', and: '&=',
  lsh: '<<=', rsh: '>>=', mod: '%=', smod: 's%=', xor: '^=', arsh: 's>>=',
};

const LLVM_JMP: Readonly<Record<JmpOp, string>> = {
  jeq: '==', jgt: '>', jge: '>=', jset: '&', jne: '!=', jsgt: 's>', jsge: 's>=',
  jlt: '<', jle: '<=', jslt: 's<', jsle: 's<=',
};

const LLVM_ATOMIC: Readonly<Record<Exclude<AtomicOp, 'xchg' | 'cmpxchg'>, string>> = {
  add: '+', or: '|', and: '&', xor: '^',
};

function llvmReg(r: number, width: 32 | 64): string {
  return `${width === 32 ? 'w' : 'r'}${r}`;
}

/** `r1 + 4` / `r1 - 4`, LLVM always prints the offset, even 0. */
function llvmAddr(reg: number, off: number): string {
  return `r${reg} ${off < 0 ? '-' : '+'} ${Math.abs(off)}`;
}

function llvmMem(signed: boolean, size: MemSize, reg: number, off: number): string {
  return `*(${signed ? 's' : 'u'}${size * 8} *)(${llvmAddr(reg, off)})`;
}

function llvmAlu(insn: Extract<Insn, { kind: 'alu' }>): string {
  const dst = llvmReg(insn.dst, insn.width);
  const src = insn.src === null ? String(insn.imm) : llvmReg(insn.src, insn.width);
  switch (insn.op) {
    case 'mov':
      return `${dst} = ${src}`;
    case 'movsx':
      return `${dst} = (s${insn.sxBits})${llvmReg(insn.src ?? 0, insn.width)}`;
    case 'neg':
      return `${dst} = -${dst}`;
    default:
      return `${dst} ${LLVM_ALU[insn.op]} ${src}`;
  }
}

function llvmAtomic(insn: Extract<Insn, { kind: 'atomic' }>): string {
  const width = insn.size === 4 ? 32 : 64;
  const bits = insn.size * 8;
  const addr = llvmAddr(insn.dst, insn.off);
  const val = llvmReg(insn.src, width);
  switch (insn.op) {
    case 'xchg':
      return `${val} = ${width === 32 ? 'xchg32_32' : 'xchg_64'}(${addr}, ${val})`;
    case 'cmpxchg': {
      const r0 = llvmReg(0, width);
      return `${r0} = ${width === 32 ? 'cmpxchg32_32' : 'cmpxchg_64'}(${addr}, ${r0}, ${val})`;
    }
    default:
      if (insn.fetch) return `${val} = atomic_fetch_${insn.op}((u${bits} *)(${addr}), ${val})`;
      return `lock *(u${bits} *)(${addr}) ${LLVM_ATOMIC[insn.op]}= ${val}`;
  }
}

/** One instruction as llvm-objdump prints it for bpfel. */
function formatLlvm(insn: Insn): string {
  switch (insn.kind) {
    case 'alu':
      return llvmAlu(insn);
    case 'end': {
      const name = insn.op === 'bswap' ? 'bswap' : insn.op;
      return `r${insn.dst} = ${name}${insn.bits} r${insn.dst}`;
    }
    case 'lddw':
      if (insn.src === 0) return `r${insn.dst} = 0x${insn.value.toString(16)} ll`;
      return `ld_pseudo\tr${insn.dst}, ${insn.src}, 0x${insn.value.toString(16)}`;
    case 'ldx':
      return `r${insn.dst} = ${llvmMem(insn.signed, insn.size, insn.src, insn.off)}`;
    case 'st':
      return `${llvmMem(false, insn.size, insn.dst, insn.off)} = ${insn.imm}`;
    case 'stx':
      return `${llvmMem(false, insn.size, insn.dst, insn.off)} = r${insn.src}`;
    case 'atomic':
      return llvmAtomic(insn);
    case 'ja':
      return `${insn.wide ? 'gotol' : 'goto'} ${rel(insn.off)}`;
    case 'jcond': {
      const src = insn.src === null ? String(insn.imm) : llvmReg(insn.src, insn.width);
      return `if ${llvmReg(insn.dst, insn.width)} ${LLVM_JMP[insn.op]} ${src} goto ${rel(insn.off)}`;
    }
    case 'call':
      return `call ${insn.helper}`;
    case 'call_local':
      return `call pc${rel(insn.imm)}`;
    case 'kfunc':
      return `call kfunc ${insn.btfId}${insn.off === 0 ? '' : `, ${insn.off}`}`;
    case 'callx':
      return `callx r${insn.reg}`;
    case 'exit':
      return 'exit';
    case 'ldabs':
      return `r0 = *(u${insn.size * 8} *)skb[${insn.imm}]`;
    case 'ldind':
      // LLVM has no spelling for a non-zero ldind immediate; show it as an addition.
      return `r0 = *(u${insn.size * 8} *)skb[r${insn.src}${insn.imm === 0 ? '' : ` ${insn.imm < 0 ? '-' : '+'} ${Math.abs(insn.imm)}`}]`;
  }
}

/** Formats one instruction (no address prefix, no newline). */
export function formatInsn(insn: Insn, syntax: AsmSyntax = 'conformance'): string {
  return syntax === 'llvm' ? formatLlvm(insn) : formatConformance(insn);
}

/**
 * Disassembles a program, one instruction per line, each line ending in `\n`.
 * Bytes are decoded first, so malformed input throws the decoder's CompileError.
 */
export function disassemble(program: Program | Uint8Array, options: DisassembleOptions = {}): string {
  const prog = program instanceof Uint8Array ? decodeProgram(program) : program;
  const syntax = options.syntax ?? 'conformance';
  let out = '';
  for (const insn of prog.insns) {
    for (const line of options.annotate?.(insn.pc) ?? []) out += `${line}\n`;
    const prefix = options.addresses ? `${String(insn.pc).padStart(4)}:\t` : '';
    out += `${prefix}${formatInsn(insn, syntax)}\n`;
  }
  return out;
}
