/**
 * Classic BPF as tcpdump writes it: parse (`tcpdump -dd` / `-ddd` text), check (the kernel's
 * bpf_check_classic rules), convert (to eBPF, as bpf_convert_filter does, with libpcap's capture
 * semantics). The eBPF runs on either engine with runtime/capture/classic.ts's calling convention.
 */
import { checkClassic } from './check.js';
import { convertClassic } from './convert.js';
import type { ClassicInsn } from './sock-filter.js';
import { parseClassic } from './parse.js';

export { parseClassic, classicFormat, isClassicText, formatClassicDdd } from './parse.js';
export { checkClassic } from './check.js';
export { convertClassic } from './convert.js';
export * from './sock-filter.js';

/** A classic program and its eBPF translation. */
export interface ClassicProgram {
  /** The classic instructions, checked. */
  classic: ClassicInsn[];
  /** eBPF bytecode (8-byte instructions), one program starting at instruction 0. */
  bytecode: Uint8Array;
}

/**
 * Parses (when given text), checks and converts a classic program. Throws AsmError
 * (E_ASM_SYNTAX) for malformed text and CompileError for a program the kernel would refuse.
 */
export function classicToEbpf(program: string | readonly ClassicInsn[]): ClassicProgram {
  const classic = typeof program === 'string' ? parseClassic(program) : program.map((i) => ({ ...i }));
  checkClassic(classic);
  return { classic, bytecode: convertClassic(classic) };
}
