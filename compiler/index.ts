/**
 * bpf2wasm compiler: eBPF bytecode -> WebAssembly.
 */
export {
  compile, O1_MAX_INSNS, O1_PASSES,
  type CompileOptions, type CompiledModule, type EntryDecl, type HelperDecl, type OptLevel,
} from './compile.js';
export { buildCfg, type BasicBlock, type FunctionCfg, type ProgramCfg } from '../runtime/isa/cfg.js';
export { decodeProgram } from '../runtime/isa/decode.js';
export * from '../runtime/errors.js';
export { computeLayout } from '../runtime/layout.js';
export { validateProgram, checkReservedFields, type ValidateOptions } from './validate.js';
export { assemble, assembleInsns } from './asm/assemble.js';
export { disassemble, formatInsn, type AsmSyntax, type DisassembleOptions } from './asm/disasm.js';
export { parseDataFile, type DataFile } from './asm/datafile.js';
export { encodeInsn, encodeProgram } from './encode.js';
export { parseElf, ElfError, type ElfFile, type ElfSection, type ElfSymbol, type ElfRelocation } from './elf/reader.js';
export { extractProgram, locateProgram } from './elf/program.js';
export { load, type LoadOptions, type Engine } from './load.js';
export {
  parseBtf, parseBtfExt, readElfBtf, readMapDefinitions, readDataSection, BtfKind,
  type Btf, type BtfExt, type BtfType, type MapDef, type DataVariable,
} from './elf/btf.js';
export { MapType as BpfMapType, mapTypeName } from '../runtime/uapi/index.js';
export {
  loadObjectSpec, programTypeOfSection, type ObjectSpec, type ProgramSpec, type MapSpec,
} from './elf/loader.js';
export { compileObject, kernelHelperDecls, MAPS_BASE, type ObjectCompileOptions, type CompiledObject } from './object.js';
export { inspectObject, formatInspect, type InspectReport } from './inspect.js';
export { typeDescOf, mapTypeDescs } from './elf/typedesc.js';
