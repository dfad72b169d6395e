/**
 * bpf2wasm compiler: eBPF bytecode and ELF objects -> WebAssembly.
 *
 * The public surface, as README "Library" and "ELF objects" document it (api/compiler.api.txt
 * pins it). Tooling internals (ELF and BTF readers, validation, encoders, ...) are in
 * `bpf2wasm/internal`.
 */
export {
  compile, type CompileOptions, type CompiledModule, type EntryDecl, type HelperDecl, type OptLevel,
} from './compile.js';
export { compileObject, type ObjectCompileOptions, type CompiledObject } from './object/compile-object.js';
export { parseKconfig, type LoadKconfig } from './elf/kconfig.js';
export {
  compileStandalone, STANDALONE_SECTION, type StandaloneOptions, type StandaloneModule, type StandaloneDescription,
} from './standalone/standalone.js';
export {
  instantiateBytecode, instantiateObject, type InstantiateBytecodeOptions, type InstantiateObjectOptions, type EngineKind,
} from './load.js';
export { assemble } from './asm/assemble.js';
export { disassemble, type AsmSyntax, type DisassembleOptions } from './asm/disasm.js';
export { inspectObject, formatInspect, type InspectReport } from './object/inspect.js';
export { generateTypes, type GenerateTypesOptions } from './gen/types.js';
export {
  Bpf2WasmError, CompileError, AsmError, BpfRuntimeError, InternalError, ErrorCode, formatLocation, isBpf2WasmError,
  type ErrorLocation,
} from '../runtime/errors.js';
