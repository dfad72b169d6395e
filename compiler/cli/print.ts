/**
 * How the command line prints things: hex numbers, JSON values, maps in the manner of
 * `bpftool map dump`, the C source lines `disasm OBJ` interleaves, and Wasm as text (--wat).
 */
import { formatSourceLine } from '../../runtime/errors.js';
import type { SourceLine } from '../../runtime/source-lines.js';
import { isStringSectionName, sectionStrings, type LinkedFunction, type ProgramSpec } from '../elf/loader.js';
import { loadOptional } from '../optional.js';
import { formatValue } from '../../runtime/values.js';
import { mapInfo, type BpfMap } from '../../runtime/maps/api.js';
import { MapType } from '../../runtime/uapi/index.js';

/** `0x` and a 64-bit value in hex. */
export function hex64(v: bigint): string {
  return '0x' + v.toString(16);
}

/** JSON for decoded values: bigints as decimal strings, bytes as hex. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return [...value].map((b) => b.toString(16).padStart(2, '0')).join('');
  return value;
}

/** Bytes as space-separated hex pairs. */
export function hexBytes(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');
}


function formatAny(type: BpfMap['keyType'], v: unknown): string {
  // Per-CPU values come as an array with one value per CPU.
  if (type && Array.isArray(v) && type.kind !== 'array') return `[${v.map((x) => formatValue(type, x)).join(', ')}]`;
  if (type) return formatValue(type, v);
  if (v instanceof Uint8Array) return hexBytes(v);
  return JSON.stringify(v, jsonReplacer) ?? String(v);
}

/** Entries printed per map: the text shows the first 100, --json the first 10,000. */
const TEXT_ENTRIES = 100;
const JSON_ENTRIES = 10_000;

/** Maps read element by element (no keys): listed in pop order, without popping. */
const isQueueOrStack = (m: BpfMap): boolean => m.type === MapType.QUEUE || m.type === MapType.STACK;

/** A map as `run` prints it, in the manner of `bpftool map dump`. */
export function mapText(m: BpfMap): string[] {
  if (m.type === MapType.BLOOM_FILTER) return [`map ${m.name} (bloom filter): no entries to list (it answers membership queries only)`];
  if (isQueueOrStack(m)) {
    const elements = m.elements();
    const order = m.type === MapType.QUEUE ? 'queue, %n, oldest first' : 'stack, %n, newest first';
    const lines = [`map ${m.name} (${order.replace('%n', `${elements.length} element${elements.length === 1 ? '' : 's'}`)}):`];
    for (const v of elements.slice(0, TEXT_ENTRIES)) lines.push(`  ${formatAny(m.valueType, v)}`);
    if (elements.length > TEXT_ENTRIES) lines.push(`  ... ${elements.length - TEXT_ENTRIES} more`);
    return lines;
  }
  if (mapInfo(m).internal && isStringSectionName(m.name)) {
    const strings = sectionStrings(m.lookupRaw(new Uint8Array(4)) ?? new Uint8Array(0));
    return [`map ${m.name} (${strings.length} string${strings.length === 1 ? '' : 's'}):`, ...strings.map((str) => `  0x${str.offset.toString(16)}: ${JSON.stringify(str.text)}`)];
  }
  const shown = firstEntries(m, TEXT_ENTRIES);
  const slots = m.type === MapType.PROG_ARRAY || m.type === MapType.ARRAY_OF_MAPS || m.type === MapType.CGROUP_ARRAY;
  const size = slots ? shown.length : m.size;
  const lines = [`map ${m.name} (${size} entr${size === 1 ? 'y' : 'ies'}):`];
  for (const [k, v] of shown) lines.push(`  ${formatAny(m.keyType, k)} => ${formatAny(m.valueType, v)}`);
  if (size > shown.length) lines.push(`  ... ${size - shown.length} more`);
  return lines;
}

/** The first `n` entries of a map, read lazily (a map may have millions). */
export function firstEntries(m: BpfMap, n: number): Array<[unknown, unknown]> {
  const out: Array<[unknown, unknown]> = [];
  if (m.type === MapType.BLOOM_FILTER || isQueueOrStack(m)) return out;
  for (const e of m.entries()) {
    if (out.length >= n) break;
    out.push(e);
  }
  return out;
}

/** A map as `run --json` prints it. */
export function mapJson(m: BpfMap): unknown {
  if (m.type === MapType.BLOOM_FILTER) return { bloomFilter: true, entries: [] };
  if (isQueueOrStack(m)) {
    const elements = m.elements();
    return { elements: elements.slice(0, JSON_ENTRIES), ...(elements.length > JSON_ENTRIES ? { truncated: true, size: elements.length } : {}) };
  }
  if (mapInfo(m).internal && isStringSectionName(m.name)) return { strings: sectionStrings(m.lookupRaw(new Uint8Array(4)) ?? new Uint8Array(0)) };
  const shown = firstEntries(m, JSON_ENTRIES + 1);
  const truncated = shown.length > JSON_ENTRIES;
  return {
    entries: shown.slice(0, JSON_ENTRIES).map(([key, value]) => ({ key, value })),
    ...(truncated ? { truncated: true, size: m.size } : {}),
  };
}

/**
 * What `disasm OBJ` prints before instructions, as `llvm-objdump -d -S`: `<function>:` at each
 * function of the linked program and `; file:line: source` where a new C line starts.
 */
export function objectAnnotations(program: ProgramSpec, lines: readonly SourceLine[]): (pc: number) => string[] | undefined {
  const at = new Map<number, string[]>();
  const add = (pc: number, text: string): void => {
    let list = at.get(pc);
    if (!list) at.set(pc, (list = []));
    list.push(text);
  };
  for (const f of program.functions) add(f.pc, `${f.pc === 0 ? '' : '\n'}<${f.name}>:`);
  let last = '';
  let fn: LinkedFunction | undefined;
  for (const l of lines) {
    const text = `; ${formatSourceLine({ file: l.file, line: l.line, source: l.source })}`;
    const owner = program.functions.find((f) => l.pc >= f.pc && l.pc < f.pc + f.length);
    // Consecutive records of one line show once; each function shows its first line.
    if (text !== last || owner !== fn) add(l.pc, text);
    last = text;
    fn = owner;
  }
  return (pc) => at.get(pc);
}


/** A module as WebAssembly text (wabt, loaded on demand for --wat). */
export async function toWat(wasm: Uint8Array): Promise<string> {
  const wabtInit = (await loadOptional('wabt', '--wat')).default;
  const wabt = await wabtInit();
  const mod = wabt.readWasm(wasm, { readDebugNames: true });
  try {
    mod.generateNames();
    mod.applyNames();
    return mod.toText({ foldExprs: false, inlineExport: false });
  } finally {
    mod.destroy();
  }
}
