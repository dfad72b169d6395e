/**
 * Parser for the conformance suite's `.data` test files (format in
 * /shared/conformance/README.md): line-oriented, `-- NAME` opens a section, `#` starts a
 * comment. Sections this module does not know (`-- no register offset`, JIT notes) are skipped
 * so newer upstream files keep parsing.
 */
import { AsmError, ErrorCode } from '../../runtime/errors.js';

/** The contents of one `.data` file. Absent sections are undefined. */
export interface DataFile {
  /** `-- asm`, verbatim (comments included), for compiler/asm/assemble.ts. */
  asm?: string;
  /** 1-based line of the file where the asm text starts, to map assembler errors back. */
  asmLine?: number;
  /** `-- raw`: the program bytes, each 64-bit word stored little-endian (low byte = opcode). */
  raw?: Uint8Array;
  /** `-- mem`: the input memory. */
  mem?: Uint8Array;
  /** `-- result`: the expected r0, unsigned 64-bit. */
  result?: bigint;
  /** `-- error`: the reference runtime's failure text (only "it fails" matters). */
  error?: string;
  /** `-- c`: the C source the program was compiled from, verbatim. */
  c?: string;
}

type Known = 'asm' | 'raw' | 'mem' | 'result' | 'error' | 'c';
const KNOWN: ReadonlySet<string> = new Set<Known>(['asm', 'raw', 'mem', 'result', 'error', 'c']);

interface Section {
  name: Known;
  /** 1-based line number of the section's first content line. */
  start: number;
  lines: string[];
}

function fail(line: number, detail: string): never {
  throw new AsmError(ErrorCode.AsmSyntax, detail, { line });
}

/** Tokens of a data section with comments removed, each with its line number. */
function tokens(section: Section): { tok: string; line: number }[] {
  const out: { tok: string; line: number }[] = [];
  section.lines.forEach((text, i) => {
    const hash = text.indexOf('#');
    const body = hash >= 0 ? text.slice(0, hash) : text;
    for (const tok of body.split(/\s+/)) if (tok !== '') out.push({ tok, line: section.start + i });
  });
  return out;
}

/** A `0x` hex or decimal (optionally negative) integer, or null. */
function parseNumber(tok: string): bigint | null {
  if (/^0x[0-9a-f]+$/i.test(tok)) return BigInt(tok);
  if (/^-?[0-9]+$/.test(tok)) return BigInt(tok);
  return null;
}

function parseRaw(section: Section): Uint8Array {
  const words = tokens(section);
  const out = new Uint8Array(words.length * 8);
  const view = new DataView(out.buffer);
  words.forEach(({ tok, line }, i) => {
    const v = parseNumber(tok);
    if (v === null || v < 0n || v >= 1n << 64n) fail(line, `'${tok}' is not a 64-bit instruction word`);
    view.setBigUint64(i * 8, v, true);
  });
  return out;
}

function parseMem(section: Section): Uint8Array {
  const bytes = tokens(section);
  const out = new Uint8Array(bytes.length);
  bytes.forEach(({ tok, line }, i) => {
    const m = /^(?:0x)?([0-9a-f]{1,2})$/i.exec(tok);
    if (!m) fail(line, `'${tok}' is not a hex byte`);
    out[i] = parseInt(m[1]!, 16);
  });
  return out;
}

function parseResult(section: Section): bigint {
  const toks = tokens(section);
  if (toks.length !== 1) {
    fail(toks[1]?.line ?? section.start, `the result section must hold exactly one number, found ${toks.length}`);
  }
  const { tok, line } = toks[0]!;
  const v = parseNumber(tok);
  if (v === null) fail(line, `'${tok}' is not a number`);
  if (v < -(1n << 63n) || v >= 1n << 64n) fail(line, `result ${tok} does not fit in 64 bits`);
  return BigInt.asUintN(64, v);
}

/** Drops leading and trailing blank lines, keeping the interior verbatim. */
function trimLines(lines: string[]): string {
  let a = 0;
  let b = lines.length;
  while (a < b && lines[a]!.trim() === '') a++;
  while (b > a && lines[b - 1]!.trim() === '') b--;
  return lines.slice(a, b).join('\n');
}

/**
 * Parses a conformance `.data` file. Throws AsmError (E_ASM_SYNTAX, `location.line` = line of
 * the file) on a repeated section or a malformed raw, mem or result section.
 */
export function parseDataFile(text: string): DataFile {
  const lines = text.split(/\r?\n/);
  const sections = new Map<Known, Section>();
  let current: Section | null = null;
  lines.forEach((line, i) => {
    const header = /^--(?:\s+(\S.*?))?\s*$/.exec(line);
    if (header) {
      const name = (header[1] ?? '').toLowerCase();
      if (!KNOWN.has(name)) {
        current = null; // a note for other tools; its body is ignored
        return;
      }
      if (sections.has(name as Known)) fail(i + 1, `section '-- ${name}' appears twice`);
      current = { name: name as Known, start: i + 2, lines: [] };
      sections.set(name as Known, current);
      return;
    }
    (current as Section | null)?.lines.push(line);
  });

  const out: DataFile = {};
  const asm = sections.get('asm');
  if (asm) {
    out.asm = asm.lines.join('\n');
    out.asmLine = asm.start;
  }
  const raw = sections.get('raw');
  if (raw) out.raw = parseRaw(raw);
  const mem = sections.get('mem');
  if (mem) out.mem = parseMem(mem);
  const result = sections.get('result');
  if (result) out.result = parseResult(result);
  const error = sections.get('error');
  if (error) out.error = trimLines(error.lines.filter((l) => !l.trimStart().startsWith('#')));
  const c = sections.get('c');
  if (c) out.c = trimLines(c.lines);
  return out;
}
