/**
 * bpf2wasm runtime: runs modules produced by the compiler. Runs in browsers, workers, edge
 * functions and Node; imports neither the compiler nor Binaryen.
 */
export * from './errors.js';
export * from './abi.js';
export { instantiate, BpfInstance, type InstantiateOptions } from './instance.js';
export { HelperRegistry, callWithRegisters, type HelperDefinition, type HelperFn } from './helpers.js';
export { readManifest } from './manifest.js';
export { interpret, BpfInterpreter, type InterpretOptions, type InterpreterEntry, type InterpreterRunOptions } from './interpreter.js';
export type { BpfProgramInstance, RunOptions } from './program.js';
export { computeLayout, checkStackOptions } from './layout.js';
export { InsnMap, trapOffsetFromStack } from './insnmap.js';
export { decodeProgram, decodeSlot, readSlot } from './isa/decode.js';
export type * from './isa/insn.js';
export * as opcodes from './isa/opcodes.js';
export * from './helper-table.js';
export { ObjectRuntime, type ObjectOptions, type TraceSink } from './object.js';
export { BpfMap } from './maps/api.js';
export * as mapDesc from './maps/desc.js';
export { MapStore } from './maps/store.js';
export { layoutMaps, type MapPlacement, type MapsLayout } from './maps/layout.js';
export { RingBuffer } from './stdlib/ringbuf.js';
export { PerfEventArray } from './stdlib/perf.js';
export type { HostEnv, StdlibContext } from './stdlib/context.js';
export { createStandardHelpers, standardHelpers } from './stdlib/helpers.js';
export { decodeValue, encodeValue, formatValue, type TypeDesc } from './typedesc.js';
export {
  CONTEXT_AREA, XdpMd, SkBuff, XdpAction, writeXdpContext, writeSkbContext, packetHelpers,
  type PacketContextOptions, type PacketLayout,
} from './context.js';
export type { PacketRunResult } from './instance.js';
export { PinRegistry } from './pins.js';
