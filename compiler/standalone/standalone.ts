/**
 * `compileStandalone`: an ELF object as a WebAssembly module that needs no JavaScript and
 * imports nothing but WASI (`bpf2wasm compile IN --standalone`). The stages: compile the object
 * as `compileObject` does; refuse helpers only a host can provide (E_STANDALONE_HELPER, naming
 * helper and program); compute the initial memory (image.ts); link with the support module
 * (link.ts). The module's interface is in the README, "Standalone modules".
 */
import type { Manifest } from '../../runtime/abi.js';
import { CompileError, ErrorCode } from '../../runtime/errors.js';
import { mapTypeName } from '../../runtime/uapi/index.js';
import { compile, type CompileOptions, type HelperDecl } from '../compile.js';
import { compileObject, kernelHelperDecls, type ObjectCompileOptions } from '../object/compile-object.js';
import type { ObjectSpec } from '../elf/loader.js';
import { initialImage } from './image.js';
import { linkError } from './binary.js';
import { HOST_EXPORTS, linkStandalone, STANDALONE_SECTION, supportExports } from './link.js';
import { supportWasmBytes } from './support-wasm.js';

export { STANDALONE_SECTION } from './link.js';

/** Options of `compileStandalone`: `compileObject`'s, and global variables' initial values. */
export interface StandaloneOptions extends ObjectCompileOptions {
  /**
   * Global variables (`.rodata`, `.data`, `.bss`) by name, written into the module's initial
   * memory, as `instantiate({ globals })` sets them before the first run.
   */
  globals?: Record<string, unknown>;
}

/** A standalone module and its description (the JSON of its `bpf2wasm.standalone` section). */
export interface StandaloneModule {
  wasm: Uint8Array;
  description: StandaloneDescription;
}

/** What the `bpf2wasm.standalone` custom section says, for hosts. */
export interface StandaloneDescription {
  version: 1;
  /** The programs: each is exported as `export(addr: i32, len: i32) -> i64`. */
  programs: Array<{ name: string; export: string; type: string; section?: string; context?: string }>;
  /** The maps, by index (the first argument of the map accessors). */
  maps: Array<{
    index: number; name: string; type: string; keySize: number; valueSize: number; maxEntries: number; flags: number;
    keyType?: unknown; valueType?: unknown; variables?: unknown;
  }>;
  /** Where inputs go: the address `bpf2wasm_input` returns (contexts holding pointers into the input need it). */
  input: number;
  /** The host-facing exports besides memory and the programs. */
  exports: string[];
  /** bpf2wasm_status codes. */
  status: Record<string, string>;
}

/** The status codes bpf2wasm_status returns (wasm/standalone/index.ts). */
const STATUS = {
  0: 'ok: the last run returned',
  1: 'trap: a run is in progress or trapped (memory access outside linear memory, a Wasm trap)',
  2: 'E_CALL_DEPTH',
  3: 'E_UNKNOWN_HELPER',
  4: 'E_MEMORY_FAULT (checked mode; bpf2wasm_status_detail is the address)',
  5: 'E_BUDGET',
  6: 'E_HELPER_FAILED (bpf_spin_lock misuse, bpf_for_each_map_elem nested too deep, a bad callback)',
  7: 'E_CORE_RELO (an instruction poisoned by an unresolved CO-RE relocation ran; bpf2wasm_status_insn is the instruction)',
};

/**
 * Compiles an ELF object into a standalone module (WASI imports only; see the README,
 * "Standalone modules").
 *
 * @throws what `compileObject` throws; CompileError E_STANDALONE_HELPER when a program calls a
 *   helper that needs a host (packet helpers, custom helpers, kfuncs, calls through a register).
 */
export async function compileStandalone(
  input: Uint8Array | ObjectSpec | readonly (Uint8Array | ObjectSpec)[],
  options: StandaloneOptions = {},
): Promise<StandaloneModule> {
  const { globals, ...objectOptions } = options;
  const compiled = await compileObject(input, { ...objectOptions, repeatLoops: false, faultImport: true });
  const { manifest, spec } = compiled;
  const support = supportWasmBytes();
  const available = supportExports(support);
  refuseHostHelpers(manifest, spec.programs, available);
  const segments = await initialImage(manifest, globals);
  const description = describe(manifest);
  const wasm = linkStandalone({ support, program: compiled.wasm, manifest, segments, description: JSON.stringify(description) });
  return { wasm, description };
}

/**
 * Compiles raw eBPF bytecode (one program `main`, no maps) into a standalone module, as
 * `compileStandalone` does an object: the kernel's helpers are declared, and those that need a
 * host are refused (E_STANDALONE_HELPER).
 */
export async function compileStandaloneBytecode(bytes: Uint8Array, options: Omit<CompileOptions, 'helpers'> = {}): Promise<StandaloneModule> {
  const decls = new Map<number, HelperDecl>(kernelHelperDecls().map((h) => [h.id, h]));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i + 8 <= bytes.length; i += 8) {
    if (bytes[i] !== 0x85 || (bytes[i + 1]! & 0xf0) !== 0) continue;
    const id = view.getInt32(i + 4, true);
    if (!decls.has(id)) decls.set(id, { id, name: `helper_${id >>> 0}` });
  }
  const compiled = await compile(bytes, { ...options, helpers: [...decls.values()], repeatLoops: false, faultImport: true });
  const { manifest } = compiled;
  const support = supportWasmBytes();
  const name = manifest.programs[0]?.name ?? 'main';
  refuseHostHelpers(manifest, [{ name, insns: bytes }], supportExports(support));
  const segments = await initialImage(manifest, undefined);
  const description = describe(manifest);
  const wasm = linkStandalone({ support, program: compiled.wasm, manifest, segments, description: JSON.stringify(description) });
  return { wasm, description };
}

/** E_STANDALONE_HELPER for the first helper (or kfunc, or callx) a program uses that the support module lacks. */
function refuseHostHelpers(
  manifest: Manifest,
  programs: ReadonlyArray<{ name: string; insns: Uint8Array }>,
  available: ReadonlyMap<string, unknown>,
): void {
  const callers = (src: number, imm: number): { program?: string; insn?: number } => {
    for (const p of programs) {
      if (!manifest.programs.some((e) => e.name === p.name)) continue;
      const view = new DataView(p.insns.buffer, p.insns.byteOffset, p.insns.byteLength);
      for (let i = 0; i + 8 <= p.insns.length; i += 8) {
        if (p.insns[i] === 0x85 && (p.insns[i + 1]! >> 4) === src && view.getInt32(i + 4, true) === imm) return { program: p.name, insn: i / 8 };
      }
    }
    return {};
  };
  const fail = (what: string, helper: string, at: { program?: string; insn?: number }): never => {
    throw new CompileError(
      ErrorCode.StandaloneHelper,
      `program ${at.program ?? '?'} calls ${what}, which needs a host: a standalone module provides only the helpers that need none (maps, printk, ring buffers, bpf_loop, ...; see README "Standalone modules")`,
      { helper, ...(at.program !== undefined ? { program: at.program } : {}), ...(at.insn !== undefined ? { insn: at.insn } : {}) },
    );
  };
  for (const h of manifest.helpers) {
    if (h.kfunc) fail(`kfunc ${h.name}`, h.name, callers(2, h.id));
    if (!available.has(h.importName) || h.importName.startsWith('bpf2wasm_')) fail(`helper ${h.name} (id ${h.id >>> 0})`, h.name, callers(0, h.id));
  }
  if (manifest.usesCallx) {
    for (const p of programs) {
      for (let i = 0; i + 8 <= p.insns.length; i += 8) {
        if (p.insns[i] === 0x8d) fail('a helper through a register (callx)', 'callx', { program: p.name, insn: i / 8 });
      }
    }
    fail('a helper through a register (callx)', 'callx', {});
  }
}

function describe(manifest: Manifest): StandaloneDescription {
  // The accessors find map `index` at first descriptor + 64 * index (wasm/standalone/index.ts).
  const maps = manifest.maps ?? [];
  maps.forEach((m, i) => {
    if (m.index !== i || m.desc !== maps[0]!.desc + 64 * i) throw linkError(`map ${m.name} is not descriptor ${i} of the table`);
  });
  return {
    version: 1,
    programs: manifest.programs.map((p) => ({
      name: p.name, export: p.exportName, type: p.type,
      ...(p.section !== undefined ? { section: p.section } : {}), ...(p.context !== undefined ? { context: p.context } : {}),
    })),
    maps: (manifest.maps ?? []).map((m) => ({
      index: m.index, name: m.name, type: mapTypeName(m.type), keySize: m.keySize, valueSize: m.valueSize,
      maxEntries: m.maxEntries, flags: m.flags,
      ...(m.keyType ? { keyType: m.keyType } : {}),
      ...(m.valueType ? { valueType: m.valueType } : {}),
      ...(m.variables ? { variables: m.variables } : {}),
    })),
    input: manifest.layout.dataBase,
    exports: [...HOST_EXPORTS],
    status: STATUS,
  };
}
