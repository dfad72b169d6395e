/**
 * What kind of input the command line was given, told from its bytes: an ELF object (a program of
 * it, or a bare function with --symbol), a data file (`-- asm` / `-- raw` / `-- mem` sections),
 * assembly text, or raw bytecode.
 */
import { AsmError, CompileError, ErrorCode } from '../../runtime/errors.js';
import type { SourceLine } from '../../runtime/source-lines.js';
import { assemble } from '../asm/assemble.js';
import { parseDataFile } from '../asm/datafile.js';
import { parseElf } from '../elf/elf64.js';
import { extractProgram } from '../elf/extract.js';
import { loadObjectSpec, type ProgramSpec } from '../elf/loader.js';
import { programSourceLines } from '../object/lines.js';
import type { CliIO } from './io.js';
import { classicToEbpf, isClassicText } from '../cbpf/index.js';

/** An input file, read as what it is. */
export interface LoadedInput {
  bytecode: Uint8Array;
  mem?: Uint8Array;
  /** The whole ELF object, when the input is one compiled as an object. */
  object?: Uint8Array;
  /** The object's program chosen (--program, or the first). */
  program?: ProgramSpec;
  /** Its C source lines (from .BTF.ext), numbered from its first instruction. */
  source?: readonly SourceLine[];
  /** The text of a classic BPF program (`tcpdump -dd` / `-ddd` output); bytecode is its translation. */
  classic?: string;
}

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];

/** Assembly text has no NUL bytes and decodes as UTF-8; eBPF bytecode nearly always has NULs. */
function looksLikeText(bytes: Uint8Array): boolean {
  if (bytes.includes(0)) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/**
 * Reads `path` and tells what it is: an ELF object (its program `program`, the first by default,
 * or the bare function `symbol`), a data file, assembly text or raw bytecode.
 */
export async function loadInput(io: CliIO, path: string, symbol: string | undefined, program: string | undefined): Promise<LoadedInput> {
  const bytes = await io.readFile(path);
  if (bytes.length >= 4 && ELF_MAGIC.every((b, i) => bytes[i] === b)) {
    const elf = parseElf(bytes);
    // A function in .text (the conformance runner's `main`), or a program from its SEC() section.
    const textMain = symbol === undefined && program === undefined && elf.symbolByName('main') !== undefined;
    if (symbol !== undefined || textMain) return { bytecode: extractProgram(elf, symbol !== undefined ? { symbol } : {}) };
    const spec = loadObjectSpec(bytes);
    if (spec.programs.length === 0) {
      throw new CompileError(ErrorCode.BadElf, `${path} has no programs (no functions in SEC() sections) and no main`);
    }
    const chosen = program === undefined ? spec.programs[0]! : spec.programs.find((p) => p.name === program || p.section === program);
    if (!chosen) {
      throw new CompileError(
        ErrorCode.BadArgument,
        `no program named ${program}; the object has ${spec.programs.map((p) => `${p.name} (${p.section})`).join(', ')}`,
        { program: program! },
      );
    }
    return { bytecode: chosen.insns, object: bytes, program: chosen, source: programSourceLines(spec.btfExt, [chosen]) };
  }
  if (looksLikeText(bytes)) {
    const text = new TextDecoder().decode(bytes);
    if (isClassicText(text)) return { bytecode: classicToEbpf(text).bytecode, classic: text };
    if (/^\s*--\s*\w+/m.test(text)) {
      const data = parseDataFile(text);
      if (data.asm !== undefined) {
        const out: LoadedInput = { bytecode: assembleAt(data.asm, (data.asmLine ?? 1) - 1) };
        if (data.mem) out.mem = data.mem;
        return out;
      }
      if (data.raw) {
        const out: LoadedInput = { bytecode: data.raw };
        if (data.mem) out.mem = data.mem;
        return out;
      }
      throw new CompileError(ErrorCode.EmptyProgram, `${path} has no -- asm or -- raw section`);
    }
    return { bytecode: assemble(text) };
  }
  return { bytecode: bytes };
}

/** Assembles text that starts `lineOffset` lines into its file, reporting file line numbers. */
function assembleAt(text: string, lineOffset: number): Uint8Array {
  try {
    return assemble(text);
  } catch (e) {
    if (e instanceof AsmError && e.location.line !== undefined) {
      throw new AsmError(e.code, e.detail, { ...e.location, line: e.location.line + lineOffset });
    }
    throw e;
  }
}
