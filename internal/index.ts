/**
 * bpf2wasm internals, for tooling (the CLI, scripts, tests, code generators): the Wasm ABI, the
 * map store and layout, decoding, opcodes, the helper table, program contexts, the engine seam.
 * Nothing here is covered by semver: user code imports `bpf2wasm/runtime` and
 * `bpf2wasm/compiler` only (as cilium/ebpf's `internal/`).
 */
export * from '../runtime/abi.js';
export { readManifest } from '../runtime/manifest.js';
export { computeLayout, checkStackOptions } from '../runtime/memory-layout.js';
export { InsnMap, trapOffsetFromStack } from '../runtime/insnmap.js';
export { decodeProgram, decodeSlot, readSlot } from '../runtime/isa/decode.js';
export type * from '../runtime/isa/insn.js';
export * as opcodes from '../runtime/isa/opcodes.js';
export { buildCfg, type BasicBlock, type FunctionCfg, type ProgramCfg } from '../runtime/isa/cfg.js';
export * from '../runtime/helper-table.js';
export { callWithRegisters, helperResult } from '../runtime/helper-registry.js';
export { ObjectRuntime } from '../runtime/object.js';
export { mapInfo, type MapOwner } from '../runtime/maps/api.js';
export * as mapDesc from '../runtime/maps/descriptor.js';
export { MapStore } from '../runtime/maps/store.js';
export { layoutMaps, type MapPlacement, type MapsLayout } from '../runtime/maps/placement.js';
export type { StdlibContext } from '../runtime/stdlib/host.js';
export { createStandardHelpers, standardHelpers } from '../runtime/stdlib/standard.js';
export { decodeValue, encodeValue, formatValue } from '../runtime/values.js';
export {
  CONTEXT_AREA, XdpMd, SkBuff, XdpAction, writeXdpContext, writeSkbContext, packetHelpers,
  type PacketContextOptions, type PacketLayout,
} from '../runtime/context.js';
export { engineOf, manifestOf, type PacketKind } from '../runtime/program.js';
export {
  runtimeErrorOf, faultError, bindHelpers, programEntries, type Engine, type BoundEntry, type BoundHelpers,
} from '../runtime/engine.js';
export {
  InterpreterEngine, interpretModule, type InterpreterImage, type CallSiteRewrite, type ArrayLookupSite,
} from '../runtime/interpreter.js';
export { validateProgram, checkReservedFields, type ValidateOptions } from '../compiler/validate.js';
export { O1_MAX_INSNS, O1_PASSES, planModule, type PlannedModule, type EntryDecl, type HelperDecl } from '../compiler/compile.js';
export { assembleInsns } from '../compiler/asm/assemble.js';
export { formatInsn, type AsmSyntax } from '../compiler/asm/disasm.js';
export { parseDataFile, type DataFile } from '../compiler/asm/datafile.js';
export { encodeInsn, encodeProgram } from '../compiler/encode.js';
export { parseElf, ElfError, type ElfFile, type ElfSection, type ElfSymbol, type ElfRelocation } from '../compiler/elf/elf64.js';
export { extractProgram, locateProgram } from '../compiler/elf/extract.js';
export { parseBtf, BtfKind, type Btf, type BtfType } from '../compiler/btf/types.js';
export { parseBtfExt, type BtfExt } from '../compiler/btf/ext.js';
export { readElfBtf } from '../compiler/elf/btf-sections.js';
export { readMapDefinitions, type MapDef } from '../compiler/elf/map-defs.js';
export { readDataSection, type DataVariable } from '../compiler/elf/data.js';
export * as uapi from '../runtime/uapi/index.js';
export { MapType as BpfMapType, mapTypeName } from '../runtime/uapi/index.js';
export { loadObjectSpec, programTypeOfSection, type ObjectSpec, type ProgramSpec, type MapSpec } from '../compiler/elf/loader.js';
export { kernelHelperDecls, MAPS_BASE, planObject, type PlannedObject } from '../compiler/object/compile-object.js';
export { typeDescOf, mapTypeDescs } from '../compiler/btf/typedesc.js';
