/**
 * bpf2wasm runtime: runs modules produced by the compiler. Runs in browsers, workers, edge
 * functions and Node; imports neither the compiler nor Binaryen.
 *
 * The public surface, as README "Library" documents it (api/runtime.api.txt pins it). Tooling
 * internals (ABI constants, map store, contexts, helper table, ...) are in `bpf2wasm/internal`,
 * which may change in any release.
 */
export {
  Bpf2WasmError, CompileError, AsmError, BpfRuntimeError, InternalError, ErrorCode, formatLocation, isBpf2WasmError,
  type ErrorLocation,
} from './errors.js';
export { instantiate, type InstantiateOptions } from './instance.js';
export { interpret, type InterpretOptions, type InterpreterEntry } from './interpreter.js';
export { BpfInstance, BpfProgram, type TestRunOptions, type TestRunResult, type TraceOutput } from './program.js';
export type { BatchFrames, BatchTestOptions, BatchTestResult, PackedFrames } from './packet/batch.js';
export type { ContextKind } from './uapi/index.js';
export type { ObjectOptions, TraceSink } from './object.js';
export { HelperRegistry, type HelperDefinition, type HelperFn } from './helper-registry.js';
export type { HelperSignature, HelperArgKind, HelperResultKind } from './abi.js';
export { BpfMap, type ValueInput } from './maps/api.js';
export { RingBuffer } from './stdlib/ringbuf.js';
export { PerfEventArray } from './stdlib/perf.js';
export { PinRegistry } from './pins.js';
export type { HostEnv } from './stdlib/host.js';
export type { HostNetwork, HostInterface, HostRoute, HostRouteType, HostNeighbour, HostNeighbourState, HostSocket, HostSocketState } from './packet/net.js';
export type { HostCgroup } from './packet/cgroups.js';
export type { TypeDesc } from './values.js';
