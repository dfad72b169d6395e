/**
 * Translates a checked classic program into eBPF, as the kernel's bpf_convert_filter does
 * (net/core/filter.c), with libpcap's semantics for captures:
 *
 * - A is r0, X is r7, r8 a temporary; the scratch words M[0..15] are the 64 bytes below r10
 *   (M[k] at r10 - (16 - k) * 4). A and X start at 0.
 * - The calling convention of runtime/capture/classic.ts: r1 = the frame's captured bytes (the
 *   input memory, so the legacy loads `ldabs`/`ldind` read them in network byte order and end the
 *   program with 0 past r2 = the captured length) and the frame's original (wire) length as a
 *   little-endian u32 right after them, at r1 + r2. The prologue keeps that address in r6 (the
 *   kernel's context register); `ld len`/`ldx len` read it.
 * - ALU operations are 32-bit. Division and modulo by X = 0 return 0 (reject), as in the kernel and
 *   libpcap; a shift by X >= 32 gives 0 (libpcap; eBPF would mask the count).
 * - `ld [x + k]`: the offset X + k is computed without wrapping, and one of 2^31 or more rejects
 *   the frame, as libpcap's bounds check does (the eBPF load alone would wrap it to 32 bits).
 * - Conditional jumps compare 32-bit values unsigned (JMP32); `ret` returns its value in r0.
 *
 * Unlike the kernel, negative `ld` offsets are not ancillary data (SKF_AD_*, SKF_NET_OFF): for
 * captures, libpcap treats them as offsets past the packet, so they reject the frame.
 */
import { InternalError, ErrorCode } from '../../runtime/errors.js';
import { Class, Source, AluCode, JmpCode, SizeCode, ModeCode } from '../../runtime/isa/opcodes.js';
import { CAlu, CClass, CJmp, CMisc, CMode, CSrc, BPF_MEMWORDS, type ClassicInsn } from './sock-filter.js';

const A = 0;
const X = 7;
const TMP = 8;
const LEN_PTR = 6;
const FP = 10;

interface EInsn {
  op: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
  /** Jump to the eBPF start of this classic instruction (resolved after translation). */
  target?: number;
  /** Jump to the shared `reject` tail (w0 = 0; exit). */
  toReject?: boolean;
}

function ins(op: number, dst: number, src: number, off: number, imm: number): EInsn {
  return { op, dst, src, off, imm: imm | 0 };
}

const mov32K = (dst: number, k: number): EInsn => ins(Class.ALU | AluCode.MOV | Source.K, dst, 0, 0, k);
const mov64X = (dst: number, src: number): EInsn => ins(Class.ALU64 | AluCode.MOV | Source.X, dst, src, 0, 0);
const exit = (): EInsn => ins(Class.JMP | JmpCode.EXIT, 0, 0, 0, 0);
const ldxw = (dst: number, src: number, off: number): EInsn => ins(Class.LDX | ModeCode.MEM | SizeCode.W, dst, src, off, 0);
const stxw = (dst: number, off: number, src: number): EInsn => ins(Class.STX | ModeCode.MEM | SizeCode.W, dst, src, off, 0);
const scratch = (k: number): number => -(BPF_MEMWORDS - k) * 4;

/** The eBPF program for a checked classic program (see checkClassic), as 8-byte instructions. */
export function convertClassic(insns: readonly ClassicInsn[]): Uint8Array {
  const out: EInsn[] = [
    mov64X(LEN_PTR, 1),
    ins(Class.ALU64 | AluCode.ADD | Source.X, LEN_PTR, 2, 0, 0),
    mov32K(A, 0),
    mov32K(X, 0),
  ];
  const start: number[] = [];
  for (let pc = 0; pc < insns.length; pc++) {
    start.push(out.length);
    translate(insns[pc]!, pc, out);
  }
  // The shared tail of rejected frames, only when some instruction jumps there (unreachable code
  // would fail the project's `validate` checks).
  const reject = out.length;
  if (out.some((e) => e.toReject)) out.push(mov32K(A, 0), exit());
  // Resolve jumps: eBPF offsets count from the next instruction.
  for (let i = 0; i < out.length; i++) {
    const e = out[i]!;
    const to = e.toReject ? reject : e.target !== undefined ? start[e.target]! : undefined;
    if (to !== undefined) e.off = to - (i + 1);
  }
  const bytes = new Uint8Array(out.length * 8);
  const dv = new DataView(bytes.buffer);
  out.forEach((e, i) => {
    dv.setUint8(i * 8, e.op);
    dv.setUint8(i * 8 + 1, (e.src << 4) | e.dst);
    dv.setInt16(i * 8 + 2, e.off, true);
    dv.setInt32(i * 8 + 4, e.imm, true);
  });
  return bytes;
}

const NEGATE: ReadonlyMap<number, number> = new Map([
  [CJmp.JEQ, JmpCode.JNE], [CJmp.JGT, JmpCode.JLE], [CJmp.JGE, JmpCode.JLT],
]);

function translate(c: ClassicInsn, pc: number, out: EInsn[]): void {
  const { code, k } = c;
  const cls = code & 0x07;
  switch (cls) {
    case CClass.ALU: {
      const op = code & 0xf0;
      if (op === CAlu.NEG) {
        out.push(ins(Class.ALU | AluCode.NEG, A, 0, 0, 0));
        return;
      }
      if ((code & CSrc.X) === 0) {
        out.push(ins(Class.ALU | op | Source.K, A, 0, 0, k));
        return;
      }
      if (op === CAlu.DIV || op === CAlu.MOD) {
        out.push({ ...ins(Class.JMP32 | JmpCode.JEQ | Source.K, X, 0, 0, 0), toReject: true });
      } else if (op === CAlu.LSH || op === CAlu.RSH) {
        // libpcap: a shift by 32 or more gives 0.
        out.push(ins(Class.JMP32 | JmpCode.JLT | Source.K, X, 0, 2, 32), mov32K(A, 0), ins(Class.JMP | JmpCode.JA, 0, 0, 1, 0));
      }
      out.push(ins(Class.ALU | op | Source.X, A, X, 0, 0));
      return;
    }
    case CClass.LD:
    case CClass.LDX: {
      const dst = cls === CClass.LD ? A : X;
      const mode = code & 0xe0;
      switch (mode) {
        case CMode.IMM: out.push(mov32K(dst, k)); return;
        case CMode.LEN: out.push(ldxw(dst, LEN_PTR, 0)); return;
        case CMode.MEM: out.push(ldxw(dst, FP, scratch(k))); return;
        case CMode.ABS: out.push(ins(Class.LD | ModeCode.ABS | (code & 0x18), 0, 0, 0, k)); return;
        case CMode.IND:
          // TMP = X + k in 64 bits; 2^31 or more rejects (libpcap's unwrapped bounds check).
          out.push(
            mov32K(TMP, k),
            ins(Class.ALU64 | AluCode.ADD | Source.X, TMP, X, 0, 0),
            { ...ins(Class.JMP | JmpCode.JGT | Source.K, TMP, 0, 0, 0x7fffffff), toReject: true },
            ins(Class.LD | ModeCode.IND | (code & 0x18), 0, TMP, 0, 0),
          );
          return;
        case CMode.MSH:
          // X = 4 * (P[k] & 0xf), A kept.
          out.push(
            mov64X(TMP, A),
            ins(Class.LD | ModeCode.ABS | SizeCode.B, 0, 0, 0, k),
            ins(Class.ALU | AluCode.AND | Source.K, A, 0, 0, 0xf),
            ins(Class.ALU | AluCode.LSH | Source.K, A, 0, 0, 2),
            mov64X(X, A),
            mov64X(A, TMP),
          );
          return;
      }
      break;
    }
    case CClass.ST: out.push(stxw(FP, scratch(k), A)); return;
    case CClass.STX: out.push(stxw(FP, scratch(k), X)); return;
    case CClass.MISC:
      out.push((code & 0xf8) === CMisc.TXA ? mov64X(A, X) : mov64X(X, A));
      return;
    case CClass.RET:
      if ((code & 0x18) === CSrc.K) out.push(mov32K(A, k));
      out.push(exit());
      return;
    case CClass.JMP: {
      const op = code & 0xf0;
      if (op === CJmp.JA) {
        out.push({ ...ins(Class.JMP | JmpCode.JA, 0, 0, 0, 0), target: pc + 1 + k });
        return;
      }
      const isX = (code & CSrc.X) !== 0;
      const cond = (jop: number, target: number): EInsn => ({
        ...ins(Class.JMP32 | jop | (isX ? Source.X : Source.K), A, isX ? X : 0, 0, isX ? 0 : k), target,
      });
      const t = pc + 1 + c.jt;
      const f = pc + 1 + c.jf;
      const negated = NEGATE.get(op);
      if (c.jt === c.jf) {
        if (c.jt !== 0) out.push({ ...ins(Class.JMP | JmpCode.JA, 0, 0, 0, 0), target: t });
      } else if (c.jt === 0 && negated !== undefined) {
        out.push(cond(negated, f));
      } else {
        out.push(cond(op, t));
        if (c.jf !== 0) out.push({ ...ins(Class.JMP | JmpCode.JA, 0, 0, 0, 0), target: f });
      }
      return;
    }
  }
  // checkClassic admits only the codes handled above.
  throw new InternalError(ErrorCode.Internal, `classic code 0x${code.toString(16)} reached the translation unchecked`, { insn: pc });
}
