/**
 * One call from bytecode to a runnable program, with the engine chosen by an option: compiled to
 * Wasm (fast; needs run-time Wasm compilation) or interpreted (for hosts that forbid compiling
 * Wasm from bytes, such as Cloudflare Workers). Both give the same `BpfInstance`.
 */
import type { Program } from '../runtime/isa/insn.js';
import { instantiate, type InstantiateOptions } from '../runtime/instance.js';
import { interpret, interpretModule } from '../runtime/interpreter.js';
import type { ObjectSpec } from './elf/loader.js';
import { compileObject, planObject, type ObjectCompileOptions } from './object/compile-object.js';
import type { HelperDefinition } from '../runtime/helper-registry.js';
import type { BpfInstance } from '../runtime/program.js';
import { decodeProgram } from '../runtime/isa/decode.js';
import { buildCfg } from '../runtime/isa/cfg.js';
import { compile, type CompileOptions } from './compile.js';
import { validateProgram } from './validate.js';
import { CompileError, ErrorCode } from '../runtime/errors.js';

/** Which engine runs the program. */
export type EngineKind = 'compiled' | 'interpreter';

/** Options of `instantiateBytecode`: the compiler's, the engine and the host's helpers. */
export interface InstantiateBytecodeOptions extends Omit<CompileOptions, 'helpers'> {
  /** `compiled` (default) or `interpreter`. */
  engine?: EngineKind;
  /** The helpers the host provides (id, optional name and signature, and the function). */
  helpers?: readonly HelperDefinition[];
}

/**
 * Compiles (or prepares for the interpreter) eBPF bytecode, or a decoded program, and returns a
 * running instance on the chosen engine.
 */
export async function instantiateBytecode(bytecode: Uint8Array | Program, options: InstantiateBytecodeOptions = {}): Promise<BpfInstance> {
  const { engine = 'compiled', helpers, ...rest } = options;
  checkEngine(engine);
  if (engine === 'interpreter') {
    if (rest.validate) {
      const program = bytecode instanceof Uint8Array ? decodeProgram(bytecode, rest.maxInsns !== undefined ? { maxInsns: rest.maxInsns } : {}) : bytecode;
      const entryPcs = (rest.entries ?? [{ pc: 0 }]).map((e) => e.pc);
      validateProgram(program, buildCfg(program, entryPcs), {
        ...(bytecode instanceof Uint8Array ? { bytes: bytecode } : {}),
        ...(rest.frameSize !== undefined ? { frameSize: rest.frameSize } : {}),
        entryPcs,
      });
    }
    return interpret(bytecode, {
      ...(helpers ? { helpers } : {}),
      ...(rest.entries ? { entries: rest.entries } : {}),
      ...(rest.maxCallDepth !== undefined ? { maxCallDepth: rest.maxCallDepth } : {}),
      ...(rest.frameSize !== undefined ? { frameSize: rest.frameSize } : {}),
      ...(rest.maxInsns !== undefined ? { maxInsns: rest.maxInsns } : {}),
      ...(rest.resolveLddw ? { resolveLddw: rest.resolveLddw } : {}),
      ...(rest.checked ? { checked: true } : {}),
      ...(rest.budget !== undefined ? { budget: rest.budget } : {}),
    });
  }
  const compiled = await compile(bytecode, { ...rest, ...(helpers ? { helpers } : {}) });
  return instantiate(compiled.wasm, helpers ? { helpers } : {});
}

/**
 * Options of `instantiateObject`: `compileObject`'s, `instantiate`'s and the engine. `helpers` are
 * the host's helper functions; those given with a `signature` are also declared to the compiler
 * (a custom helper, or a kernel helper id with another signature), as `compileObject`'s `helpers`.
 */
export interface InstantiateObjectOptions extends Omit<ObjectCompileOptions, 'helpers'>, Omit<InstantiateOptions, 'helpers'> {
  /** `compiled` (default) or `interpreter`. */
  engine?: EngineKind;
  /** The helpers the host provides beyond (or instead of) the runtime's. */
  helpers?: readonly HelperDefinition[];
}

/**
 * Loads an ELF object (bytes or a parsed spec, or several to link) and returns a running instance
 * on the chosen engine. `interpreter` compiles no Wasm at run time: on hosts that forbid it
 * (Cloudflare Workers) pass the precompiled maps module as `mapsModule`. Both engines give the same
 * results, maps, trace output, buffer records and errors.
 */
export async function instantiateObject(
  input: Uint8Array | ObjectSpec | readonly (Uint8Array | ObjectSpec)[],
  options: InstantiateObjectOptions = {},
): Promise<BpfInstance> {
  const {
    engine = 'compiled', helpers, env, trace, globals, mapsModule, pins, kfuncs, ...compileOptions
  } = options;
  const declared = (helpers ?? []).filter((h) => h.signature !== undefined);
  const objectOptions = { ...compileOptions, ...(declared.length > 0 ? { helpers: declared } : {}) };
  const runOptions: InstantiateOptions = {
    ...(helpers ? { helpers } : {}),
    ...(env !== undefined ? { env } : {}),
    ...(trace !== undefined ? { trace } : {}),
    ...(globals !== undefined ? { globals } : {}),
    ...(mapsModule !== undefined ? { mapsModule } : {}),
    ...(pins !== undefined ? { pins } : {}),
    ...(kfuncs !== undefined ? { kfuncs } : {}),
  };
  checkEngine(engine);
  if (engine === 'interpreter') return interpretModule(planObject(input, objectOptions).image, runOptions);
  return instantiate((await compileObject(input, objectOptions)).wasm, runOptions);
}

/** E_BAD_ARGUMENT for an engine that is neither `compiled` nor `interpreter`. */
function checkEngine(engine: unknown): void {
  if (engine !== 'compiled' && engine !== 'interpreter') {
    throw new CompileError(ErrorCode.BadArgument, `engine must be 'compiled' or 'interpreter', not ${String(engine)}`);
  }
}
