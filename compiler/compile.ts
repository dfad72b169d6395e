/**
 * The compile pipeline: decode -> CFG -> structure + emit (Binaryen) -> validate -> optimise ->
 * binary with the manifest and instruction map as custom sections.
 */
import {
  ABI_VERSION, DEFAULT_FRAME_SIZE, DEFAULT_MAX_CALL_DEPTH, GENERIC_HELPER_SIGNATURE, INSN_MAP_SECTION,
  MANIFEST_SECTION, type HelperSignature, type Manifest, type ProgramEntry,
} from '../runtime/abi.js';
import { Bpf2WasmError, CompileError, ErrorCode, InternalError } from '../runtime/errors.js';
import type { LddwInsn, Program } from '../runtime/isa/insn.js';
import { MAX_INSNS } from '../runtime/isa/opcodes.js';
import { loadBinaryen, lowerToBinaryen, validateQuietly } from './binaryen.js';
import { buildCfg, type ProgramCfg } from '../runtime/isa/cfg.js';
import { decodeForCompile } from './lazy-program.js';
import { emitModule, type EmitResult, type HelperInfo } from './emit.js';
import type { ArrayMapInfo } from './rewrite/array-lookup.js';
import { validateProgram } from './validate.js';
import { checkStackOptions, computeLayout } from '../runtime/memory-layout.js';
import { encodeInsnMap, encodeInsnMapColumns } from '../runtime/insnmap.js';
import { encodeSourceLines, LINES_SECTION, type SourceLine } from '../runtime/source-lines.js';
import { writeModule, writeModuleWith, type WrittenModule } from './wasm-writer.js';
import type { WModule } from './wir.js';
import { appendCustomSections, insnMapFromSourceMap, utf8 } from './sections.js';
import { addLoopExports, batchExports, shiftInsnMap } from './batch-export.js';
import { insnMapHasOffsetIn, loopFunctions, repeatExports } from './repeat-export.js';
import { programEntries } from '../runtime/engine.js';

/** Optimisation level: 0 skips Binaryen's optimiser, 1 (default) runs cheap passes that pay off, 2 runs Binaryen -O2. */
export type OptLevel = 0 | 1 | 2;

/** A helper the host provides. */
export interface HelperDecl {
  id: number;
  /** Import name; defaults to `helper_<id>`. */
  name?: string;
  /** Defaults to the generic (i64 x 5) -> i64. */
  signature?: HelperSignature;
  /** The helper runs program callbacks (bpf_loop, ...): calls to it set up the callback's frame. */
  callback?: boolean;
}

/** One program entry point in the bytecode. */
export interface EntryDecl {
  name: string;
  /** Instruction index of its first instruction. */
  pc: number;
  /** Program type, e.g. `xdp`; `raw` by default. */
  type?: string;
  section?: string;
}

/**
 * The level `compile` uses when none is given: 0, the project's own lowering written directly,
 * which needs no Binaryen. Chosen by measurement (README "Levels"): with switch tables, copy
 * loops and if-conversion done in the project's IR, -O1 no longer buys a clear run-time gain over
 * the corpus, and it costs ~0.9 s of cold start loading Binaryen.
 */
export const DEFAULT_OPT_LEVEL: OptLevel = 0;

export interface CompileOptions {
  /** 0 (the default, {@link DEFAULT_OPT_LEVEL}), 1 or 2 (Binaryen's passes, loaded on demand). */
  optLevel?: OptLevel;
  /**
   * The helpers the host provides. When given, a call to any other id is a compile error
   * (E_UNKNOWN_HELPER); when omitted, any id compiles to an import with the generic signature.
   */
  helpers?: readonly HelperDecl[];
  /** Entry points; default one program `main` at instruction 0. */
  entries?: readonly EntryDecl[];
  /** Maximum bpf-to-bpf call depth (frames); default 8, as the kernel. */
  maxCallDepth?: number;
  /** Stack bytes per frame; default 512, as the kernel. */
  frameSize?: number;
  /** Maximum program size in instruction slots; default 1,000,000 (the kernel's limit). */
  maxInsns?: number;
  /**
   * Run the kernel-style structural checks of compiler/validate.ts before generating code
   * (unreachable code, uninitialised registers, stack offsets, infinite loops, reserved fields).
   */
  validate?: boolean;
  /**
   * Checked memory mode: every load, store and atomic is confined to the stack region and the input
   * memory (never the null guard, the runtime's scratch area or, later, map metadata), or the
   * program stops with E_MEMORY_FAULT naming the instruction and the address.
   */
  checked?: boolean;
  /**
   * Record in the module's instruction map (custom section `bpf2wasm.insnmap`) where the code of
   * every instruction starts, not only of those that can trap (loads, stores, calls): for tools
   * that relate the Wasm code to the eBPF instructions, such as the playground. Costs 8 bytes per
   * instruction in the section and nothing at run time. Applies at -O0 (Binaryen's optimisations
   * move code across instructions); default false.
   */
  mapAllInstructions?: boolean;
  /**
   * Instruction budget per run (charged at region heads for the code they lead to, checked at
   * function entries and loop heads): a program that exceeds it stops with E_BUDGET and the
   * instance stays usable.
   */
  budget?: number;
  /**
   * Copy and fill loops run as `memory.copy` / `memory.fill` (Wasm bulk memory) with the loop's
   * exact semantics: registers, faults, overlaps and budget as the loop (compiler/rewrite/copy-loop.ts).
   * `false` keeps them as loops. Default true, at every level.
   */
  bulkMemory?: boolean;
  /** Binaryen passes to run instead of the level's default list (levels 1 and 2 only). */
  passes?: readonly string[];
  /** Called with each phase's name and duration in milliseconds (for profiling the compiler). */
  onPhase?: (phase: string, ms: number) => void;
  /** Resolves lddw pseudo sources (maps, variables); used by the ELF loader. */
  resolveLddw?: (insn: LddwInsn) => bigint;
  /** Maps region below the stack (descriptors + metadata, then the value arena); see compileObject. */
  mapsRegion?: { arenaBase: number; end: number };
  /** Resolves kfunc calls (see EmitOptions.resolveKfunc); compileObject sets it from the object's BTF. */
  resolveKfunc?: (imm: number, pc: number) => HelperInfo;
  /** Compile bpf_tail_call inline between this module's programs (see EmitOptions.tailCalls). */
  tailCalls?: boolean;
  /** The map descriptor table (see EmitOptions.descriptors). */
  descriptors?: { base: number; count: number };
  /** Constant array maps, for inline lookups. */
  arrayMap?: (insn: LddwInsn) => ArrayMapInfo | undefined;
  /** Extra manifest fields (maps, license) from compileObject. */
  manifestExtras?: Pick<Manifest, 'maps' | 'license' | 'keyScratch' | 'corePoisons' | 'sockCasts'>;
  /**
   * @internal Split eBPF functions of more than this many instructions into several Wasm functions
   * of about this size (default 100,000, compiler/lower/split.ts); tests split small programs.
   */
  chunkInsns?: number;
  /**
   * @internal Loops get a second copy without the budget and checked-mode checks a test at their
   * entry proves cannot fire (compiler/rewrite/loop-versions.ts); default true, tests compare with false.
   */
  loopVersions?: boolean;
  /**
   * @internal Switch lookups load from the module's constant tables (compiler/rewrite/switch-table.ts
   * ConstTables); default true, false keeps them as packed words and `select`s (what a lookup
   * becomes when the region is full), for the tests.
   */
  constTables?: boolean;
  /**
   * @internal Each program's repeat loop `<export>__repeat` (compiler/repeat-export.ts), which
   * `test({ repeat })` times; default true. False writes a module as those compiled before the
   * loops existed (the runtime then repeats from JS), for the tests, and for standalone modules,
   * which export their own interface.
   */
  repeatLoops?: boolean;
  /**
   * @internal Faults call the import `env.fault` instead of the module's own fault function (which
   * records the fault in memory and traps, so that a module without helpers imports no JavaScript
   * function): what `compileStandalone` links to its support module's hook.
   */
  faultImport?: boolean;
  /** @internal C source lines of the instructions (compileObject), written to the `bpf2wasm.lines` section. */
  sourceLines?: readonly SourceLine[];
}

/** The result of compiling: a Wasm module and the description of what it needs. */
export interface CompiledModule {
  /** The module, with the manifest and instruction map as custom sections. */
  wasm: Uint8Array;
  manifest: Manifest;
}

/**
 * Binaryen passes run at -O1, chosen by measurement (npm run bench, and the kernels of
 * test-programs/bench): together they turn clang's branchy eBPF into selects and fold the
 * register copies, which V8 does not do by itself (log2 kernel 2.2x faster, byte copy 1.25x),
 * at about a third of the cost of Binaryen's -O2.
 */
export const O1_PASSES: readonly string[] = [
  'simplify-locals-nostructure',
  'vacuum',
  'remove-unused-brs',
  'coalesce-locals',
  'simplify-locals',
  'vacuum',
  'merge-blocks',
  'remove-unused-brs',
  'optimize-instructions',
];

/**
 * Above this many instructions -O1 writes the module directly, as -O0 does: Binaryen's passes
 * grow superlinearly with function size, while V8's own optimiser still compiles the result well.
 */
export const O1_MAX_INSNS = 20_000;

const GENERATOR = 'bpf2wasm 0.1.0';


/**
 * A module planned but not yet generated: the decoded program, its control flow, the code
 * generator's module (bodies are generated on demand) and the manifest the module will carry.
 * The interpreter runs a planned module without generating any code (see `instantiateObject`).
 */
export interface PlannedModule {
  program: Program;
  cfg: ProgramCfg;
  emitted: EmitResult;
  manifest: Manifest;
}

/**
 * Everything of compiling but code generation: decodes, checks the options, builds the control
 * flow, validates (with `validate`), declares imports, callbacks and tail calls, and writes the
 * manifest. Throws what `compile` throws for these stages.
 */
export function planModule(
  input: Uint8Array | Program,
  options: CompileOptions = {},
  phase: (name: string) => void = noPhase,
): PlannedModule {
  const program = input instanceof Uint8Array ? decodeForCompile(input, { maxInsns: options.maxInsns ?? MAX_INSNS }) : input;
  const optLevel = options.optLevel ?? DEFAULT_OPT_LEVEL;
  if (optLevel !== 0 && optLevel !== 1 && optLevel !== 2) {
    throw new CompileError(ErrorCode.BadArgument, `optimisation level must be 0, 1 or 2, not ${String(optLevel)}`);
  }
  const maxCallDepth = options.maxCallDepth ?? DEFAULT_MAX_CALL_DEPTH;
  const frameSize = options.frameSize ?? DEFAULT_FRAME_SIZE;
  checkStackOptions(maxCallDepth, frameSize);
  const layout = computeLayout(maxCallDepth, frameSize, options.mapsRegion);
  if (options.budget !== undefined && (!Number.isSafeInteger(options.budget) || options.budget < 0)) {
    throw new CompileError(ErrorCode.BadArgument, `budget must be a non-negative integer, not ${String(options.budget)}`);
  }
  const programs = programEntries(options.entries);
  phase('decode');
  const cfg = buildCfg(program, programs.map((e) => e.insn));
  phase('cfg');
  if (options.validate) {
    validateProgram(program, cfg, {
      ...(input instanceof Uint8Array ? { bytes: input } : {}),
      frameSize,
      entryPcs: programs.map((e) => e.insn),
    });
    phase('verify');
  }

  const helperTable = options.helpers ? new Map(options.helpers.map((h) => [h.id, h])) : undefined;
  const resolveHelper = (id: number, pc: number): HelperInfo => {
    if (helperTable) {
      const h = helperTable.get(id);
      if (!h) {
        throw new CompileError(ErrorCode.UnknownHelper, `call to helper ${id}, which the host does not provide`, {
          insn: pc, helper: String(id),
        });
      }
      return {
        id, name: h.name ?? `helper_${id}`, signature: h.signature ?? GENERIC_HELPER_SIGNATURE,
        ...(h.callback ? { callback: true } : {}),
      };
    }
    return { id, name: `helper_${id}`, signature: GENERIC_HELPER_SIGNATURE };
  };

  let emitted: EmitResult;
  try {
    emitted = emitModule(cfg, {
    layout,
    entries: programs.map((p) => ({
      name: p.name, exportName: p.exportName, pc: p.insn, context: p.context,
    })),
    resolveHelper,
    ...(options.checked ? { checked: true } : {}),
    ...(options.mapAllInstructions && (options.optLevel ?? DEFAULT_OPT_LEVEL) === 0 ? { mapAllInstructions: true } : {}),
    ...(options.budget !== undefined ? { budget: options.budget } : {}),
    ...(options.resolveLddw ? { resolveLddw: options.resolveLddw } : {}),
    ...(options.tailCalls ? { tailCalls: true } : {}),
    ...(options.descriptors ? { descriptors: options.descriptors } : {}),
    ...(options.resolveKfunc ? { resolveKfunc: options.resolveKfunc } : {}),
    ...(options.arrayMap ? { arrayMap: options.arrayMap } : {}),
    ...(options.bulkMemory === false ? { bulkMemory: false } : {}),
    ...(options.chunkInsns !== undefined ? { chunkInsns: options.chunkInsns } : {}),
    ...(options.loopVersions === false ? { loopVersions: false } : {}),
    ...(options.constTables === false ? { constTables: false } : {}),
    ...(options.faultImport ? { faultImport: true } : {}),
    });
  } catch (e) {
    throw stageError(e, true);
  }
  phase('emit');
  const manifest: Manifest = {
    abiVersion: ABI_VERSION,
    generator: GENERATOR,
    programs,
    helpers: emitted.helpers,
    usesCallx: emitted.usesCallx,
    layout,
    insnCount: program.slotCount,
    checked: options.checked === true,
    ...(options.budget !== undefined ? { budget: options.budget } : {}),
    ...(emitted.callbacks.length > 0 ? { callbacks: emitted.callbacks } : {}),
    ...(emitted.usesTailCalls ? { tailCalls: true } : {}),
    ...options.manifestExtras,
  };
  return { program, cfg, emitted, manifest };
}

/**
 * Compiles eBPF bytecode (8-byte little-endian instruction words) or an already decoded program to
 * a Wasm module. Throws CompileError (with an error code and instruction index) for bad programs.
 */
export async function compile(input: Uint8Array | Program, options: CompileOptions = {}): Promise<CompiledModule> {
  // The clock is read only for a caller that asks for the phases: in Node, the first read of
  // `performance` loads perf_hooks (~2 ms of a fresh process's first compile).
  const { onPhase } = options;
  let t = onPhase ? performance.now() : 0;
  const phase = !onPhase ? noPhase : (name: string): void => {
    const now = performance.now();
    onPhase(name, now - t);
    t = now;
  };
  const { program, emitted, manifest } = planModule(input, options, phase);
  const optLevel = options.optLevel ?? DEFAULT_OPT_LEVEL;
  // (Plain try/catch, no closures per stage: a fresh context compiles each closure it runs.)
  if (optLevel === 0 || (optLevel === 1 && !options.passes && program.slotCount > O1_MAX_INSNS)) {
    // -O0 writes the bytes directly and hands the writer's own buffer to `finish`, which copies it
    // once into the final module. They are not validated here: the engine validates the module
    // when it compiles it (`instantiate` reports a failure as E_BAD_MODULE), and validating here
    // as well cost 13% of a 10k-instruction compile. A module the writer gets wrong is a bpf2wasm
    // bug; the tests run every module they compile through WebAssembly.validate (and Binaryen and wabt).
    // The batch and repeat loops are written with the module (WModule `appended`), not added to
    // the written bytes by `finish`, which would read the module back and decode the entries again.
    try {
      const module = { ...emitted.module, appended: loopFunctions(emitted.module, manifest.programs, options.repeatLoops !== false) };
      return writeModuleWith(module, finishWritten, { manifest, options, phase });
    } catch (e) {
      throw stageError(e, true);
    }
  }
  try {
    const { binary, insnMap } = await optimizeWithBinaryen(emitted.module, optLevel as 1 | 2, options.passes, phase);
    phase('binary');
    return finish(binary, insnMap, manifest, options);
  } catch (e) {
    throw stageError(e, false);
  }
}

/** `finish` for the direct writer's module (its buffers, valid until this returns), the loops written with it. */
function finishWritten(
  written: WrittenModule, c: { manifest: Manifest; options: CompileOptions; phase: (name: string) => void },
): CompiledModule {
  c.phase('binary');
  return finish(written.binary, encodeInsnMapColumns(written.insnOffsets, written.insnIndices), c.manifest, c.options, false);
}

/**
 * The finished module: batch and repeat loops (unless `addLoops` is false: the direct writer wrote
 * them), then the instruction map, manifest and source lines appended.
 */
function finish(binary: Uint8Array, insnMap: Uint8Array, manifest: Manifest, options: CompileOptions, addLoops = true): CompiledModule {
  // XDP and skb programs get their batch loop inside the module (compiler/batch-export.ts), every
  // program its repeat loop (compiler/repeat-export.ts).
  const loops = !addLoops ? { binary, shift: 0 } : addLoopExports(binary, [
    ...batchExports(manifest.programs.flatMap((p) => {
      const kind = p.context === 'xdp_md' ? 'xdp' as const : p.context === '__sk_buff' ? 'skb' as const : undefined;
      return kind ? [{ exportName: p.exportName, kind }] : [];
    })),
    // Entries are copied into their loops where no function was inlined into another (-O0, -O1's passes).
    ...(options.repeatLoops === false ? [] : repeatExports(
      manifest.programs,
      (options.optLevel ?? DEFAULT_OPT_LEVEL) <= 1 && !options.passes,
      (start, end) => insnMapHasOffsetIn(insnMap, start, end),
    )),
  ]);
  const sections: Array<[string, Uint8Array]> = [
    [INSN_MAP_SECTION, shiftInsnMap(insnMap, loops.shift)],
    [MANIFEST_SECTION, utf8(JSON.stringify(manifest))],
  ];
  if (options.sourceLines && options.sourceLines.length > 0) sections.push([LINES_SECTION, encodeSourceLines(options.sourceLines)]);
  return { wasm: appendCustomSections(loops.binary, sections), manifest };
}

/** The phase callback of a compile that does not time its phases. */
function noPhase(_name: string): void {}

/**
 * What an exception of a code generation stage becomes: a typed error stays as it is; with
 * `stackGuard` (a stage that recurses over nested control flow) a host stack overflow becomes
 * E_TOO_COMPLEX; anything else is a bpf2wasm bug (E_INTERNAL).
 */
function stageError(e: unknown, stackGuard: boolean): Bpf2WasmError {
  if (e instanceof Bpf2WasmError) return e;
  if (stackGuard && isStackOverflow(e)) return tooComplex();
  return new InternalError(ErrorCode.Internal, `code generation failed: ${e instanceof Error ? e.message : String(e)}`, {}, { cause: e });
}

function isStackOverflow(e: unknown): boolean {
  return e instanceof RangeError && /call stack/i.test(e.message);
}

function tooComplex(): CompileError {
  return new CompileError(ErrorCode.TooComplex, 'the program nests too deeply to compile on this host', {});
}

/** Runs a stage that recurses over nested control flow; a host stack overflow becomes E_TOO_COMPLEX. */
function withStackGuard<T>(stage: () => T): T {
  try {
    return stage();
  } catch (e) {
    if (isStackOverflow(e)) throw tooComplex();
    throw e;
  }
}

/**
 * The module written directly, as -O0 does, when Binaryen's passes overflow the stack: an owned
 * copy of the writer's bytes, since it is returned across an `await`.
 */
function writeDirect(mod: WModule): { binary: Uint8Array; insnMap: Uint8Array } {
  const written = writeModule(mod);
  return { binary: written.binary, insnMap: encodeInsnMapColumns(written.insnOffsets, written.insnIndices) };
}

/** -O1/-O2: through Binaryen, which validates, optimises and writes the module and a source map. */
async function optimizeWithBinaryen(
  mod: WModule,
  optLevel: 1 | 2,
  passes: readonly string[] | undefined,
  phase: (name: string) => void,
): Promise<{ binary: Uint8Array; insnMap: Uint8Array }> {
  const b = await loadBinaryen(`-O${optLevel}`);
  phase('load-binaryen');
  const m = withStackGuard(() => lowerToBinaryen(b, mod));
  try {
    phase('lower');
    validateQuietly(m);
    phase('validate');
    try {
      if (passes) {
        b.setOptimizeLevel(optLevel);
        m.runPasses(passes);
      } else if (optLevel === 1) {
        m.runPasses(O1_PASSES);
      } else {
        b.setOptimizeLevel(2);
        b.setShrinkLevel(0);
        m.optimize();
      }
      phase('optimize');
      const { binary, sourceMap } = m.emitBinary('bpf.map');
      return { binary, insnMap: encodeInsnMap(insnMapFromSourceMap(sourceMap)) };
    } catch (e) {
      // Sinking a long dependency chain into one expression can nest deeper than binaryen.js's
      // recursion survives. The unoptimised module is correct; V8 still optimises it.
      if (e instanceof RangeError && /call stack/i.test(e.message)) {
        phase('optimize-overflow');
        return writeDirect(mod);
      }
      throw e;
    }
  } finally {
    m.dispose();
  }
}
