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
