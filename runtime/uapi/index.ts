/**
 * The kernel UAPI facts bpf2wasm uses, in one place: map types and flags, errno values, program
 * context kinds and packet-program return codes, helper flags, the tracing context `struct pt_regs`. Helper ids (`BpfFunc.map_lookup_elem`) are
 * generated with the helper table in runtime/helper-table.ts.
 */
export * from './maps.js';
export * from './errno.js';
export * from './programs.js';
export * from './helper-flags.js';
export * from './tracing.js';
