/**
 * Classic BPF (cBPF) instructions, as `struct sock_filter` / `struct bpf_insn` hold them
 * (linux/filter.h, pcap/bpf.h):
 *
 *     ┌──────────── code:16 ────────────┬─ jt:8 ─┬─ jf:8 ─┬──────── k:32 ────────┐
 *     │ (op|mode) : (src|size) : class:3│        │        │                      │
 *     └─────────────────────────────────┴────────┴────────┴──────────────────────┘
 *
 * Classes LD, LDX, ST, STX, ALU, JMP share eBPF's numbers; class 6 is RET and 7 is MISC (TAX/TXA).
 * There are two registers (A, X), sixteen 32-bit scratch words M[0..15], and jumps are forward only.
 */

/** One classic instruction. */
export interface ClassicInsn {
  code: number;
  jt: number;
  jf: number;
  /** Unsigned 32-bit. */
  k: number;
}

/** Instruction classes. */
export const CClass = { LD: 0x00, LDX: 0x01, ST: 0x02, STX: 0x03, ALU: 0x04, JMP: 0x05, RET: 0x06, MISC: 0x07 } as const;
/** Load sizes. */
export const CSize = { W: 0x00, H: 0x08, B: 0x10 } as const;
/** Load modes. */
export const CMode = { IMM: 0x00, ABS: 0x20, IND: 0x40, MEM: 0x60, LEN: 0x80, MSH: 0xa0 } as const;
/** ALU operations (the same numbers as eBPF's). */
export const CAlu = {
  ADD: 0x00, SUB: 0x10, MUL: 0x20, DIV: 0x30, OR: 0x40, AND: 0x50, LSH: 0x60, RSH: 0x70, NEG: 0x80, MOD: 0x90, XOR: 0xa0,
} as const;
/** Jump operations. */
export const CJmp = { JA: 0x00, JEQ: 0x10, JGT: 0x20, JGE: 0x30, JSET: 0x40 } as const;
/** Source of ALU and jump operands; RET's A. */
export const CSrc = { K: 0x00, X: 0x08, A: 0x10 } as const;
/** MISC operations. */
export const CMisc = { TAX: 0x00, TXA: 0x80 } as const;

/** The kernel's limit on classic programs (BPF_MAXINSNS). */
export const BPF_MAXINSNS = 4096;
/** Scratch memory words (BPF_MEMWORDS). */
export const BPF_MEMWORDS = 16;

const C = CClass;
/**
 * Every code the kernel's bpf_check_classic accepts (net/core/filter.c `chk_code_allowed`); libpcap's
 * bpf_filter runs the same set.
 */
export const ALLOWED_CODES: ReadonlySet<number> = new Set([
  ...[CAlu.ADD, CAlu.SUB, CAlu.MUL, CAlu.DIV, CAlu.MOD, CAlu.AND, CAlu.OR, CAlu.XOR, CAlu.LSH, CAlu.RSH]
    .flatMap((op) => [C.ALU | op | CSrc.K, C.ALU | op | CSrc.X]),
  C.ALU | CAlu.NEG,
  C.LD | CSize.W | CMode.ABS, C.LD | CSize.H | CMode.ABS, C.LD | CSize.B | CMode.ABS,
  C.LD | CSize.W | CMode.LEN,
  C.LD | CSize.W | CMode.IND, C.LD | CSize.H | CMode.IND, C.LD | CSize.B | CMode.IND,
  C.LD | CMode.IMM, C.LD | CMode.MEM,
  C.LDX | CSize.W | CMode.LEN, C.LDX | CSize.B | CMode.MSH, C.LDX | CMode.IMM, C.LDX | CMode.MEM,
  C.ST, C.STX,
  C.MISC | CMisc.TAX, C.MISC | CMisc.TXA,
  C.RET | CSrc.K, C.RET | CSrc.A,
  C.JMP | CJmp.JA,
  ...[CJmp.JEQ, CJmp.JGT, CJmp.JGE, CJmp.JSET].flatMap((op) => [C.JMP | op | CSrc.K, C.JMP | op | CSrc.X]),
]);
