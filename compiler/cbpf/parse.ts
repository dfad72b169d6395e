/**
 * Reads classic BPF programs as tcpdump prints them, told apart by their content:
 *
 * - `tcpdump -dd EXPR`: C array elements, one per line: `{ 0x28, 0, 0, 0x0000000c },`
 * - `tcpdump -ddd EXPR`: the instruction count, then `code jt jf k` in decimal, one per line.
 *
 * Malformed text is an E_ASM_SYNTAX error naming the 1-based line.
 */
import { AsmError, ErrorCode } from '../../runtime/errors.js';
import type { ClassicInsn } from './sock-filter.js';

const NUM = '(0[xX][0-9a-fA-F]+|\\d+)';
const DD_LINE = new RegExp(`^\\{\\s*${NUM}\\s*,\\s*${NUM}\\s*,\\s*${NUM}\\s*,\\s*${NUM}\\s*\\},?$`);
const DDD_LINE = /^(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$/;

/** The text's format, or undefined when it is neither. */
export function classicFormat(text: string): 'dd' | 'ddd' | undefined {
  const first = text.split(/\r?\n/).map((l) => l.trim()).find((l) => l !== '');
  if (first === undefined) return undefined;
  if (first.startsWith('{')) return 'dd';
  if (/^\d+$/.test(first)) return 'ddd';
  return undefined;
}

/** True when `text` looks like `tcpdump -dd` or `-ddd` output (used to detect a classic program). */
export function isClassicText(text: string): boolean {
  return classicFormat(text) !== undefined;
}

function syntax(line: number, detail: string): AsmError {
  return new AsmError(ErrorCode.AsmSyntax, detail, { line });
}

function field(s: string, max: number, what: string, line: number): number {
  const v = s.startsWith('0x') || s.startsWith('0X') ? parseInt(s.slice(2), 16) : parseInt(s, 10);
  if (!Number.isSafeInteger(v) || v > max) {
    throw syntax(line, `${what} ${s} is out of range (at most ${max})`);
  }
  return v;
}

function insnOf(m: RegExpExecArray, line: number): ClassicInsn {
  return {
    code: field(m[1]!, 0xffff, 'code', line),
    jt: field(m[2]!, 0xff, 'jt', line),
    jf: field(m[3]!, 0xff, 'jf', line),
    k: field(m[4]!, 0xffffffff, 'k', line),
  };
}

/** Parses `tcpdump -dd` or `-ddd` output into instructions (not yet checked: see checkClassic). */
export function parseClassic(text: string): ClassicInsn[] {
  const lines = text.split(/\r?\n/);
  const format = classicFormat(text);
  if (format === undefined) {
    const n = lines.findIndex((l) => l.trim() !== '');
    throw syntax(n < 0 ? 1 : n + 1, 'not a classic BPF program as tcpdump -dd or -ddd prints it');
  }
  const out: ClassicInsn[] = [];
  let count: number | undefined;
  let countLine = 0;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!.trim();
    if (l === '') continue;
    if (format === 'ddd' && count === undefined) {
      if (!/^\d+$/.test(l)) throw syntax(i + 1, `expected the instruction count, not '${l}'`);
      count = field(l, 0xffffffff, 'instruction count', i + 1);
      countLine = i + 1;
      continue;
    }
    const m = (format === 'dd' ? DD_LINE : DDD_LINE).exec(l);
    if (!m) {
      throw syntax(i + 1, format === 'dd' ? `expected '{ code, jt, jf, k },', not '${l}'` : `expected 'code jt jf k' in decimal, not '${l}'`);
    }
    out.push(insnOf(m, i + 1));
  }
  if (count !== undefined && count !== out.length) {
    throw syntax(countLine, `the count says ${count} instructions, ${out.length} follow`);
  }
  return out;
}

/** Formats instructions as `tcpdump -ddd` does (the inverse of parseClassic). */
export function formatClassicDdd(insns: readonly ClassicInsn[]): string {
  return [String(insns.length), ...insns.map((i) => `${i.code} ${i.jt} ${i.jf} ${i.k}`)].join('\n') + '\n';
}
