/**
 * bpf2wasm compiler: eBPF bytecode -> WebAssembly.
 */
export {
  compile, computeLayout, O1_PASSES,
  type CompileOptions, type CompiledModule, type EntryDecl, type HelperDecl, type OptLevel,
} from './compile.js';
export { buildCfg, type BasicBlock, type FunctionCfg, type ProgramCfg } from './cfg.js';
export { decodeProgram } from '../runtime/isa/decode.js';
export * from '../runtime/errors.js';
