#!/usr/bin/env node
/**
 * Builds the Wasm-side runtime pieces written in AssemblyScript and embeds them in the runtime, so
 * the runtime works where there is no file access (browsers, workers, edge functions).
 *
 *   node scripts/build-wasm.mjs [--check]
 *
 *   (no flag)  compile wasm/maps/index.ts and write runtime/maps/maps-wasm.ts
 *   --check    write nothing; exit 1 if runtime/maps/maps-wasm.ts differs from a fresh build
 *
 * The module must not touch memory the runtime owns: it may import only `env.memory`, and it
 * must have no data segment outside the maps' scratch area [0x1800, 0x2000) (it has none), no
 * globals and no start function. The script checks that and the exports' Wasm signatures, since
 * compiled programs import them directly as helpers, and fails otherwise.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import asc from 'assemblyscript/asc';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ENTRY = 'wasm/maps/index.ts';
const OUT = join(ROOT, 'runtime/maps/maps-wasm.ts');
const ME = 'build-wasm.mjs';

/** The maps' scratch area: the only place the module could keep static data. */
const SCRATCH = [0x1800, 0x2000];

export const ASC_FLAGS = [
  '--runtime', 'stub', '--importMemory', '--noExportMemory', '--memoryBase', String(SCRATCH[0]),
  '--noAssert', '--use', 'abort=', '-O3', '--converge',
];

/** Exports and their Wasm signatures (params -> results). */
const EXPORTS = {
  map_lookup_elem: 'i32 i32 -> i32',
  map_update_elem: 'i32 i32 i32 i64 -> i64',
  map_delete_elem: 'i32 i32 -> i64',
  map_push_elem: 'i32 i32 i64 -> i64',
  map_pop_elem: 'i32 i32 -> i64',
  map_peek_elem: 'i32 i32 -> i64',
  map_lookup_percpu_elem: 'i32 i32 i32 -> i32',
  user_lookup_elem: 'i32 i32 -> i32',
  user_update_elem: 'i32 i32 i32 i32 -> i32',
  user_delete_elem: 'i32 i32 -> i32',
  user_push_elem: 'i32 i32 i32 -> i32',
  user_pop_elem: 'i32 i32 -> i32',
  user_peek_elem: 'i32 i32 -> i32',
  map_get_next_key: 'i32 i32 i32 -> i32',
  map_prog_at: 'i32 i32 -> i32',
  map_next_slot: 'i32 i32 -> i32',
  map_slot_key: 'i32 i32 -> i32',
  map_slot_value: 'i32 i32 -> i32',
  map_meta_size: 'i32 -> i32',
  map_init: 'i32 i32 -> i32',
  map_clear: 'i32 -> ',
};

/** Compiles the maps module; returns its bytes. */
export async function compileMaps() {
  return compileAs(ENTRY, ASC_FLAGS);
}

/** Compiles an AssemblyScript entry file with `flags`; returns the module's bytes. */
async function compileAs(entry, flags) {
  let wasm = null;
  const stderr = asc.createMemoryStream();
  const { error } = await asc.main([entry, ...flags, '--outFile', 'maps.wasm'], {
    stdout: asc.createMemoryStream(),
    stderr,
    readFile: (name, baseDir) => {
      try {
        return readFileSync(resolve(ROOT, baseDir, name), 'utf8');
      } catch {
        return null;
      }
    },
    writeFile: (name, contents) => {
      if (name.endsWith('maps.wasm')) wasm = contents;
    },
    listFiles: () => [],
  });
  if (error || !wasm) throw new Error(`${ME}: asc failed: ${error?.message ?? 'no output'}\n${stderr.toString()}`);
  return wasm;
}

/** Reads the sections the checks need. Throws on anything it does not expect. */
export function inspectModule(bytes, { tables = false } = {}) {
  let p = 8;
  const u8 = () => bytes[p++];
  const leb = () => {
    let r = 0, shift = 0, b;
    do {
      b = u8();
      r += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    return r;
  };
  const sleb = () => {
    let r = 0n, shift = 0n, b;
    do {
      b = u8();
      r |= BigInt(b & 0x7f) << shift;
      shift += 7n;
    } while (b & 0x80);
    if (b & 0x40) r -= 1n << shift;
    return r;
  };
  const name = () => {
    const n = leb();
    const s = new TextDecoder().decode(bytes.subarray(p, p + n));
    p += n;
    return s;
  };
  const valtype = (t) => ({ 0x7f: 'i32', 0x7e: 'i64', 0x7d: 'f32', 0x7c: 'f64' })[t] ?? `0x${t.toString(16)}`;
  const types = [], funcs = [], imports = [], exports = [], data = [];
  let importedFuncs = 0, globals = 0, start = false;
  while (p < bytes.length) {
    const id = u8();
    const size = leb();
    const end = p + size;
    switch (id) {
      case 1: for (let n = leb(); n > 0; n--) {
        if (u8() !== 0x60) throw new Error('unexpected type form');
        const params = Array.from({ length: leb() }, () => valtype(u8()));
        const results = Array.from({ length: leb() }, () => valtype(u8()));
        types.push(`${params.join(' ')} -> ${results.join(' ')}`);
      } break;
      case 2: for (let n = leb(); n > 0; n--) {
        const mod = name(), field = name(), kind = u8();
        imports.push(`${mod}.${field}`);
        if (kind === 0) { leb(); importedFuncs++; } else if (kind === 2 || (tables && kind === 1)) { if (kind === 1) u8(); const f = u8(); leb(); if (f & 1) leb(); } else throw new Error(`import ${mod}.${field} of kind ${kind}`);
      } break;
      case 3: for (let n = leb(); n > 0; n--) funcs.push(leb()); break;
      case 6: globals = leb(); break;
      case 7: for (let n = leb(); n > 0; n--) {
        const field = name(), kind = u8(), index = leb();
        exports.push({ name: field, kind, sig: kind === 0 ? types[funcs[index - importedFuncs]] : undefined });
      } break;
      case 8: start = true; break;
      case 11: for (let n = leb(); n > 0; n--) {
        const flags = leb();
        if (flags !== 0) throw new Error(`data segment with flags ${flags}`);
        if (u8() !== 0x41) throw new Error('data segment offset is not i32.const');
        const offset = Number(sleb());
        if (u8() !== 0x0b) throw new Error('data segment offset is not a constant');
        const len = leb();
        p += len;
        data.push({ offset, len });
      } break;
      default: break;
    }
    p = end;
  }
  return { imports, exports, data, globals, start };
}

/** Checks the module keeps to its rules; returns a list of problems. */
export function checkModule(bytes) {
  const m = inspectModule(bytes);
  const problems = [];
  if (m.imports.join() !== 'env.memory') problems.push(`imports ${m.imports.join(', ')} (only env.memory is allowed)`);
  for (const d of m.data) {
    if (d.offset < SCRATCH[0] || d.offset + d.len > SCRATCH[1]) problems.push(`data segment [0x${d.offset.toString(16)}, +${d.len}) outside the scratch area`);
  }
  if (m.globals > 0) problems.push(`${m.globals} globals (the module must keep no state outside memory)`);
  if (m.start) problems.push('a start function');
  for (const [n, sig] of Object.entries(EXPORTS)) {
    const e = m.exports.find((x) => x.name === n);
    if (!e) problems.push(`missing export ${n}`);
    else if (e.sig !== sig) problems.push(`export ${n} has signature (${e.sig}), expected (${sig})`);
  }
  for (const e of m.exports) if (!(e.name in EXPORTS)) problems.push(`unexpected export ${e.name}`);
  return problems;
}

/** The generated TypeScript file for `bytes`. */
export function renderModuleFile(bytes) {
  const require = createRequire(import.meta.url);
  const version = require('assemblyscript/package.json').version;
  const b64 = Buffer.from(bytes).toString('base64');
  const lines = [];
  for (let i = 0; i < b64.length; i += 100) lines.push(`  '${b64.slice(i, i + 100)}',`);
  return `// GENERATED by scripts/build-wasm.mjs, do not edit.
// From ${ENTRY} with AssemblyScript ${version}: asc ${ASC_FLAGS.join(' ')}
/**
 * The eBPF maps module (wasm/maps/), embedded so the runtime needs no file access. Its exports are
 * described in wasm/maps/index.ts; runtime/maps/store.ts instantiates it.
 */
import { fromCanonicalBase64 } from '../base64.js';

/** Size of the module in bytes. */
export const MAPS_WASM_SIZE = ${bytes.length};

/** The module's bytes, base64. */
export const MAPS_WASM_BASE64 = [
${lines.join('\n')}
].join('');

/** Decodes the module's bytes (runtime/base64.ts: the host's native decoder where there is one; written canonical above). */
export function mapsWasmBytes(): Uint8Array<ArrayBuffer> {
  return fromCanonicalBase64(MAPS_WASM_BASE64);
}
`;
}

// ---- the standalone support module (wasm/standalone/, for `bpf2wasm compile --standalone`) ----

const SUPPORT_ENTRY = 'wasm/standalone/index.ts';
const SUPPORT_OUT = join(ROOT, 'compiler/standalone/support-wasm.ts');
/** The maps module's flags, plus the callback table imported (the linker defines it). */
export const SUPPORT_ASC_FLAGS = [...ASC_FLAGS.slice(0, 3), '--importTable', ...ASC_FLAGS.slice(3)];
/** The only imports the support module may have: WASI, and memory and table (which the linker defines). */
const SUPPORT_IMPORTS = [
  'wasi_snapshot_preview1.clock_time_get', 'wasi_snapshot_preview1.random_get', 'wasi_snapshot_preview1.fd_write',
  'env.memory', 'env.table',
];

/** Compiles the standalone support module; returns its bytes. */
export async function compileSupport() {
  return compileAs(SUPPORT_ENTRY, SUPPORT_ASC_FLAGS);
}

/** Checks the support module's rules (imports, no data, globals or start function); returns a list of problems. */
export function checkSupport(bytes) {
  const m = inspectModule(bytes, { tables: true });
  const problems = [];
  for (const i of m.imports) if (!SUPPORT_IMPORTS.includes(i)) problems.push(`import ${i} (only WASI, env.memory and env.table are allowed)`);
  if (m.data.length > 0) problems.push('data segments (state lives in the scratch words of wasm/standalone/config.ts)');
  if (m.globals > 0) problems.push(`${m.globals} globals (the linker copies no globals)`);
  if (m.start) problems.push('a start function');
  return problems;
}

/** The generated TypeScript file for the support module's bytes. */
export function renderSupportFile(bytes) {
  const require = createRequire(import.meta.url);
  const version = require('assemblyscript/package.json').version;
  const b64 = Buffer.from(bytes).toString('base64');
  const lines = [];
  for (let i = 0; i < b64.length; i += 100) lines.push(`  '${b64.slice(i, i + 100)}',`);
  return `// GENERATED by scripts/build-wasm.mjs, do not edit.
// From ${SUPPORT_ENTRY} with AssemblyScript ${version}: asc ${SUPPORT_ASC_FLAGS.join(' ')}
/**
 * The standalone support module (wasm/standalone/): maps and host-free helpers that
 * compiler/standalone/link.ts copies into standalone modules.
 */
import { fromCanonicalBase64 } from '../../runtime/base64.js';

/** Size of the module in bytes. */
export const SUPPORT_WASM_SIZE = ${bytes.length};

/** The module's bytes, base64. */
export const SUPPORT_WASM_BASE64 = [
${lines.join('\n')}
].join('');

/** The module's bytes. */
export function supportWasmBytes(): Uint8Array {
  return fromCanonicalBase64(SUPPORT_WASM_BASE64);
}
`;
}

/** Writes `text` to `out`, or with `check` compares it; returns an exit status. */
function writeOrCheck(out, text, size, check) {
  const rel = relative(ROOT, out);
  if (check) {
    let current = null;
    try {
      current = readFileSync(out, 'utf8');
    } catch {
      // reported below
    }
    if (current !== text) {
      process.stderr.write(`${ME}: ${rel} is ${current === null ? 'missing' : 'out of date'} (run node scripts/build-wasm.mjs)\n`);
      return 1;
    }
    process.stdout.write(`${ME}: ${rel} is up to date (${size} bytes)\n`);
    return 0;
  }
  writeFileSync(out, text);
  process.stdout.write(`${ME}: wrote ${rel} (${size} bytes of Wasm)\n`);
  return 0;
}

async function main(argv) {
  let check = false;
  for (const a of argv) {
    if (a === '--check') check = true;
    else if (a === '-h' || a === '--help') {
      process.stdout.write('usage: node scripts/build-wasm.mjs [--check]\n');
      return 0;
    } else {
      process.stderr.write(`${ME}: unknown argument '${a}' (expected --check)\n`);
      return 2;
    }
  }
  const bytes = await compileMaps();
  const problems = checkModule(bytes);
  if (problems.length > 0) {
    for (const p of problems) process.stderr.write(`${ME}: ${ENTRY}: ${p}\n`);
    return 1;
  }
  const supportBytes = await compileSupport();
  const supportProblems = checkSupport(supportBytes);
  if (supportProblems.length > 0) {
    for (const p of supportProblems) process.stderr.write(`${ME}: ${SUPPORT_ENTRY}: ${p}\n`);
    return 1;
  }
  const status = writeOrCheck(SUPPORT_OUT, renderSupportFile(supportBytes), supportBytes.length, check);
  if (status !== 0) return status;
  const text = renderModuleFile(bytes);
  const rel = relative(ROOT, OUT);
  if (check) {
    let current = null;
    try {
      current = readFileSync(OUT, 'utf8');
    } catch {
      // reported below
    }
    if (current !== text) {
      process.stderr.write(`${ME}: ${rel} is ${current === null ? 'missing' : 'out of date'} (run node scripts/build-wasm.mjs)\n`);
      return 1;
    }
    process.stdout.write(`${ME}: ${rel} is up to date (${bytes.length} bytes)\n`);
    return 0;
  }
  writeFileSync(OUT, text);
  process.stdout.write(`${ME}: wrote ${rel} (${bytes.length} bytes of Wasm)\n`);
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
