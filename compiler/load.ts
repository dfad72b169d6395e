/**
 * One call from bytecode to a runnable program, with the engine chosen by an option: compiled to
 * Wasm (fast; needs run-time Wasm compilation) or interpreted (for hosts that forbid compiling
 * Wasm from bytes, such as Cloudflare Workers). Both give the same `BpfInstance`.
 */
import type { Program } from '../runtime/isa/insn.js';
import { instantiate } from '../runtime/instance.js';
import { interpret } from '../runtime/interpreter.js';
import type { HelperDefinition } from '../runtime/helper-registry.js';
import type { BpfInstance } from '../runtime/program.js';
import { decodeProgram } from '../runtime/isa/decode.js';
import { buildCfg } from '../runtime/isa/cfg.js';
import { compile, type CompileOptions } from './compile.js';
import { validateProgram } from './validate.js';

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
