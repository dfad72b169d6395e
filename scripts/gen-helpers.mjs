#!/usr/bin/env node
/**
 * Generates runtime/helper-table.ts, the eBPF helper id and prototype table, from the kernel's
 * UAPI header linux/bpf.h (Debian's linux-libc-dev installs it at /usr/include/linux/bpf.h).
 *
 *   node scripts/gen-helpers.mjs [path/to/linux/bpf.h] [--out FILE] [--check] [--stdout]
 *
 *   --out FILE  where to write (default: runtime/helper-table.ts in this repository)
 *   --check     write nothing; exit 1 if FILE differs from what the header would generate
 *   --stdout    print the generated file instead of writing it
 *
 * Two things are read from the header:
 *
 *  - the helper ids, from the `___BPF_FUNC_MAPPER` macro (UAPI headers from Linux 6.2 on spell each
 *    entry `FN(map_lookup_elem, 1, ##ctx)` with an explicit id) or, in older headers, the
 *    `__BPF_FUNC_MAPPER` macro (`FN(map_lookup_elem),`: the id is the entry's position, counting
 *    `unspec` as 0). Entry 0 (`unspec`) is not a helper and is left out.
 *  - each helper's prototype, from the doc comment that starts at "Start of BPF helper function
 *    descriptions": a line ` * void *bpf_map_lookup_elem(struct bpf_map *map, const void *key)`
 *    directly followed by a ` * <tab>Description` line. A helper documented more than once
 *    (`bpf_get_socket_cookie` takes four context types) takes its first prototype; the others are
 *    kept as comments. A helper without a prototype, or with one this script cannot classify, still
 *    gets an entry, with `ret: null` and `args: null`, and is reported on stderr.
 *
 * The Linux version in the generated header comes from linux/version.h next to bpf.h, if present;
 * the header's SHA-256 is recorded so a test can tell whether it still matches the header on disk.
 *
 * The module exports its pieces (see gen-helpers.d.mts) so runtime/test/helper-table.test.ts can
 * regenerate the table in memory and compare it with the committed file.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const DEFAULT_HEADER = '/usr/include/linux/bpf.h';
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_OUT = join(REPO_ROOT, 'runtime', 'helper-table.ts');

/** Pointer types that are a program's context (the kernel's ARG_PTR_TO_CTX in the docs' spelling). */
const CTX_STRUCTS = new Set([
  'sk_buff',
  '__sk_buff',
  'xdp_buff',
  'xdp_md',
  'sk_msg_buff',
  'sk_msg_md',
  'bpf_sock_ops',
  'bpf_sock_addr',
  'bpf_sysctl',
  'bpf_sockopt',
  'pt_regs',
  'bpf_perf_event_data',
  'sk_reuseport_md',
  'bpf_sk_lookup',
]);

/**
 * Pointer arguments the docs spell `void *` that are a program's context when they come first
 * (`bpf_skb_load_bytes(const void *skb, ...)`, `bpf_setsockopt(void *bpf_socket, ...)`), and ones
 * that are maps (`bpf_ringbuf_output(void *ringbuf, ...)`, `bpf_get_local_storage(void *map, ...)`).
 */
const CTX_FIRST_ARG_NAMES = new Set(['ctx', 'skb', 'xdp_md', 'skops', 'msg', 'bpf_socket', 'regs', 'reuse']);
const MAP_ARG_NAMES = new Set(['map', 'ringbuf']);

/** Scalar types by width in an eBPF register (LP64: long and size_t are 64-bit). */
const SCALAR64 = new Set([
  'u64', 's64', '__u64', '__s64', '__be64', '__le64',
  'long', 'long int', 'unsigned long', 'unsigned long int', 'signed long',
  'long long', 'unsigned long long', 'signed long long',
  'size_t', 'ssize_t',
]);
const SCALAR32 = new Set([
  'u32', 's32', '__u32', '__s32', '__be32', '__le32', '__wsum',
  'u16', 's16', '__u16', '__s16', '__be16', '__le16', '__sum16',
  'u8', 's8', '__u8', '__s8',
  'int', 'unsigned int', 'signed int', 'unsigned', 'signed',
  'short', 'unsigned short', 'signed short',
  'char', 'unsigned char', 'signed char',
  'bool', '_Bool',
]);
/** Return types, normalized. Pointers are 'ptr'. */
const RETURNS = new Map([
  ['void', 'void'],
  ['long', 'long'],
  ['long int', 'long'],
  ['signed long', 'long'],
  ['u64', 'u64'],
  ['__u64', 'u64'],
  ['unsigned long', 'u64'],
  ['unsigned long long', 'u64'],
  ['s64', 's64'],
  ['__s64', 's64'],
  ['long long', 's64'],
  ['u32', 'u32'],
  ['__u32', 'u32'],
  ['unsigned int', 'u32'],
  ['int', 'int'],
  ['s32', 'int'],
  ['__s32', 'int'],
]);

class ProtoError extends Error {}

/** Collapses whitespace and writes pointer stars as `T *` / `T **`. */
function normType(t) {
  return t
    .replace(/\s+/g, ' ')
    .replace(/\s*\*\s*/g, '*')
    .replace(/([^*\s(])\*/g, '$1 *')
    .trim();
}

/** The macro body of `#define NAME(...)`, with continuation lines joined, or null. */
function macroBody(text, name) {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => new RegExp(`^\\s*#\\s*define\\s+${name}\\(`).test(l));
  if (start < 0) return null;
  const body = [];
  for (let i = start; i < lines.length; i++) {
    body.push(lines[i]);
    if (!/\\\s*$/.test(lines[i])) break;
  }
  return body.join('\n');
}

/**
 * Helper ids and names from the FUNC_MAPPER macro, `unspec` (0) excluded, sorted by id.
 * @returns {{ id: number, name: string }[]}
 */
export function parseFuncMapper(text) {
  let body = macroBody(text, '___BPF_FUNC_MAPPER');
  let style = 'explicit';
  if (body === null) {
    body = macroBody(text, '__BPF_FUNC_MAPPER');
    style = 'positional';
  }
  if (body === null) throw new Error('no ___BPF_FUNC_MAPPER or __BPF_FUNC_MAPPER macro in the header');
  // Skip the `#define NAME(FN, ctx...)` head so its parameter list is not taken for an entry.
  const head = body.indexOf(')');
  const entries = [...body.slice(head + 1).matchAll(/\bFN\(\s*(\w+)\s*(?:,\s*(\d+)\s*)?(?:,\s*##\s*\w+\s*)?\)/g)];
  if (entries.length === 0) throw new Error('the FUNC_MAPPER macro lists no FN(...) entries');
  const withId = entries.filter((m) => m[2] !== undefined).length;
  if (withId !== 0 && withId !== entries.length) throw new Error('the FUNC_MAPPER macro mixes entries with and without ids');
  if (style === 'explicit' && withId === 0) style = 'positional';
  const out = entries.map((m, i) => ({ id: style === 'explicit' ? Number(m[2]) : i, name: m[1] }));
  const seenIds = new Map();
  const seenNames = new Set();
  for (const e of out) {
    if (seenIds.has(e.id)) throw new Error(`helper id ${e.id} is listed twice (${seenIds.get(e.id)}, ${e.name})`);
    if (seenNames.has(e.name)) throw new Error(`helper ${e.name} is listed twice`);
    seenIds.set(e.id, e.name);
    seenNames.add(e.name);
  }
  return out.filter((e) => !(e.id === 0 && e.name === 'unspec')).sort((a, b) => a.id - b.id);
}

/** Splits an argument list at top-level commas (function-pointer parameters keep theirs). */
function splitArgs(s) {
  const out = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  out.push(cur);
  return out.map((a) => a.trim());
}

function classifyArg(raw, index) {
  // Function pointer: `long (*callback_fn)(u32 index, void *ctx)`.
  const fp = /^(.*)\(\s*\*\s*(\w+)\s*\)\s*(\(.*\))$/.exec(raw);
  if (fp) return { name: fp[2], type: normType(`${fp[1]}(*)${fp[3]}`), kind: 'callback' };
  const m = /^(.*?[\s*])(\w+)$/.exec(raw);
  if (!m || m[1].trim() === '' || /^(const|volatile|struct|union|enum|unsigned|signed)$/.test(m[1].trim())) {
    throw new ProtoError(`argument '${raw}' has no name`);
  }
  const name = m[2];
  const type = normType(m[1]);
  if (type.includes('*')) {
    if (/(^|_)fn$/.test(name)) return { name, type, kind: 'callback' };
    const struct = /\bstruct\s+(\w+)/.exec(type)?.[1];
    if (struct === 'bpf_map' || (struct === undefined && MAP_ARG_NAMES.has(name))) return { name, type, kind: 'map' };
    if (struct !== undefined ? CTX_STRUCTS.has(struct) : index === 0 && CTX_FIRST_ARG_NAMES.has(name)) return { name, type, kind: 'ctx' };
    return { name, type, kind: 'ptr' };
  }
  const base = type.replace(/\b(const|volatile)\b/g, '').replace(/\s+/g, ' ').trim();
  if (SCALAR64.has(base)) return { name, type, kind: 'scalar64' };
  if (SCALAR32.has(base) || /^enum \w+$/.test(base)) return { name, type, kind: 'scalar32' };
  throw new ProtoError(`argument '${raw}': unknown scalar type '${base}'`);
}

/**
 * Parses one prototype line (without the leading ` * `).
 * @returns {{ name: string, ret: string, retType: string, args: object[], variadic: boolean }}
 */
export function parsePrototype(line) {
  const m = /^(.+?[\s*])(bpf_\w+)\s*\((.*)\)\s*$/.exec(line.trim());
  if (!m) throw new ProtoError(`not a prototype: '${line.trim()}'`);
  const retType = normType(m[1]);
  let ret;
  if (retType.includes('*')) ret = 'ptr';
  else {
    ret = RETURNS.get(retType.replace(/\b(const|volatile)\b/g, '').trim());
    if (ret === undefined) throw new ProtoError(`unknown return type '${retType}'`);
  }
  const parts = splitArgs(m[3]);
  let variadic = false;
  const args = [];
  if (!(parts.length === 1 && (parts[0] === 'void' || parts[0] === ''))) {
    parts.forEach((p, i) => {
      if (p === '...') {
        if (i !== parts.length - 1) throw new ProtoError("'...' is not the last argument");
        variadic = true;
      } else {
        args.push(classifyArg(p, i));
      }
    });
  }
  if (args.length > 5) throw new ProtoError(`${args.length} arguments (eBPF passes at most 5)`);
  return { name: m[2], ret, retType, args, variadic };
}

/**
 * Prototypes from the helper doc comment.
 * @returns {{ protos: Map<string, object>, alternates: Map<string, string[]>, unparsed: { name: string, line: string, error: string }[] }}
 */
export function parsePrototypes(text) {
  const lines = text.split('\n');
  let from = lines.findIndex((l) => /Start of BPF helper function descriptions/.test(l));
  if (from < 0) from = 0;
  const protos = new Map();
  const alternates = new Map();
  const unparsed = [];
  for (let i = from; i + 1 < lines.length; i++) {
    if (/^\s*\*\//.test(lines[i])) break;
    const m = /^ \* (\S.*?)\s*$/.exec(lines[i]);
    if (!m || !/^ \*\s+Description\s*$/.test(lines[i + 1])) continue;
    const line = m[1];
    const name = /\b(bpf_\w+)\s*\(/.exec(line)?.[1];
    try {
      const p = parsePrototype(line);
      if (protos.has(p.name)) {
        alternates.set(p.name, [...(alternates.get(p.name) ?? []), line]);
      } else {
        protos.set(p.name, p);
      }
    } catch (e) {
      if (!(e instanceof ProtoError)) throw e;
      unparsed.push({ name: name ?? '?', line, error: e.message });
    }
  }
  return { protos, alternates, unparsed };
}

/** `6.1.187` from linux/version.h text, or null. */
export function parseLinuxVersion(versionH) {
  const get = (n) => new RegExp(`#define\\s+${n}\\s+(\\d+)`).exec(versionH)?.[1];
  const [maj, min, sub] = [get('LINUX_VERSION_MAJOR'), get('LINUX_VERSION_PATCHLEVEL'), get('LINUX_VERSION_SUBLEVEL')];
  if (maj !== undefined && min !== undefined && sub !== undefined) return `${maj}.${min}.${sub}`;
  const code = get('LINUX_VERSION_CODE');
  if (code === undefined) return null;
  const c = Number(code);
  return `${c >> 16}.${(c >> 8) & 0xff}.${c & 0xff}`;
}

/** The Linux version of the UAPI headers bpf.h at `headerPath` belongs to, if linux/version.h sits beside it. */
export function headerLinuxVersion(headerPath) {
  const v = join(dirname(headerPath), 'version.h');
  return existsSync(v) ? parseLinuxVersion(readFileSync(v, 'utf8')) : null;
}

/** Return and argument classes in the order of their digits in the generated ENTRIES. */
const RET_CODES = ['ptr', 'long', 'u64', 's64', 'u32', 'int', 'void'];
const KIND_CODES = ['ptr', 'ctx', 'map', 'callback', 'scalar64', 'scalar32'];
/** Digits of the type indexes in the generated ENTRIES. */
const DIGITS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

const q = (s) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/**
 * The generated runtime/helper-table.ts for a header's text.
 * @param {string} headerText
 * @param {{ linuxVersion?: string | null }} [opts]
 * @returns {{ source: string, helpers: object[], unparsed: object[], missing: string[] }}
 */
export function generateHelperTable(headerText, opts = {}) {
  const ids = parseFuncMapper(headerText);
  const { protos, alternates, unparsed } = parsePrototypes(headerText);
  const sha256 = createHash('sha256').update(headerText).digest('hex');
  const version = opts.linuxVersion ?? null;
  const helpers = ids.map(({ id, name }) => {
    const full = `bpf_${name}`;
    const p = protos.get(full);
    return p
      ? { id, name: full, ret: p.ret, retType: p.retType, args: p.args, variadic: p.variadic }
      : { id, name: full, ret: null, retType: null, args: null, variadic: false };
  });
  const missing = helpers.filter((h) => h.args === null).map((h) => h.name);
  for (const { id, name } of ids) if (id < 1) throw new Error(`helper ${name} has id ${id}; the table numbers helpers from 1`);
  const maxId = ids.at(-1)?.id ?? 0;
  const byId = new Map(helpers.map((h) => [h.id, h]));

  // The compact encoding of ENTRIES (see the generated doc comment): each distinct C type and
  // argument name once, referred to by a fixed-width index in DIGITS.
  const table = (values) => {
    const list = [...new Set(values)];
    const index = new Map(list.map((v, i) => [v, i]));
    let width = 1;
    while (DIGITS.length ** width < list.length) width++;
    const code = (v) => {
      let n = index.get(v);
      let out = '';
      for (let i = 0; i < width; i++, n = Math.floor(n / DIGITS.length)) out = DIGITS[n % DIGITS.length] + out;
      return out;
    };
    return { list, width, code };
  };
  const types = table(helpers.flatMap((h) => (h.args === null ? [] : [h.retType, ...h.args.map((a) => a.type)])));
  const argNames = table(helpers.flatMap((h) => (h.args ?? []).map((a) => a.name)));
  const encodeEntry = (h) => {
    const name = h.name.slice('bpf_'.length);
    if (h.args === null) return name;
    const args = h.args.map((a) => `${KIND_CODES.indexOf(a.kind)}${types.code(a.type)}${argNames.code(a.name)}`).join('');
    return `${name} ${RET_CODES.indexOf(h.ret)}${types.code(h.retType)}${args}${h.variadic ? '.' : ''}`;
  };

  const o = [];
  o.push(`// Generated by scripts/gen-helpers.mjs from linux/bpf.h (${version ? `Linux ${version} UAPI headers, ` : ''}sha256 ${sha256}). DO NOT EDIT.`);
  o.push(`// Regenerate with \`node scripts/gen-helpers.mjs [path/to/linux/bpf.h]\`.`);
  o.push(`/**
 * The kernel's eBPF helpers: ids from the UAPI \`__BPF_FUNC_MAPPER\` list, prototypes (as the
 * kernel documents them) from the helper doc comment in linux/bpf.h. ${helpers.length} helpers, ids ${helpers[0]?.id ?? 0}..${helpers.at(-1)?.id ?? 0}.
 * A helper whose prototype is not documented (or could not be parsed) has \`ret: null, args: null\`.
 */
import { GENERIC_HELPER_SIGNATURE, type HelperArgKind, type HelperResultKind, type HelperSignature } from './abi.js';

/** A helper's return type, normalized: any pointer is \`ptr\`; \`long\` is 64-bit in eBPF. */
export type HelperRet = 'ptr' | 'long' | 'u64' | 's64' | 'u32' | 'int' | 'void';

/**
 * What an argument is: a pointer, the program's context, a map, a callback (a subprogram), or a
 * scalar by its width in the register (\`long\` and \`size_t\` are 64-bit).
 */
export type HelperArgClass = 'ptr' | 'ctx' | 'map' | 'callback' | 'scalar64' | 'scalar32';

export interface HelperArg {
  readonly name: string;
  /** The C type as the kernel documents it, e.g. \`const void *\`. */
  readonly type: string;
  readonly kind: HelperArgClass;
}

export interface HelperProto {
  readonly id: number;
  /** With the \`bpf_\` prefix, e.g. \`bpf_map_lookup_elem\`. */
  readonly name: string;
  /** null if the prototype is unknown. */
  readonly ret: HelperRet | null;
  /** The C return type as documented, e.g. \`void *\`; null if the prototype is unknown. */
  readonly retType: string | null;
  /** null if the prototype is unknown. */
  readonly args: readonly HelperArg[] | null;
  /** True if the prototype ends in \`...\` (\`bpf_trace_printk\`): the remaining registers up to r5 are extra arguments. */
  readonly variadic: boolean;
}

/** The header the table was generated from. */
export const HELPER_TABLE_SOURCE = {
  header: 'linux/bpf.h',
  linuxVersion: ${version ? q(version) : 'null'} as string | null,
  sha256: ${q(sha256)},
} as const;

/** Names of {@link HelperRet} by their digit in {@link ENTRIES}. */
const RETS: readonly HelperRet[] = [${RET_CODES.map(q).join(', ')}];
/** Names of {@link HelperArgClass} by their digit in {@link ENTRIES}. */
const KINDS: readonly HelperArgClass[] = [${KIND_CODES.map(q).join(', ')}];
/** Digits of the indexes into {@link TYPES} and {@link ARG_NAMES}. */
const DIGITS = ${q(DIGITS)};

/** The C types the prototypes use, as the kernel documents them (${types.width} digit(s) per index). */
const TYPES: readonly string[] = [`);
  for (const t of types.list) o.push(`  ${q(t)},`);
  o.push(`];

/** The argument names the prototypes use (${argNames.width} digit(s) per index). */
const ARG_NAMES: readonly string[] = ${q(argNames.list.join(' '))}.split(' ');

/**
 * One entry per id from 1 (\`''\` for an id the header does not list): the name without \`bpf_\`,
 * then, after a space, the prototype if it is known: the return type's RETS digit and TYPES
 * index, then per argument its KINDS digit, TYPES index and ARG_NAMES index; \`.\` ends a
 * variadic one. Compact because the runtime bundles it; the comments spell each prototype out.
 */
const ENTRIES: readonly string[] = [`);
  for (let id = 1; id <= maxId; id++) {
    const h = byId.get(id);
    if (!h) {
      o.push(`  '', // ${id}: not listed`);
      continue;
    }
    const p = protos.get(h.name);
    let comment;
    if (p) {
      const args = p.variadic ? [...p.args.map((a) => `${a.type}${a.type.endsWith('*') ? '' : ' '}${a.name}`), '...'] : p.args.map((a) => `${a.type}${a.type.endsWith('*') ? '' : ' '}${a.name}`);
      comment = `${p.retType}${p.retType.endsWith('*') ? '' : ' '}${h.name}(${args.length ? args.join(', ') : 'void'})`;
    } else {
      comment = `${h.name}: no parsable prototype in the header`;
    }
    const alts = (alternates.get(h.name) ?? []).map((alt) => `; also documented as: ${alt}`).join('');
    o.push(`  ${q(encodeEntry(h))}, // ${id}: ${comment}${alts}`);
  }
  o.push(`];

const TYPE_WIDTH = ${types.width};
const NAME_WIDTH = ${argNames.width};

/** The index of \`width\` DIGITS at \`at\` in \`s\` (DIGITS is 0-9, A-Z, a-z). */
function indexAt(s: string, at: number, width: number): number {
  let n = 0;
  for (let i = 0; i < width; i++) {
    const c = s.charCodeAt(at + i);
    n = n * DIGITS.length + (c <= 57 ? c - 48 : c <= 90 ? c - 55 : c - 61);
  }
  return n;
}

/** The HelperProto of entry \`id\` of ENTRIES. */
function decode(id: number, entry: string): HelperProto {
  const space = entry.indexOf(' ');
  const name = \`bpf_\${space < 0 ? entry : entry.slice(0, space)}\`;
  if (space < 0) return { id, name, ret: null, retType: null, args: null, variadic: false };
  const args: HelperArg[] = [];
  let at = space + 2 + TYPE_WIDTH;
  for (; at + 1 + TYPE_WIDTH + NAME_WIDTH <= entry.length; at += 1 + TYPE_WIDTH + NAME_WIDTH) {
    args.push({
      name: ARG_NAMES[indexAt(entry, at + 1 + TYPE_WIDTH, NAME_WIDTH)]!,
      type: TYPES[indexAt(entry, at + 1, TYPE_WIDTH)]!,
      kind: KINDS[Number(entry[at])]!,
    });
  }
  const ret = RETS[Number(entry[space + 1])]!;
  return { id, name, ret, retType: TYPES[indexAt(entry, space + 2, TYPE_WIDTH)]!, args, variadic: entry[at] === '.' };
}

/** Entries decoded so far, by id (decoding is on demand: a runtime looks up a few helpers). */
const decoded: (HelperProto | undefined)[] = [];

/** The helper with kernel id \`id\`, if the header lists it. */
export function helperById(id: number): HelperProto | undefined {
  const entry = Number.isInteger(id) && id >= 1 ? ENTRIES[id - 1] : undefined;
  if (!entry) return undefined;
  return (decoded[id] ??= decode(id, entry));
}

let all: readonly HelperProto[] | undefined;

/** Every helper the header lists, by id (decoded once, on the first call). */
export function allHelpers(): readonly HelperProto[] {
  return (all ??= ENTRIES.flatMap((e, i) => (e === '' ? [] : [helperById(i + 1)!])));
}

/** Helper ids by name without \`bpf_\` (the names alone are cheap to read). */
const IDS = new Map<string, number>();
ENTRIES.forEach((e, i) => {
  if (e !== '') IDS.set(e.split(' ', 1)[0]!, i + 1);
});

/** The literal type of {@link BpfFunc}: each helper's name without \`bpf_\` and its id. */
export type BpfFuncIds = {`);
  for (const { id, name } of ids) o.push(`  readonly ${name}: ${id};`);
  o.push(`};

/**
 * Helper ids by name without the \`bpf_\` prefix, as the UAPI's \`BPF_FUNC_*\` constants:
 * \`BpfFunc.map_lookup_elem\` is \`BPF_FUNC_map_lookup_elem\` (1).
 */
export const BpfFunc: BpfFuncIds = Object.freeze(Object.fromEntries(IDS)) as unknown as BpfFuncIds;

/** A helper id of {@link BpfFunc}. */
export type BpfFuncId = BpfFuncIds[keyof BpfFuncIds];

/** The helper named \`name\`, with or without the \`bpf_\` prefix (\`map_lookup_elem\` or \`bpf_map_lookup_elem\`). */
export function helperByName(name: string): HelperProto | undefined {
  const id = IDS.get(name.startsWith('bpf_') ? name.slice(4) : name);
  return id === undefined ? undefined : helperById(id);
}

/**
 * How a helper crosses the Wasm/JS boundary (see HelperSignature in abi.ts).
 *
 * Arguments: pointers, maps, the context and callbacks are linear-memory addresses and cross as
 * 'i32', as do 32-bit (and narrower) scalars; 64-bit scalars (u64, s64, long, size_t) cross as
 * 'i64'. A variadic helper's extra arguments fill the remaining registers up to r5 as 'i64'.
 * Exception: the source of bpf_probe_read* and bpf_copy_from_user* (\`unsafe_ptr\`, \`user_ptr\`)
 * is a kernel or user address, not linear memory, and crosses as 'i64' with all its bits.
 *
 * Result: \`void\` -> 'void'; pointers -> 'u32' (a linear-memory address, zero-extended into r0;
 * NULL is 0); \`u32\` -> 'u32'; \`int\` -> 's32' (sign-extended, so negative errnos survive);
 * \`long\`, \`u64\` and \`s64\` -> 'i64' (\`long\` is 64-bit in eBPF, so it is not narrowed).
 *
 * A helper with an unknown prototype gets the generic signature (five i64 in, i64 out).
 */
export function abiSignature(proto: HelperProto): HelperSignature {
  if (proto.args === null || proto.ret === null) {
    return { args: [...GENERIC_HELPER_SIGNATURE.args], result: GENERIC_HELPER_SIGNATURE.result };
  }
  // Addresses outside the program (\`unsafe_ptr\` of bpf_probe_read*, \`user_ptr\`) keep all 64 bits:
  // they name kernel or user memory the host exposes, not linear memory.
  const args: HelperArgKind[] = proto.args.map((a) =>
    a.kind === 'scalar64' || UNSAFE_POINTERS.has(a.name) ? 'i64' : 'i32');
  if (proto.variadic) while (args.length < 5) args.push('i64');
  return { args, result: RESULT_KIND[proto.ret] };
}

/** Pointer arguments that may point outside linear memory (kernel or user addresses). */
const UNSAFE_POINTERS: ReadonlySet<string> = new Set(['unsafe_ptr', 'user_ptr']);

const RESULT_KIND: Readonly<Record<HelperRet, HelperResultKind>> = {
  void: 'void',
  ptr: 'u32',
  u32: 'u32',
  int: 's32',
  long: 'i64',
  u64: 'i64',
  s64: 'i64',
};
`);
  return { source: o.join('\n'), helpers, unparsed, missing };
}

function main(argv) {
  let header = DEFAULT_HEADER;
  let out = DEFAULT_OUT;
  let check = false;
  let stdout = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--out') out = resolve(argv[++i] ?? '');
    else if (a === '--check') check = true;
    else if (a === '--stdout') stdout = true;
    else if (a === '-h' || a === '--help') {
      process.stdout.write('usage: node scripts/gen-helpers.mjs [path/to/linux/bpf.h] [--out FILE] [--check] [--stdout]\n');
      return 0;
    } else if (a.startsWith('-')) {
      process.stderr.write(`gen-helpers: unknown option ${a}\n`);
      return 2;
    } else header = a;
  }
  if (!existsSync(header)) {
    process.stderr.write(`gen-helpers: ${header} not found (Debian/Ubuntu: apt-get install linux-libc-dev)\n`);
    return 2;
  }
  const { source, helpers, unparsed, missing } = generateHelperTable(readFileSync(header, 'utf8'), { linuxVersion: headerLinuxVersion(header) });
  for (const u of unparsed) process.stderr.write(`gen-helpers: could not parse prototype of ${u.name}: ${u.error}\n`);
  if (missing.length > 0) process.stderr.write(`gen-helpers: no prototype for ${missing.length} helper(s): ${missing.join(', ')}\n`);
  if (stdout) {
    process.stdout.write(source);
    return 0;
  }
  if (check) {
    const current = existsSync(out) ? readFileSync(out, 'utf8') : '';
    if (current !== source) {
      process.stderr.write(`gen-helpers: ${out} is out of date; run node scripts/gen-helpers.mjs ${header}\n`);
      return 1;
    }
    process.stderr.write(`gen-helpers: ${out} is up to date (${helpers.length} helpers)\n`);
    return 0;
  }
  writeFileSync(out, source);
  process.stderr.write(`gen-helpers: wrote ${out}: ${helpers.length} helpers, ${helpers.length - missing.length} with prototypes\n`);
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
