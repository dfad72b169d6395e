import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { thrownBy } from '../../test/support/thrown.js';
import { objectFiles, repoBytes, ROOT as root } from '../../test/support/fixtures.js';
import { ErrorCode } from '../../runtime/errors.js';
import { BTF_MAX_RESOLVE_DEPTH, Btf, BtfKind, BtfLinkage, btfKindName, parseBtf, type BtfType } from '../btf/types.js';
import { BpfCoreReloKind, parseBtfExt } from '../btf/ext.js';
import { readDataSection } from '../elf/data.js';
import { readElfBtf } from '../elf/btf-sections.js';
import { readMapDefinitions, type MapDef } from '../elf/map-defs.js';
import { ElfError, parseElf, type ElfFile } from '../elf/elf64.js';
import { MapType as BpfMapType, MapPinning, mapTypeName } from '../../runtime/uapi/index.js';
import { BtfWriter } from '../../test/support/btf-writer.js';

const C_DIR = 'test-programs/c';
const ELF_DIR = 'test-programs/elf';
const C_OBJECTS = objectFiles(C_DIR);
const ELF_OBJECTS = objectFiles(ELF_DIR);
const ALL_OBJECTS = [...C_OBJECTS.map((f) => `${C_DIR}/${f}`), ...ELF_OBJECTS.map((f) => `${ELF_DIR}/${f}`)];

const cache = new Map<string, Uint8Array>();
function bytesOf(rel: string): Uint8Array {
  let b = cache.get(rel);
  if (!b) cache.set(rel, (b = repoBytes(rel)));
  return b;
}
const load = (rel: string): ElfFile => parseElf(bytesOf(rel));
const btfOf = (rel: string) => readElfBtf(load(rel));
const cObject = (name: string) => btfOf(`${C_DIR}/${name}.o`);

/** Runs `f`, expecting an ElfError with code E_BAD_ELF; returns it. */
function badElf(f: () => unknown): ElfError {
  const err = thrownBy(f, ElfError);
  expect(err.code).toBe(ErrorCode.BadElf);
  return err;
}

// ---------------------------------------------------------------------------------------------
// A BTF writer for synthetic and forged sections: ./btf-writer.ts.


/** A .BTF.ext writer: parts are lists of `[sectionNameOffset, records (u32 words each)]`. */
function buildExt(parts: {
  func?: [number, number[][]][]; line?: [number, number[][]][]; core?: [number, number[][]][];
  funcRecSize?: number; lineRecSize?: number; coreRecSize?: number; hdrLen?: number;
}): Uint8Array {
  const part = (blocks: [number, number[][]][] | undefined, recSize: number): number[] =>
    blocks === undefined ? [] : [recSize, ...blocks.flatMap(([sec, recs]) => [sec, recs.length, ...recs.flat()])];
  const func = part(parts.func, parts.funcRecSize ?? 8);
  const line = part(parts.line, parts.lineRecSize ?? 16);
  const core = part(parts.core, parts.coreRecSize ?? 16);
  const hdrLen = parts.hdrLen ?? 32;
  const words = [...func, ...line, ...core];
  const out = new Uint8Array(hdrLen + words.length * 4);
  const v = new DataView(out.buffer);
  v.setUint16(0, 0xeb9f, true);
  out[2] = 1;
  v.setUint32(4, hdrLen, true);
  v.setUint32(8, 0);
  v.setUint32(12, func.length * 4, true);
  v.setUint32(16, func.length * 4, true);
  v.setUint32(20, line.length * 4, true);
  if (hdrLen >= 32) {
    v.setUint32(24, (func.length + line.length) * 4, true);
    v.setUint32(28, core.length * 4, true);
  }
  words.forEach((w, i) => v.setUint32(hdrLen + i * 4, w >>> 0, true));
  return out;
}

/** A small, valid BTF with one type of every kind. */
function everyKind(): { w: BtfWriter; ids: Record<string, number> } {
  const w = new BtfWriter();
  const ids: Record<string, number> = {};
  ids.int = w.int('int', 4, true);
  ids.uint = w.int('unsigned int', 4);
  ids.ptr = w.ref(BtfKind.PTR, ids.int);
  ids.array = w.array(ids.int, ids.uint, 4);
  ids.struct = w.struct('pair', 8, [['a', ids.int, 0], ['b', ids.uint, 32]]);
  ids.union = w.struct('either', 4, [['i', ids.int, 0], ['u', ids.uint, 0]], true);
  ids.enum = w.raw('color', BtfKind.ENUM, 2, 4, [w.str('RED'), 0, w.str('MINUS'), -1], true);
  ids.fwd = w.raw('later', BtfKind.FWD, 0, 0, [], true);
  ids.typedef = w.ref(BtfKind.TYPEDEF, ids.uint, 'u32');
  ids.volatile = w.ref(BtfKind.VOLATILE, ids.typedef);
  ids.const = w.ref(BtfKind.CONST, ids.volatile);
  ids.restrict = w.ref(BtfKind.RESTRICT, ids.ptr);
  ids.proto = w.raw('', BtfKind.FUNC_PROTO, 2, ids.int, [w.str('x'), ids.int, 0, 0]);
  ids.func = w.func('f', ids.proto, BtfLinkage.STATIC);
  ids.var = w.variable('g', ids.const);
  ids.datasec = w.datasec('.data', [[ids.var, 8, 4]]);
  ids.float = w.raw('double', BtfKind.FLOAT, 0, 8);
  ids.declTag = w.raw('tag', BtfKind.DECL_TAG, 0, ids.struct, [1]);
  ids.typeTag = w.ref(BtfKind.TYPE_TAG, ids.int, 'user');
  ids.enum64 = w.raw('big', BtfKind.ENUM64, 2, 8, [w.str('HUGE'), 0, 0x80000000, w.str('ONE'), 1, 0]);
  ids.enum64s = w.raw('sbig', BtfKind.ENUM64, 1, 8, [w.str('NEG'), 0xffffffff, 0xffffffff], true);
  return { w, ids };
}

// ---------------------------------------------------------------------------------------------
// What the sources declare.

type MapExpect = Partial<Omit<MapDef, 'innerMap'>> & { innerMap?: Partial<MapDef> };
const base = { flags: 0, pinning: 0, numaNode: 0, mapExtra: 0 };

/** Map definitions exactly as declared in test-programs/c/*.c (type numbers: enum bpf_map_type). */
const EXPECTED_MAPS: Record<string, Record<string, MapExpect>> = {
  'xdp_counter': { pkt_count: { ...base, type: 2, keySize: 4, valueSize: 8, maxEntries: 1 } },
  'uid_counter': { counter_table: { ...base, type: 1, keySize: 4, valueSize: 8, maxEntries: 10240 } },
  'ringbuf_hello': { output: { ...base, type: 27, keySize: 0, valueSize: 0, maxEntries: 256 * 1024 } },
  'perfbuf_hello': { output: { ...base, type: 4, keySize: 4, valueSize: 4, maxEntries: 0 } },
  'tail_calls': { syscall: { ...base, type: 3, keySize: 4, valueSize: 4, maxEntries: 300 } },
  'xdp_drop_icmp': { drops: { ...base, type: 6, keySize: 4, valueSize: 8, maxEntries: 1 } },
  'lpm_blocklist': { blocklist: { ...base, type: 11, keySize: 8, valueSize: 8, maxEntries: 255, flags: 1 } },
  'socket_filter': { proto_count: { ...base, type: 2, keySize: 4, valueSize: 8, maxEntries: 256 } },
  'core_read': { last: { ...base, type: 2, keySize: 4, valueSize: 12, maxEntries: 1 } },
  'map_in_map': {
    inner_a: { ...base, type: 2, keySize: 4, valueSize: 4, maxEntries: 4 },
    inner_b: { ...base, type: 2, keySize: 4, valueSize: 4, maxEntries: 4 },
    outer: { ...base, type: 12, keySize: 4, valueSize: 4, maxEntries: 2, innerMap: { type: 2, keySize: 4, valueSize: 4, maxEntries: 4 } },
    outer_hash: { ...base, type: 13, keySize: 4, valueSize: 4, maxEntries: 8, innerMap: { type: 1, keySize: 8, valueSize: 8, maxEntries: 16 } },
  },
  'map_options': {
    flows: { ...base, type: 9, keySize: 16, valueSize: 16, maxEntries: 4096, flags: 4, numaNode: 1, pinning: 1 },
    seen: { ...base, type: 30, keySize: 0, valueSize: 4, maxEntries: 1000, mapExtra: 3 },
    scratch: { ...base, type: 5, keySize: 16, valueSize: 64, maxEntries: 32, flags: 0x81 },
  },
  'legacy_maps': {
    legacy_counts: { ...base, type: 1, keySize: 4, valueSize: 8, maxEntries: 64, flags: 1, section: 'maps', offset: 0, size: 20 },
    legacy_array: { ...base, type: 2, keySize: 4, valueSize: 4, maxEntries: 16, section: 'maps', offset: 20, size: 20 },
  },
};

/** func_info per ELF section: function names in instruction order. */
const EXPECTED_FUNCS: Record<string, Record<string, string[]>> = {
  'c/xdp_counter': { xdp: ['count_packets'] },
  'c/uid_counter': { 'kprobe/sys_execve': ['hello'] },
  'c/typed_maps': { xdp: ['record', 'dispatch'] },
  'c/ringbuf_hello': { 'kprobe/sys_execve': ['hello'] },
  'c/perfbuf_hello': { 'kprobe/sys_execve': ['hello'] },
  'c/tail_calls': {
    'raw_tracepoint/exec': ['hello_exec'], 'raw_tracepoint/timer': ['hello_timer'],
    'raw_tracepoint/ignore': ['ignore_opcode'], 'raw_tracepoint/sys_enter': ['hello'],
  },
  'c/xdp_drop_icmp': { xdp: ['xdp_drop_icmp'] },
  'c/rodata_config': { socket: ['filter'] },
  'c/bpf_calls': { tc: ['classify'], '.text': ['checksum', 'fold', 'clamp'] },
  'c/loop_callback': { xdp: ['sum_squares'], '.text': ['square_step'] },
  'c/standalone_helpers': { 'tracepoint/syscalls/sys_enter_getpid': ['helpers'], '.text': ['count_prefix', 'add_entry'] },
  'c/map_bench': { xdp: ['hash_lookups', 'array_lookups'] },
  'c/kfuncs': { xdp: ['use_kfuncs'] },
  'c/pin_producer': { xdp: ['produce'] },
  'c/pin_consumer': { xdp: ['consume'] },
  'c/lpm_blocklist': { xdp: ['xdp_blocklist'] },
  'c/custom_helpers': { xdp: ['use_custom_helpers'] },
  'c/printk': { xdp: ['hello'] },
  'c/socket_filter': { socket: ['ssh_filter'] },
  'c/global_data': { xdp: ['track'] },
  'c/string_literals': { socket: ['describe'] },
  'c/map_in_map': { xdp: ['lookup_nested'] },
  'c/map_options': { tc: ['account'] },
  'c/legacy_maps': { socket: ['count_legacy'] },
  'c/core_read': { 'kprobe/do_exit': ['parent_tgid'] },
  'c/xdp_root': { xdp: ['xdp_second', 'xdp_third', 'xdp_root'], '.text': ['mix'] },
  'c/typed_map_in_map': { xdp: ['count'] },
  'c/fault': { socket: ['read_past_end'] },
  'c/queue_stack': { xdp: ['fill'] },
  'c/sock_syn': { socket: ['syn_mac', 'syn_net'] },
  'c/tc_port_rewrite': { tc: ['port_rewrite'] },
  'c/xdp_vlan_strip': { xdp: ['vlan_strip'] },
  'c/xdp_responder': { xdp: ['icmp_echo'] },
  'c/ldabs_filter': { socket: ['dns_only'] },
  'c/ipv6_exthdr': { xdp: ['ext_walk'] },
  'c/xdp_meta_trim': { xdp: ['meta_trim'] },
  'c/xdp_port_count': { xdp: ['port_count'] },
  'c/ctx_dump': { tc: ['tc_ctx'], xdp: ['xdp_ctx'], socket: ['sock_ctx'] },
  'c/xdp_redirect': { xdp: ['redirect_by_port'], tc: ['tc_redirect'] },
  'c/lazy_helper': { tc: ['uses_missing'], xdp: ['plain'] },
  'c/tc_skb_edit': { tc: ['skb_edit'] },
  'c/tc_tunnel': { tc: ['tunnel'] },
  'c/xdp_fwd': { xdp: ['xdp_fwd', 'fib_probe', 'mtu_probe'], tc: ['fib_probe_tc', 'tc_neigh', 'mtu_probe_tc'] },
  'c/sk_lookup': { xdp: ['sk_probe', 'syn_cookie'], tc: ['sk_probe_tc'] },
  'c/sk_leak': { tc: ['sk_leak'] },
  'c/sk_state': { tc: ['sk_state'] },
  'c/skb_sk': { tc: ['skb_sk_tc'], action: ['skb_sk_act'], socket: ['skb_sk_socket'], 'cgroup_skb/ingress': ['skb_sk_cg'], lwt_in: ['skb_sk_lwt'] },
  'c/skb_sk_release': { tc: ['release_skb_sk'] },
  'c/tc_misc': { tc: ['tc_misc'] },
  'c/tc_tunhelp': { tc: ['tc_tunhelp'] },
  'c/cgroup_array': { tc: ['under_cgroup'], 'raw_tp/sys_enter': ['task_cgroup'] },
  'c/raw_syncookie': { xdp: ['cookie_xdp'], tc: ['cookie_tc'] },
  'c/perf_pkt': { xdp: ['perf_xdp'], tc: ['perf_tc'], socket: ['perf_sock'] },
  'c/ldabs_neg': { socket: ['ll_type', 'net_proto', 'net_saddr', 'net_last', 'net_past', 'll_proto', 'net_minus', 'below_ll'] },
  'c/core_ctx': { tc: ['skb_fields', 'skb_info', 'narrow'], xdp: ['xdp_bounds'] },
  'c/core_bitfield': { tc: ['bits'] },
  'c/kprobe_args': { 'kprobe/do_unlinkat': ['unlink_args'], 'kprobe/__x64_sys_openat': ['openat_args'], 'kprobe/__arm64_sys_openat': ['arm64_arg'] },
  'c/ksyscall_hello': { 'ksyscall/execve': ['hello'] },
  'c/ksyscall_rawtp': { 'ksyscall/execve': ['hello'], 'raw_tp/sys_enter': ['hello_raw'] },
  'c/xdp_callx': { xdp: ['xdp_callx'], tc: ['tc_callx'] },
  'c/core_poison': { tc: ['poison', 'task_pid', 'short_mark'], xdp: ['enum_missing', 'enum_value'] },
  'c/http_filter': { syscall: ['http_filter'] },
  'c/soak': { syscall: ['soak'] },
  'c/skc_cast': { tc: ['skc_probe', 'skc_tcp_fields'], xdp: ['skc_probe_xdp'] },
  'c/skc_store': { tc: ['store_through_cast', 'cast_null', 'cast_stack', 'release_cast'] },
  'elf/sum': { '.text': ['main', 'twice_plus_one'] },
  'elf/sum.be': { '.text': ['main', 'twice_plus_one'] },
  'elf/globals': { '.text': ['times_three', 'main', 'plus_seven'] },
  'elf/helper': { '.text': ['main'] },
  'elf/xdp_map': { xdp: ['count_packets'] },
};

const shortName = (rel: string) => rel.replace(/^test-programs\//, '').replace(/\.o$/, '');

// ---------------------------------------------------------------------------------------------

describe('BTF of the test programs', () => {
  it('covers every committed object', () => {
    expect(C_OBJECTS.length).toBeGreaterThanOrEqual(19);
    expect(Object.keys(EXPECTED_FUNCS).sort()).toEqual(ALL_OBJECTS.map(shortName).sort());
    for (const name of C_OBJECTS) expect(existsSync(path.join(root, C_DIR, name.replace(/\.o$/, '.c')))).toBe(true);
  });

  it.each(ALL_OBJECTS)('%s parses, and every type walk terminates', (rel) => {
    const { btf, ext } = btfOf(rel);
    expect(btf).toBeDefined();
    expect(ext).toBeDefined();
    expect(btf!.types[0]!.kind).toBe('void');
    btf!.types.forEach((t, id) => {
      expect(t.id).toBe(id);
      expect(btf!.type(id)).toBe(t);
      expect(typeof btf!.describe(id)).toBe('string');
      const r = btf!.resolve(id);
      expect(['typedef', 'const', 'volatile', 'restrict', 'type_tag']).not.toContain(r.kind);
      if (['int', 'ptr', 'array', 'struct', 'union', 'enum', 'enum64', 'float'].includes(r.kind)) {
        expect(btf!.sizeOf(id)).toBeGreaterThanOrEqual(0);
      }
    });
  });

  it.each(ALL_OBJECTS)('%s: func_info names each program and function', (rel) => {
    const { btf, ext } = btfOf(rel);
    const got: Record<string, string[]> = {};
    for (const [section, list] of ext!.funcInfo) {
      got[section] = list.map((f) => f.name);
      for (const f of list) {
        const func = btf!.typeOfKind(f.typeId, 'func');
        expect(func.name).toBe(f.name);
        btf!.typeOfKind(func.type, 'func_proto');
        expect(f.insn * 8).toBe(f.insnOffset);
      }
    }
    expect(got).toEqual(EXPECTED_FUNCS[shortName(rel)]);
    // The first function of every program section starts at instruction 0.
    for (const [section, list] of ext!.funcInfo) if (section !== '.text') expect(list[0]!.insn).toBe(0);
  });

  it.each(ALL_OBJECTS)('%s: line_info points at the right source lines', (rel) => {
    const { ext } = btfOf(rel);
    const sourceFile = rel.replace(/(\.be)?\.o$/, '.c');
    // The source and the sources it includes by a quoted name (ksyscall_rawtp.c includes ksyscall_hello.c).
    const sources = new Map<string, string[]>();
    const read = (file: string): void => {
      const text = readFileSync(path.join(root, file), 'utf8');
      sources.set(`./${file}`, text.split('\n'));
      for (const m of text.matchAll(/^#include "([^"]+\.c)"/gm)) read(path.join(path.dirname(file), m[1]!));
    };
    read(sourceFile);
    let checked = 0;
    for (const [section, list] of ext!.lineInfo) {
      for (const l of list) {
        expect([...sources.keys()]).toContain(l.fileName);
        const lines = sources.get(l.fileName)!;
        if (l.line === 0) continue; // compiler-generated code
        expect(l.source).toBe(lines[l.line - 1]);
        expect(l.column).toBeLessThanOrEqual(lines[l.line - 1]!.length + 1);
        checked++;
      }
      // Each function's first instruction has a line record, on its declaration or just after
      // it (clang gives the first statement's line when the function has no prologue); libbpf's
      // BPF_KPROBE(name, args...) declares the function `name` too.
      for (const f of ext!.funcInfo.get(section) ?? []) {
        const l = ext!.lineAt(section, f.insn)!;
        expect(l.insn).toBe(f.insn);
        const lines = sources.get(l.fileName)!;
        const declared = new RegExp(`(\\b${f.name}\\(|\\bBPF_[A-Z_]+\\(${f.name}\\b)[^)]*\\)\\s*\\{`);
        const declaration = 1 + lines.findIndex((text) => declared.test(text));
        expect(declaration, f.name).toBeGreaterThan(0);
        expect(l.line, f.name).toBeGreaterThanOrEqual(declaration);
        expect(l.line, f.name).toBeLessThanOrEqual(declaration + 3);
      }
    }
    expect(checked).toBeGreaterThan(0);
  });

  it('line_info of the XDP counter, record by record', () => {
    const { ext } = cObject('xdp_counter');
    const rows = ext!.lineInfo.get('xdp')!.map((l) => [l.insn, l.line, l.column]);
    expect(rows).toEqual([[0, 22, 0], [1, 23, 9], [3, 0, 0], [4, 24, 18], [7, 25, 7], [9, 25, 14], [10, 26, 3]]);
    expect(ext!.lineAt('xdp', 8)!.source).toBe('  if (count) __sync_fetch_and_add(count, 1);');
    expect(ext!.lineAt('xdp', 9)!.column).toBe(14);
    expect(ext!.lineAt('nowhere', 0)).toBeUndefined();
    expect(ext!.funcAt('xdp', 10)!.name).toBe('count_packets');
  });

  it('funcAt finds the function containing an instruction of .text', () => {
    const { ext } = cObject('bpf_calls');
    const text = ext!.funcInfo.get('.text')!;
    const fold = text.find((f) => f.name === 'fold')!;
    expect(ext!.funcAt('.text', fold.insn)!.name).toBe('fold');
    expect(ext!.funcAt('.text', fold.insn - 1)!.name).toBe('checksum');
  });

  it('FUNC linkage: global subprograms are linkage 1, static ones 0', () => {
    const { btf } = cObject('bpf_calls');
    const linkage = (n: string) => btf!.typeByName(n, 'func')!.linkage;
    expect([linkage('checksum'), linkage('classify'), linkage('fold'), linkage('clamp')]).toEqual([
      BtfLinkage.GLOBAL, BtfLinkage.GLOBAL, BtfLinkage.STATIC, BtfLinkage.STATIC,
    ]);
    const clamp = btf!.typeOfKind(btf!.typeByName('clamp', 'func')!.type, 'func_proto');
    expect(clamp.params.map((p) => p.name)).toEqual(['value', 'lo', 'hi']);
    expect(btf!.describe(btf!.typeByName('clamp', 'func')!.id)).toBe('__u32 clamp(__u32, __u32, __u32)');
  });
});

describe('map definitions', () => {
  for (const [name, expected] of Object.entries(EXPECTED_MAPS)) {
    it(`${name}: as declared in ${name}.c`, () => {
      const { maps } = cObject(name);
      expect(maps.map((m) => m.name).sort()).toEqual(Object.keys(expected).sort());
      for (const m of maps) {
        const { innerMap, ...rest } = expected[m.name]!;
        expect(m).toMatchObject(rest);
        if (innerMap) expect(m.innerMap).toMatchObject(innerMap);
        else expect(m.innerMap).toBeUndefined();
      }
    });
  }

  it('objects without maps have none', () => {
    for (const name of ['rodata_config', 'bpf_calls', 'loop_callback', 'custom_helpers', 'printk', 'global_data', 'string_literals']) {
      expect(cObject(name).maps).toEqual([]);
    }
  });

  it("the XDP counter's key is a __u32 and its value a __u64 typedef", () => {
    const { btf, maps } = cObject('xdp_counter');
    const m = maps[0]!;
    expect(m.section).toBe('.maps');
    const value = btf!.type(m.valueTypeId!);
    expect(value).toMatchObject({ kind: 'typedef', name: '__u64' });
    expect(btf!.resolve(m.valueTypeId!)).toMatchObject({ kind: 'int', name: 'unsigned long long', size: 8, signed: false, bits: 64 });
    expect(btf!.describe(m.keyTypeId!)).toBe('__u32');
    expect(btf!.resolve(m.keyTypeId!)).toMatchObject({ kind: 'int', size: 4, signed: false });
    expect(btf!.sizeOf(m.valueTypeId!)).toBe(8);
  });

  it('the maps of test-programs/elf/xdp_map.o', () => {
    const { btf, maps } = btfOf(`${ELF_DIR}/xdp_map.o`);
    expect(maps).toHaveLength(1);
    expect(maps[0]).toMatchObject({ name: 'counts', type: BpfMapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 4 });
    expect(btf!.describe(maps[0]!.valueTypeId!)).toBe('__u64');
  });

  it('struct key and typedef-of-struct value types (map_options)', () => {
    const { btf, maps } = cObject('map_options');
    const flows = maps.find((m) => m.name === 'flows')!;
    const key = btf!.resolve(flows.keyTypeId!);
    expect(key.kind === 'struct' && key.members.map((m) => [m.name, m.bitOffset / 8])).toEqual([
      ['saddr', 0], ['daddr', 4], ['sport', 8], ['dport', 10], ['proto', 12],
    ]);
    expect(btf!.describe(flows.valueTypeId!)).toBe('flow_stats_t');
    expect(btf!.describe(btf!.resolve(flows.valueTypeId!).id)).toBe('struct flow_stats');
    expect(flows.pinning).toBe(MapPinning.BY_NAME);
    const scratch = maps.find((m) => m.name === 'scratch')!;
    expect(scratch.keyTypeId).toBeUndefined();
    expect(scratch.valueTypeId).toBeUndefined();
    const seen = maps.find((m) => m.name === 'seen')!;
    expect(seen.keyTypeId).toBeUndefined();
    expect(btf!.describe(seen.valueTypeId!)).toBe('__u32');
  });

  it('a struct value type (core_read)', () => {
    const { btf, maps } = cObject('core_read');
    const record = btf!.resolve(maps[0]!.valueTypeId!);
    expect(record.kind === 'struct' && [record.name, record.size]).toEqual(['record', 12]);
    expect(record.kind === 'struct' && record.members.map((m) => [m.name, btf!.describe(m.type), m.bitOffset / 8])).toEqual([
      ['pid', 'int', 0], ['ppid', 'int', 4], ['has_flags', 'int', 8],
    ]);
  });

  it('prog array slots from the static initializer (tail_calls)', () => {
    const { maps } = cObject('tail_calls');
    const m = maps[0]!;
    expect(m.initialValues).toEqual([
      { index: 21, symbol: 'ignore_opcode' }, { index: 22, symbol: 'ignore_opcode' }, { index: 59, symbol: 'hello_exec' },
      ...[222, 223, 224, 225, 226].map((index) => ({ index, symbol: 'hello_timer' })),
    ]);
    expect(m.size).toBe(24 + 227 * 8); // type, max_entries, key, then the slots 0..226 the initializer fills
  });

  it('maps of maps: inner definitions and initial slots (map_in_map)', () => {
    const { btf, maps } = cObject('map_in_map');
    const outer = maps.find((m) => m.name === 'outer')!;
    expect(outer.initialValues).toEqual([{ index: 0, symbol: 'inner_a' }, { index: 1, symbol: 'inner_b' }]);
    expect(outer.innerMap).toMatchObject({ name: 'outer.inner' });
    expect(btf!.describe(outer.innerMap!.keyTypeId!)).toBe('__u32');
    const hash = maps.find((m) => m.name === 'outer_hash')!;
    expect(hash.initialValues).toEqual([]);
    expect(btf!.describe(hash.innerMap!.valueTypeId!)).toBe('__u64');
    const a = maps.find((m) => m.name === 'inner_a')!;
    const b = maps.find((m) => m.name === 'inner_b')!;
    expect(a.initialValues).toBeUndefined();
    // Offsets come from the symbol table (clang leaves the DATASEC offsets at 0).
    expect(new Set(maps.map((m) => m.offset)).size).toBe(4);
    expect(b.offset).toBe(a.offset + 32);
  });

  it('BpfMapType matches enum bpf_map_type of <linux/bpf.h> when the header is installed', () => {
    const header = '/usr/include/linux/bpf.h';
    if (!existsSync(header)) return;
    const text = readFileSync(header, 'utf8');
    const body = /enum bpf_map_type \{([^}]*)\}/.exec(text)![1]!.replace(/\/\*[\s\S]*?\*\//g, '');
    // Enumerators in order; aliases (`NAME = OTHER`) take no new value.
    const values = new Map<string, number>();
    let next = 0;
    for (const entry of body.split(',').map((e) => e.trim()).filter((e) => e.startsWith('BPF_MAP_TYPE_'))) {
      const [name, alias] = entry.split('=').map((x) => x.trim());
      if (alias !== undefined) values.set(name!, values.get(alias) ?? -1);
      else values.set(name!, next++);
    }
    let compared = 0;
    for (const [short, value] of Object.entries(BpfMapType)) {
      const v = values.get(`BPF_MAP_TYPE_${short}`);
      if (v === undefined) continue; // newer than the installed header
      expect(value, short).toBe(v);
      compared++;
    }
    expect(compared).toBeGreaterThan(25);
    expect(mapTypeName(27)).toBe('BPF_MAP_TYPE_RINGBUF');
    expect(mapTypeName(999)).toBe('map type 999');
  });
});

describe('global variables, CO-RE and byte order', () => {
  it('.rodata configuration (rodata_config)', () => {
    const elf = load(`${C_DIR}/rodata_config.o`);
    const { btf } = readElfBtf(elf);
    const vars = readDataSection(elf, btf!, '.rodata');
    expect(vars.map((v) => [v.name, v.offset, v.size, v.linkage, btf!.describe(v.typeId)])).toEqual([
      ['target_uid', 0, 4, BtfLinkage.GLOBAL, 'const volatile __u32'],
      ['min_len', 4, 4, BtfLinkage.GLOBAL, 'const volatile __u32'],
      ['verbose', 8, 1, BtfLinkage.GLOBAL, 'const volatile _Bool'],
      ['filter.____fmt', 9, 17, BtfLinkage.STATIC, 'const char[17]'],
    ]);
    const data = elf.sectionByName('.rodata')!.data();
    expect(new DataView(data.buffer, data.byteOffset).getUint32(4, true)).toBe(64);
    expect(readDataSection(elf, btf!, '.nothing')).toEqual([]);
  });

  it('.data and .bss globals (global_data)', () => {
    const elf = load(`${C_DIR}/global_data.o`);
    const { btf } = readElfBtf(elf);
    const show = (s: string) => readDataSection(elf, btf!, s).map((v) => [v.name, v.offset, v.size, v.linkage, btf!.describe(v.typeId)]);
    expect(show('.data')).toEqual([
      ['config', 0, 8, BtfLinkage.GLOBAL, 'struct config'],
      ['calls_left', 8, 4, BtfLinkage.STATIC, 'int'],
    ]);
    expect(show('.bss')).toEqual([
      ['packets', 0, 8, BtfLinkage.GLOBAL, '__u64'],
      ['bytes', 8, 8, BtfLinkage.GLOBAL, '__u64'],
      ['last_bytes', 16, 8, BtfLinkage.GLOBAL, '__u8[8]'],
    ]);
  });

  it('CO-RE relocations (core_read)', () => {
    const { btf, ext } = cObject('core_read');
    const relos = ext!.coreRelos.get('kprobe/do_exit')!;
    expect(relos.map((r) => [r.accessString, r.kind, btf!.describe(r.typeId)])).toEqual([
      ['0:0', BpfCoreReloKind.FIELD_BYTE_OFFSET, 'struct task_struct'],
      ['0:2', BpfCoreReloKind.FIELD_BYTE_OFFSET, 'struct task_struct'],
      ['0:1', BpfCoreReloKind.FIELD_BYTE_OFFSET, 'struct task_struct'],
      ['0:3', BpfCoreReloKind.FIELD_EXISTS, 'struct task_struct'],
    ]);
    expect(relos[0]!.access).toEqual([0, 0]);
    expect(ext!.header.hdrLen).toBe(32);
    expect(cObject('xdp_counter').ext!.coreRelos.size).toBe(0);
  });

  it('big-endian BTF reads the same as little-endian', () => {
    const le = btfOf(`${ELF_DIR}/sum.o`);
    const be = btfOf(`${ELF_DIR}/sum.be.o`);
    expect(be.btf!.littleEndian).toBe(false);
    expect(le.btf!.littleEndian).toBe(true);
    const strip = (t: BtfType) => ({ ...t, offset: 0 });
    expect(be.btf!.types.map(strip)).toEqual(le.btf!.types.map(strip));
    expect([...be.ext!.lineInfo.get('.text')!].map((l) => [l.insn, l.line, l.column])).toEqual(
      [...le.ext!.lineInfo.get('.text')!].map((l) => [l.insn, l.line, l.column]),
    );
  });
});

describe('synthetic BTF: every kind', () => {
  it('decodes all 19 kinds', () => {
    const { w, ids } = everyKind();
    const btf = parseBtf(w.build());
    const t = (k: string) => btf.type(ids[k]!);
    expect(btf.types).toHaveLength(Object.keys(ids).length + 1);
    expect(t('int')).toMatchObject({ kind: 'int', name: 'int', size: 4, signed: true, bits: 32, bitOffset: 0 });
    expect(t('ptr')).toMatchObject({ kind: 'ptr', type: ids.int });
    expect(t('array')).toMatchObject({ kind: 'array', type: ids.int, indexType: ids.uint, nelems: 4 });
    expect(t('struct')).toMatchObject({ kind: 'struct', name: 'pair', size: 8, members: [{ name: 'a', bitOffset: 0 }, { name: 'b', bitOffset: 32 }] });
    expect(t('union')).toMatchObject({ kind: 'union', name: 'either', size: 4 });
    expect(t('enum')).toMatchObject({ kind: 'enum', signed: true, values: [{ name: 'RED', value: 0 }, { name: 'MINUS', value: -1 }] });
    expect(t('fwd')).toMatchObject({ kind: 'fwd', name: 'later', union: true });
    expect(t('typedef')).toMatchObject({ kind: 'typedef', name: 'u32', type: ids.uint });
    expect(t('volatile')).toMatchObject({ kind: 'volatile', type: ids.typedef });
    expect(t('const')).toMatchObject({ kind: 'const', type: ids.volatile });
    expect(t('restrict')).toMatchObject({ kind: 'restrict', type: ids.ptr });
    expect(t('proto')).toMatchObject({ kind: 'func_proto', returnType: ids.int, params: [{ name: 'x', type: ids.int }], variadic: true });
    expect(t('func')).toMatchObject({ kind: 'func', name: 'f', linkage: BtfLinkage.STATIC });
    expect(t('var')).toMatchObject({ kind: 'var', name: 'g', linkage: BtfLinkage.GLOBAL });
    expect(t('datasec')).toMatchObject({ kind: 'datasec', name: '.data', vars: [{ type: ids.var, offset: 8, size: 4 }] });
    expect(t('float')).toMatchObject({ kind: 'float', name: 'double', size: 8 });
    expect(t('declTag')).toMatchObject({ kind: 'decl_tag', name: 'tag', type: ids.struct, componentIdx: 1 });
    expect(t('typeTag')).toMatchObject({ kind: 'type_tag', name: 'user', type: ids.int });
    expect(t('enum64')).toMatchObject({ kind: 'enum64', signed: false, values: [{ name: 'HUGE', value: 0x8000000000000000n }, { name: 'ONE', value: 1n }] });
    expect(t('enum64s')).toMatchObject({ kind: 'enum64', signed: true, values: [{ name: 'NEG', value: -1n }] });
    for (let k = 1; k <= 19; k++) expect(btf.types.some((x) => x.kind === btfKindName(k))).toBe(true);
  });

  it('resolve, sizeOf, typeByName and describe', () => {
    const { w, ids } = everyKind();
    const btf = parseBtf(w.build());
    expect(btf.resolve(ids.const!).id).toBe(ids.uint);
    expect(btf.resolve(ids.typeTag!).id).toBe(ids.int);
    expect(btf.resolve(ids.ptr!).id).toBe(ids.ptr);
    expect(btf.resolve(0).kind).toBe('void');
    expect(btf.sizeOf(ids.const!)).toBe(4);
    expect(btf.sizeOf(ids.array!)).toBe(16);
    expect(btf.sizeOf(ids.struct!)).toBe(8);
    expect(btf.sizeOf(ids.ptr!)).toBe(8);
    expect(btf.sizeOf(ids.var!)).toBe(4);
    expect(btf.sizeOf(ids.enum64!)).toBe(8);
    for (const k of ['func', 'proto', 'fwd', 'declTag']) badElf(() => btf.sizeOf(ids[k]!));
    badElf(() => btf.sizeOf(0));
    badElf(() => btf.type(999));
    badElf(() => btf.type(-1));
    badElf(() => btf.typeOfKind(ids.int!, 'struct'));
    expect(btf.typeByName('u32')!.id).toBe(ids.typedef);
    expect(btf.typeByName('pair', 'struct')!.id).toBe(ids.struct);
    expect(btf.typeByName('pair', 'union')).toBeUndefined();
    expect(btf.typeByName('nope')).toBeUndefined();
    expect(btf.describe(ids.const!)).toBe('const volatile u32');
    expect(btf.describe(ids.restrict!)).toBe('restrict int *');
    expect(btf.describe(ids.array!)).toBe('int[4]');
    expect(btf.describe(ids.func!)).toBe('int f(int, ...)');
    expect(btf.describe(ids.fwd!)).toBe('union later');
    expect(btf.string(0)).toBe('');
    badElf(() => btf.string(1_000_000));
  });

  it('big-endian synthetic BTF', () => {
    const { w, ids } = everyKind();
    const le = parseBtf(w.build());
    const be = parseBtf(w.build({ le: false }));
    expect(be.littleEndian).toBe(false);
    expect(be.types).toEqual(le.types);
    expect(be.sizeOf(ids.array!)).toBe(16);
  });

  it('a .BTF.ext with all three parts', () => {
    const w = new BtfWriter();
    const int = w.int('int', 4, true);
    const proto = w.proto(int, []);
    const f = w.func('main', proto);
    const g = w.func('helper', proto, BtfLinkage.STATIC);
    const sec = w.str('.text');
    const file = w.str('x.c');
    const src = w.str('int main(void) {');
    const acc = w.str('0:1');
    const btf = parseBtf(w.build());
    const ext = parseBtfExt(buildExt({
      func: [[sec, [[0, f], [32, g]]]],
      line: [[sec, [[0, file, src, (3 << 10) | 5], [16, file, 0, 4 << 10]]]],
      core: [[sec, [[8, int, acc, 0]]]],
    }), btf);
    expect(ext.funcInfo.get('.text')!.map((x) => [x.insn, x.name])).toEqual([[0, 'main'], [4, 'helper']]);
    expect(ext.lineInfo.get('.text')!.map((x) => [x.insn, x.fileName, x.line, x.column, x.source])).toEqual([
      [0, 'x.c', 3, 5, 'int main(void) {'], [2, 'x.c', 4, 0, ''],
    ]);
    expect(ext.coreRelos.get('.text')).toMatchObject([{ insn: 1, typeId: int, access: [0, 1], kind: 0 }]);
    expect(ext.funcAt('.text', 3)!.name).toBe('main');
    expect(ext.lineAt('.text', 1)!.line).toBe(3);
    // A 24-byte header has no CO-RE part; larger record sizes are skipped over.
    const old = parseBtfExt(buildExt({ hdrLen: 24, func: [[sec, [[0, f, 0xdead]]]], funcRecSize: 12 }), btf);
    expect(old.funcInfo.get('.text')![0]!.name).toBe('main');
    expect(old.coreRelos.size).toBe(0);
  });

  it('a legacy map annotated with BPF_ANNOTATE_KV_PAIR gets key/value type ids', () => {
    // Reuse legacy_maps.o: its BTF has no ____btf_map_ struct, so the ids stay unset...
    const elf = load(`${C_DIR}/legacy_maps.o`);
    const maps = readMapDefinitions(elf, readElfBtf(elf).btf);
    expect(maps[0]!.keyTypeId).toBeUndefined();
    // ...and with a BTF that has one, they are taken from its key and value members.
    const w = new BtfWriter();
    const u32 = w.int('unsigned int', 4);
    const u64 = w.int('unsigned long long', 8);
    w.struct('____btf_map_legacy_counts', 16, [['key', u32, 0], ['value', u64, 64]]);
    const annotated = readMapDefinitions(elf, parseBtf(w.build()));
    expect(annotated[0]).toMatchObject({ name: 'legacy_counts', keyTypeId: u32, valueTypeId: u64 });
    expect(annotated[1]!.keyTypeId).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------
// Malformed input

/** Copies `bytes` and applies `edit` to a DataView of the copy. */
function patched(bytes: Uint8Array, edit: (v: DataView, b: Uint8Array) => void): Uint8Array {
  const copy = bytes.slice();
  edit(new DataView(copy.buffer), copy);
  return copy;
}

/** A real .BTF section and .BTF.ext (copies). */
function realSections(name = 'xdp_counter') {
  const elf = load(`${C_DIR}/${name}.o`);
  return { elf, btf: elf.sectionByName('.BTF')!.data().slice(), ext: elf.sectionByName('.BTF.ext')!.data().slice() };
}

describe('malformed .BTF', () => {
  const where = (e: ElfError) => [e.location.section, e.location.offset];

  it('every truncation of a real .BTF is an ElfError at .BTF', () => {
    const { btf } = realSections();
    for (let n = 0; n < btf.length; n++) {
      const e = badElf(() => parseBtf(btf.subarray(0, n)));
      expect(e.location.section).toBe('.BTF');
      expect(e.location.offset).toBeLessThanOrEqual(btf.length);
    }
    expect(parseBtf(btf).types.length).toBeGreaterThan(10);
  });

  it('bad magic, version, flags and header lengths', () => {
    const { w } = everyKind();
    const good = w.build();
    expect(where(badElf(() => parseBtf(patched(good, (v) => v.setUint16(0, 0x1234, true)))))).toEqual(['.BTF', 0]);
    expect(where(badElf(() => parseBtf(patched(good, (_, b) => { b[2] = 2; }))))).toEqual(['.BTF', 2]);
    expect(where(badElf(() => parseBtf(patched(good, (_, b) => { b[3] = 1; }))))).toEqual(['.BTF', 3]);
    expect(where(badElf(() => parseBtf(w.build({ header: { hdrLen: 16 } }))))).toEqual(['.BTF', 4]);
    expect(where(badElf(() => parseBtf(w.build({ header: { hdrLen: 0xffffffff } }))))).toEqual(['.BTF', 4]);
  });

  it('forged section offsets and lengths', () => {
    const { w } = everyKind();
    const good = w.build();
    const h = new DataView(good.buffer);
    const typeLen = h.getUint32(12, true);
    const strLen = h.getUint32(20, true);
    expect(where(badElf(() => parseBtf(w.build({ header: { typeLen: 0xfffffff0 } }))))).toEqual(['.BTF', 8]);
    expect(where(badElf(() => parseBtf(w.build({ header: { typeOff: 0xfffffff0 } }))))).toEqual(['.BTF', 8]);
    expect(where(badElf(() => parseBtf(w.build({ header: { strLen: 0x7fffffff } }))))).toEqual(['.BTF', 16]);
    expect(where(badElf(() => parseBtf(w.build({ header: { strOff: typeLen + 1 } }))))).toEqual(['.BTF', 16]);
    expect(where(badElf(() => parseBtf(w.build({ header: { strOff: 0 } }))))).toEqual(['.BTF', 16]); // overlaps the types
    expect(where(badElf(() => parseBtf(w.build({ header: { strLen: 0 } }))))).toEqual(['.BTF', 20]);
    expect(where(badElf(() => parseBtf(w.build({ header: { typeOff: 2, typeLen: typeLen - 4 } }))))).toEqual(['.BTF', 8]);
    expect(where(badElf(() => parseBtf(w.build({ header: { typeLen: typeLen - 2 } }))))).toEqual(['.BTF', 12]);
    // A string section that does not end in NUL; one that does not start with the empty string.
    expect(badElf(() => parseBtf(w.build({ header: { strLen: strLen - 1 } }))).location.section).toBe('.BTF');
    expect(badElf(() => parseBtf(w.build({ header: { strOff: typeLen + 1, strLen: strLen - 1 } }))).detail).toMatch(/empty string/);
    // Cutting the type section short in the middle of a record.
    const cut = badElf(() => parseBtf(w.build({ header: { typeLen: typeLen - 4 } })));
    expect(cut.location.section).toBe('.BTF');
  });

  it('unknown kinds and vlen on kinds without members', () => {
    for (const kind of [0, 20, 31]) {
      const w = new BtfWriter();
      w.int('int', 4);
      w.raw('x', kind, 0, 0);
      const e = badElf(() => parseBtf(w.build()));
      expect(where(e)).toEqual(['.BTF', 24 + 16 + 4]);
      expect(e.detail).toMatch(/unknown kind/);
    }
    const w = new BtfWriter();
    const int = w.int('int', 4);
    w.raw('', BtfKind.PTR, 3, int);
    expect(badElf(() => parseBtf(w.build())).detail).toMatch(/vlen 3/);
  });

  it('a huge vlen is rejected before anything is allocated', () => {
    for (const kind of [BtfKind.STRUCT, BtfKind.UNION, BtfKind.ENUM, BtfKind.FUNC_PROTO, BtfKind.DATASEC, BtfKind.ENUM64]) {
      const w = new BtfWriter();
      const int = w.int('int', 4);
      w.raw('s', kind, 0xffff, kind === BtfKind.FUNC_PROTO ? int : 8, [w.str('a'), int, 0]);
      const e = badElf(() => parseBtf(w.build()));
      expect(where(e)).toEqual(['.BTF', 24 + 16 + 4]);
      expect(e.detail).toMatch(/65535/);
    }
  });

  it('out-of-range type ids anywhere', () => {
    const cases: [string, (w: BtfWriter, int: number) => void][] = [
      ['ptr', (w) => w.ref(BtfKind.PTR, 99)],
      ['typedef', (w) => w.ref(BtfKind.TYPEDEF, 99, 't')],
      ['array element', (w, int) => w.array(99, int, 1)],
      ['array index', (w, int) => w.array(int, 99, 1)],
      ['member', (w, int) => w.struct('s', 8, [['a', int, 0], ['b', 99, 32]])],
      ['param', (w, int) => w.proto(int, [['p', 99]])],
      ['return', (w) => w.proto(99, [])],
      ['var', (w) => w.variable('v', 99)],
      ['datasec', (w) => w.datasec('.data', [[99, 0, 4]])],
      ['decl_tag', (w) => w.raw('t', BtfKind.DECL_TAG, 0, 99, [-1])],
      ['huge id', (w) => w.ref(BtfKind.CONST, 0xffffffff)],
    ];
    for (const [what, build] of cases) {
      const w = new BtfWriter();
      const int = w.int('int', 4);
      build(w, int);
      const e = badElf(() => parseBtf(w.build()));
      expect(e.location.section, what).toBe('.BTF');
      expect(e.detail, what).toMatch(/refers to type \d+, but the BTF has only/);
    }
  });

  it('references to the wrong kind', () => {
    const w = new BtfWriter();
    const int = w.int('int', 4);
    w.func('f', int); // a FUNC must point at a FUNC_PROTO
    expect(badElf(() => parseBtf(w.build())).detail).toMatch(/must be a func_proto/);
    const w2 = new BtfWriter();
    const int2 = w2.int('int', 4);
    w2.datasec('.data', [[int2, 0, 4]]); // a DATASEC holds VARs
    expect(badElf(() => parseBtf(w2.build())).detail).toMatch(/must be a var or func/);
  });

  it('bad string offsets', () => {
    const w = new BtfWriter();
    w.int('int', 4);
    w.records[0]![0] = 0x10000;
    const e = badElf(() => parseBtf(w.build()));
    expect(where(e)).toEqual(['.BTF', 24]);
    expect(e.detail).toMatch(/past the end of the \d+-byte string section/);
    const w2 = new BtfWriter();
    const int = w2.int('int', 4);
    w2.struct('s', 4, [['a', int, 0]]);
    w2.records[1]![3] = 0xffffff;
    expect(where(badElf(() => parseBtf(w2.build())))).toEqual(['.BTF', 24 + 16 + 12]);
  });

  it('invalid record contents', () => {
    const bad: [string, (w: BtfWriter) => void, RegExp][] = [
      ['int size', (w) => w.raw('i', BtfKind.INT, 0, 3, [24]), /size 3/],
      ['int bits', (w) => w.raw('i', BtfKind.INT, 0, 4, [33]), /33 bits/],
      ['int encoding', (w) => w.raw('i', BtfKind.INT, 0, 4, [(3 << 24) | 32]), /encoding/],
      ['enum size', (w) => w.raw('e', BtfKind.ENUM, 0, 3), /size 3/],
      ['float size', (w) => w.raw('f', BtfKind.FLOAT, 0, 5), /size 5/],
      ['anonymous typedef', (w) => w.ref(BtfKind.TYPEDEF, 1), /without a name/],
      ['self typedef', (w) => w.ref(BtfKind.TYPEDEF, 2, 't'), /itself/],
      ['self array', (w) => w.array(2, 1, 1), /itself/],
      ['func linkage', (w) => { const p = w.proto(1, []); w.func('f', p, 7); }, /linkage 7/],
      ['var linkage', (w) => w.raw('v', BtfKind.VAR, 0, 1, [9]), /linkage 9/],
      ['void parameter', (w) => w.raw('', BtfKind.FUNC_PROTO, 2, 1, [0, 0, w.str('x'), 1]), /type void/],
      ['member outside', (w) => w.struct('s', 4, [['a', 1, 64]]), /outside/],
      ['decl_tag index', (w) => w.raw('t', BtfKind.DECL_TAG, 0, 1, [-5]), /component index/],
    ];
    for (const [what, build, message] of bad) {
      const w = new BtfWriter();
      w.int('int', 4, true);
      build(w);
      const e = badElf(() => parseBtf(w.build()));
      expect(e.location.section, what).toBe('.BTF');
      expect(e.detail, what).toMatch(message);
    }
  });

  it('a cyclic typedef chain parses, but resolving or sizing it is an ElfError', () => {
    const w = new BtfWriter();
    const a = w.ref(BtfKind.TYPEDEF, 2, 'a'); // a -> b
    const b = w.ref(BtfKind.CONST, 3); // b -> c
    const c = w.ref(BtfKind.TYPEDEF, a, 'c'); // c -> a
    const arr = w.array(a, a, 2);
    const btf = parseBtf(w.build());
    for (const id of [a, b, c]) {
      expect(badElf(() => btf.resolve(id)).detail).toMatch(/cyclic/);
      expect(badElf(() => btf.sizeOf(id)).detail).toMatch(/cyclic/);
      expect(btf.describe(id).length).toBeLessThan(2000);
    }
    badElf(() => btf.sizeOf(arr));
    // An array cycle: x is an array of y, y an array of x.
    const w2 = new BtfWriter();
    const int = w2.int('int', 4);
    const x = w2.array(3, int, 2);
    w2.array(x, int, 2);
    const btf2 = parseBtf(w2.build());
    expect(badElf(() => btf2.sizeOf(x)).detail).toMatch(/cyclic|4 GiB/);
    expect(btf2.describe(x)).toContain('...');
  });

  it('describe stays small on self-referencing prototypes and long names', () => {
    const w = new BtfWriter();
    const int = w.int('x'.repeat(5000), 4);
    // proto 3 takes 40 pointers to itself (ptr 2 -> proto 3).
    w.ref(BtfKind.PTR, 3);
    w.proto(int, Array.from({ length: 40 }, (_, i) => [`p${i}`, 2] as [string, number]));
    const btf = parseBtf(w.build());
    const started = Date.now();
    expect(btf.describe(3).length).toBeLessThan(100_000);
    expect(btf.describe(2).length).toBeLessThan(100_000);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('modifier chains: deep but finite chains resolve, longer ones are errors', () => {
    const w = new BtfWriter();
    let id = w.int('int', 4);
    const ids: number[] = [];
    for (let i = 0; i < BTF_MAX_RESOLVE_DEPTH + 5; i++) ids.push((id = w.ref(i % 2 ? BtfKind.CONST : BtfKind.VOLATILE, id)));
    const btf = parseBtf(w.build());
    expect(btf.resolve(ids[BTF_MAX_RESOLVE_DEPTH - 1]!).kind).toBe('int');
    expect(btf.sizeOf(ids[BTF_MAX_RESOLVE_DEPTH - 1]!)).toBe(4);
    badElf(() => btf.resolve(ids[ids.length - 1]!));
    badElf(() => btf.sizeOf(ids[ids.length - 1]!));
  });

  it('arrays larger than 4 GiB have no size', () => {
    const w = new BtfWriter();
    const int = w.int('long', 8);
    const big = w.array(int, int, 0x20000000);
    const bigger = w.array(big, int, 0x10000);
    const btf = parseBtf(w.build());
    expect(badElf(() => btf.sizeOf(big)).detail).toMatch(/4 GiB/);
    expect(badElf(() => btf.sizeOf(bigger)).detail).toMatch(/4 GiB/);
  });

  it('names from a string section that is not all ASCII decode as UTF-8, invalid bytes replaced', () => {
    // Names are UTF-8; invalid bytes read as U+FFFD.
    const w = new BtfWriter();
    const a = w.int('entier_sign\u00e9', 4, true);
    const b = w.int('qqq', 8);
    const c = w.struct('caf\u00e9', 4, [['cr\u00e8me', a, 0]]);
    const bytes = w.build();
    const ok = parseBtf(bytes);
    expect([ok.type(a).name, ok.type(b).name, ok.type(c).name]).toEqual(['entier_sign\u00e9', 'qqq', 'caf\u00e9']);
    const struct = ok.type(c);
    expect(struct.kind === 'struct' && struct.members[0]!.name).toBe('cr\u00e8me');
    const at = bytes.findIndex((_, i) => bytes[i] === 0x71 && bytes[i + 1] === 0x71 && bytes[i + 2] === 0x71);
    const patched = Uint8Array.from(bytes);
    patched[at + 1] = 0xc3; // a lead byte followed by 'q': invalid, replaced
    const bad = parseBtf(patched);
    expect(bad.type(b).name).toBe('q\ufffdq');
    expect(bad.typeByName('caf\u00e9')?.id).toBe(c);
    // A string section otherwise all ASCII with one invalid byte.
    const v = new BtfWriter();
    const x = v.int('xxx', 4);
    const y = v.int('yy', 4);
    const plain = v.build();
    const xAt = plain.findIndex((_, i) => plain[i] === 0x78 && plain[i + 1] === 0x78 && plain[i + 2] === 0x78);
    const lone = Uint8Array.from(plain);
    lone[xAt + 1] = 0xff;
    const parsed = parseBtf(lone);
    expect([parsed.type(x).name, parsed.type(y).name]).toEqual(['x\ufffdx', 'yy']);
  });

  it('too many overlapping long names are bounded', () => {
    const w = new BtfWriter();
    const long = 'n'.repeat(60000);
    const off = w.str(long);
    for (let i = 0; i < 2000; i++) w.raw('x', BtfKind.INT, 0, 4, [32]);
    w.records.forEach((r, i) => { r[0] = off + (i % 1000); });
    const e = badElf(() => parseBtf(w.build()));
    expect(e.detail).toMatch(/too many long, overlapping strings/);
  });
});

describe('malformed .BTF.ext', () => {
  const setup = () => {
    const w = new BtfWriter();
    const int = w.int('int', 4);
    const proto = w.proto(int, []);
    const f = w.func('main', proto);
    const sec = w.str('.text');
    const file = w.str('x.c');
    const acc = w.str('0:0');
    const bad = w.str('0:x');
    return { btf: parseBtf(w.build()), int, f, sec, file, acc, bad };
  };

  it('every truncation of a real .BTF.ext is an ElfError at .BTF.ext', () => {
    const { btf, ext } = realSections('core_read');
    const parsed = parseBtf(btf);
    for (let n = 0; n < ext.length; n++) {
      const e = badElf(() => parseBtfExt(ext.subarray(0, n), parsed));
      expect(e.location.section).toBe('.BTF.ext');
    }
  });

  it('header and part errors', () => {
    const { btf, f, sec } = setup();
    const good = buildExt({ func: [[sec, [[0, f]]]] });
    expect(parseBtfExt(good, btf).funcInfo.get('.text')).toHaveLength(1);
    const cases: [string, Uint8Array, number | undefined, RegExp][] = [
      ['magic', patched(good, (v) => v.setUint16(0, 0)), 0, /magic/],
      ['wrong byte order', patched(good, (v) => v.setUint16(0, 0xeb9f, false)), 0, /endian/],
      ['version', patched(good, (_, b) => { b[2] = 9; }), 2, /version/],
      ['hdr_len small', patched(good, (v) => v.setUint32(4, 8, true)), 4, /header length/],
      ['hdr_len huge', patched(good, (v) => v.setUint32(4, 0xffffff00, true)), 4, /header length/],
      ['func_info_len huge', patched(good, (v) => v.setUint32(12, 0xfffffff0, true)), 8, /runs past/],
      ['func_info_off huge', patched(good, (v) => v.setUint32(8, 0xfffffff0, true)), 8, /runs past/],
      ['func_info_off unaligned', patched(good, (v) => { v.setUint32(8, 2, true); v.setUint32(12, 4, true); }), 8, /aligned/],
      ['rec_size 0', buildExt({ func: [[sec, [[0, f]]]], funcRecSize: 0 }), 32, /record size/],
      ['rec_size huge', buildExt({ func: [[sec, [[0, f]]]], funcRecSize: 0x10000000 }), 32, /record size/],
      ['num_info huge', patched(good, (v) => v.setUint32(40, 0xffffffff, true)), 40, /declares 4294967295 records/],
      ['num_info 0', patched(good, (v) => v.setUint32(40, 0, true)), 40, /no records/],
      ['section name offset', patched(good, (v) => v.setUint32(36, 0xffffff, true)), 36, /past the end/],
      ['unaligned insn offset', buildExt({ func: [[sec, [[4, f]]]] }), 44, /multiple of 8/],
      ['func type not a func', buildExt({ func: [[sec, [[0, 1]]]] }), 48, /not a func/],
      ['func type out of range', buildExt({ func: [[sec, [[0, 999]]]] }), 48, /does not exist/],
      ['unordered', buildExt({ func: [[sec, [[8, f], [0, f]]]] }), 52, /not after/],
      ['duplicate block', buildExt({ func: [[sec, [[0, f]]], [sec, [[8, f]]]] }), 52, /two func_info blocks/],
    ];
    for (const [what, bytes, offset, message] of cases) {
      const e = badElf(() => parseBtfExt(bytes, btf));
      expect(e.location.section, what).toBe('.BTF.ext');
      if (offset !== undefined) expect(e.location.offset, what).toBe(offset);
      expect(e.detail, what).toMatch(message);
    }
  });

  it('line_info and CO-RE record errors', () => {
    const { btf, int, sec, file, acc, bad } = setup();
    const cases: [string, Uint8Array, RegExp][] = [
      ['file name', buildExt({ line: [[sec, [[0, 0xfffff, 0, 0]]]] }), /file name/],
      ['source line', buildExt({ line: [[sec, [[0, file, 0xfffff, 0]]]] }), /source line/],
      ['line rec_size', buildExt({ line: [[sec, [[0, file, 0, 0]]]], lineRecSize: 8 }), /record size/],
      ['core type 0', buildExt({ core: [[sec, [[0, 0, acc, 0]]]] }), /type 0/],
      ['core type range', buildExt({ core: [[sec, [[0, 77, acc, 0]]]] }), /type 77/],
      ['core access', buildExt({ core: [[sec, [[0, int, bad, 0]]]] }), /access string/],
      ['core kind', buildExt({ core: [[sec, [[0, int, acc, 13]]]] }), /unknown kind 13/],
    ];
    for (const [what, bytes, message] of cases) {
      const e = badElf(() => parseBtfExt(bytes, btf));
      expect(e.location.section, what).toBe('.BTF.ext');
      expect(e.detail, what).toMatch(message);
    }
  });

  it('records for sections or offsets the object does not have', () => {
    const elf = load(`${C_DIR}/xdp_counter.o`);
    const ext = elf.sectionByName('.BTF.ext')!;
    const { btf } = readElfBtf(elf);
    const strings = btf!.header.hdrLen + btf!.header.strOff;
    const btfBytes = elf.sectionByName('.BTF')!.data();
    const find = (s: string) => {
      const needle = new TextEncoder().encode(s + '\0');
      for (let i = strings; i < btfBytes.length; i++) if (needle.every((b, j) => btfBytes[i + j] === b)) return i - strings;
      throw new Error(s);
    };
    // The func_info block's section name: "xdp" -> "license" (a section without code is fine
    // for the parser, but "count_packets" is no section at all).
    const funcBlock = ext.offset + 32 + 4;
    const renamed = patched(elf.bytes, (v) => v.setUint32(funcBlock, find('count_packets'), true));
    const e = badElf(() => readElfBtf(parseElf(renamed)));
    expect(e.location).toEqual({ section: '.BTF.ext', offset: 32 + 4 + 8 });
    expect(e.detail).toMatch(/section count_packets/);
    // An instruction offset past the end of the section.
    const lastLine = ext.offset + ext.size - 16;
    const far = patched(elf.bytes, (v) => v.setUint32(lastLine, 0x10000, true));
    expect(badElf(() => readElfBtf(parseElf(far))).detail).toMatch(/past the end/);
  });
});

describe('malformed map definitions', () => {
  /** Patches the u32 at `offset` of the .BTF section of an object, returns the re-parsed ELF. */
  const patchBtf = (name: string, edit: (btf: Btf, at: (btfOffset: number, value: number) => void) => void): ElfFile => {
    const elf = load(`${C_DIR}/${name}.o`);
    const section = elf.sectionByName('.BTF')!;
    const { btf } = readElfBtf(elf);
    const copy = elf.bytes.slice();
    const v = new DataView(copy.buffer);
    edit(btf!, (off, value) => v.setUint32(section.offset + off, value, elf.littleEndian));
    return parseElf(copy);
  };
  const mapStruct = (btf: Btf, name: string) => btf.resolve(btf.typeByName(name, 'var')!.type);
  /** Offset in .BTF of member `m`'s type field. */
  const memberTypeAt = (btf: Btf, name: string, member: string) => {
    const s = mapStruct(btf, name);
    if (s.kind !== 'struct') throw new Error('not a struct');
    const i = s.members.findIndex((x) => x.name === member);
    return { at: s.offset + 12 + i * 12 + 4, index: i, struct: s };
  };
  const where = (e: ElfError) => e.location.section;
  /** The u32 at this offset of an object's .BTF section. */
  const u32In = (name: string, btfOffset: number) => {
    const raw = load(`${C_DIR}/${name}.o`).sectionByName('.BTF')!.data();
    return new DataView(raw.buffer, raw.byteOffset, raw.byteLength).getUint32(btfOffset, true);
  };

  it('a __uint member that is not a pointer to an array', () => {
    const elf = patchBtf('xdp_counter', (btf, set) => {
      const int = btf.typeByName('int', 'int')!.id;
      set(memberTypeAt(btf, 'pkt_count', 'max_entries').at, int);
    });
    const e = badElf(() => readElfBtf(elf));
    expect(where(e)).toBe('.maps');
    expect(e.location.offset).toBe(24); // pkt_count is at 0; max_entries is its fourth pointer
    expect(e.detail).toMatch(/__uint\(max_entries/);
  });

  it('a __type member that is not a pointer', () => {
    const elf = patchBtf('xdp_counter', (btf, set) => {
      set(memberTypeAt(btf, 'pkt_count', 'key').at, btf.typeByName('int', 'int')!.id);
    });
    expect(badElf(() => readElfBtf(elf)).detail).toMatch(/__type\(key/);
  });

  it('a key type without a size (void, a function prototype)', () => {
    const elf = patchBtf('xdp_counter', (btf, set) => {
      const ptr = btf.type(memberTypeAt(btf, 'pkt_count', 'key').struct.members.find((m) => m.name === 'key')!.type);
      set(ptr.offset + 8, 0); // pointer to void
    });
    const e = badElf(() => readElfBtf(elf));
    expect(where(e)).toBe('.maps');
    expect(e.detail).toMatch(/map pkt_count: .*no size/);
  });

  it('an unknown attribute', () => {
    const elf = patchBtf('xdp_counter', (btf, set) => {
      const { struct, index } = memberTypeAt(btf, 'pkt_count', 'max_entries');
      // Point the member's name at the string "count_packets" (the FUNC's name offset).
      set(struct.offset + 12 + index * 12, u32In('xdp_counter', btf.typeByName('count_packets', 'func')!.offset));
    });
    expect(badElf(() => readElfBtf(elf)).detail).toMatch(/unknown attribute 'count_packets'/);
  });

  it('a map variable that is not a struct', () => {
    const elf = patchBtf('xdp_counter', (btf, set) => {
      const v = btf.typeByName('pkt_count', 'var')!;
      set(v.offset + 8, btf.typeByName('int', 'int')!.id);
    });
    expect(badElf(() => readElfBtf(elf)).detail).toMatch(/not a struct/);
  });

  it('a map without a type', () => {
    const elf = patchBtf('ringbuf_hello', (btf, set) => {
      // Rename the `type` member to `max_entries`: nothing sets the type any more.
      const type = memberTypeAt(btf, 'output', 'type');
      const max = memberTypeAt(btf, 'output', 'max_entries');
      set(type.struct.offset + 12 + type.index * 12, u32In('ringbuf_hello', max.struct.offset + 12 + max.index * 12));
    });
    expect(badElf(() => readElfBtf(elf)).detail).toMatch(/has no type/);
  });

  it('key_size as a number, and conflicting with the key type', () => {
    const elf = patchBtf('perfbuf_hello', (btf, set) => {
      // perfbuf's __uint(key_size, 4) becomes key_size 5; no key type to conflict with.
      const { struct } = memberTypeAt(btf, 'output', 'key_size');
      const ptr = btf.type(struct.members.find((m) => m.name === 'key_size')!.type);
      if (ptr.kind !== 'ptr') throw new Error('not a pointer');
      set(btf.type(ptr.type).offset + 12 + 8, 5); // the array's nelems
    });
    expect(readElfBtf(elf).maps[0]!.keySize).toBe(5);
    const conflict = patchBtf('map_options', (btf, set) => {
      // flows has __type(key, struct flow_key) (16 bytes); rename its max_entries (4096) to key_size.
      const max = memberTypeAt(btf, 'flows', 'max_entries');
      const keySize = memberTypeAt(btf, 'scratch', 'key_size');
      set(max.struct.offset + 12 + max.index * 12, u32In('map_options', keySize.struct.offset + 12 + keySize.index * 12));
    });
    expect(badElf(() => readElfBtf(conflict)).detail).toMatch(/key_size 4096 but its key type is 16 bytes/);
  });

  it('a prog array slot beyond max_entries', () => {
    const elf = patchBtf('tail_calls', (btf, set) => {
      const ptr = btf.type(memberTypeAt(btf, 'syscall', 'max_entries').struct.members.find((m) => m.name === 'max_entries')!.type);
      if (ptr.kind !== 'ptr') throw new Error();
      set(btf.type(ptr.type).offset + 12 + 8, 100);
    });
    const e = badElf(() => readElfBtf(elf));
    expect(where(e)).toBe('.maps');
    expect(e.detail).toMatch(/slot 222, but it has only 100 entries/);
  });

  it('values that are neither programs nor maps, or not the last member', () => {
    const elf = patchBtf('tail_calls', (btf, set) => {
      const { struct } = memberTypeAt(btf, 'syscall', 'values');
      const values = btf.type(struct.members.at(-1)!.type);
      if (values.kind !== 'array') throw new Error();
      set(values.offset + 12, btf.typeByName('int', 'int')!.id); // int *values[] -> int values[]
    });
    expect(badElf(() => readElfBtf(elf)).detail).toMatch(/must be pointers/);
    const reordered = patchBtf('map_in_map', (btf, set) => {
      const { struct } = memberTypeAt(btf, 'outer', 'values');
      // Rename the key member to `values`: a `values` member is no longer last.
      const nameAt = (i: number) => struct.offset + 12 + i * 12;
      const keyIndex = struct.members.findIndex((m) => m.name === 'key');
      set(nameAt(keyIndex), u32In('map_in_map', nameAt(struct.members.length - 1)));
    });
    expect(badElf(() => readElfBtf(reordered)).detail).toMatch(/last member|__array/);
  });

  it('.maps without BTF, or without a DATASEC for it', () => {
    const elf = load(`${C_DIR}/xdp_counter.o`);
    const e = badElf(() => readMapDefinitions(elf, undefined));
    expect(e.location).toEqual({ section: '.maps', offset: 0 });
    const w = new BtfWriter();
    w.int('int', 4);
    expect(badElf(() => readMapDefinitions(elf, parseBtf(w.build()))).detail).toMatch(/no DATASEC/);
  });

  it('a legacy definition too small for struct bpf_map_def', () => {
    const elf = load(`${C_DIR}/legacy_maps.o`);
    const symtab = elf.sections.find((s) => s.name === '.symtab')!;
    const sym = elf.symbolByName('legacy_counts')!;
    const copy = patched(elf.bytes, (v) => v.setBigUint64(symtab.offset + sym.index * 24 + 16, 8n, true));
    const e = badElf(() => readElfBtf(parseElf(copy)));
    expect(e.location).toEqual({ section: 'maps', offset: 0 });
  });
});

describe('mutation property', () => {
  /** Parses everything the module offers; returns normally or throws whatever it throws. */
  function exercise(bytes: Uint8Array): void {
    const elf = parseElf(bytes);
    const { btf, ext } = readElfBtf(elf);
    if (btf) {
      for (const t of btf.types) {
        for (const f of [() => btf.resolve(t.id), () => btf.sizeOf(t.id), () => btf.describe(t.id)]) {
          try {
            f();
          } catch (e) {
            if (!(e instanceof ElfError)) throw e;
          }
        }
      }
      for (const name of ['.data', '.bss', '.rodata']) readDataSection(elf, btf, name);
    }
    if (ext) for (const [s] of ext.lineInfo) ext.lineAt(s, 5);
  }

  it('mutated objects give only ElfError, never another exception', () => {
    const inputs = ALL_OBJECTS.map((rel) => {
      const elf = load(rel);
      const regions = ['.BTF', '.BTF.ext', '.maps', 'maps', '.rel.maps', '.symtab']
        .map((n) => elf.sectionByName(n))
        .filter((s) => s !== undefined && s.size > 0)
        .map((s) => [s!.offset, s!.size] as const);
      return { bytes: elf.bytes, regions };
    });
    const interesting = [0, 1, 2, 3, 4, 7, 8, 12, 13, 16, 19, 20, 24, 31, 32, 0x7f, 0x80, 0xff, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff];
    const mutation = fc.record({
      kind: fc.constantFrom('byte' as const, 'word' as const, 'anywhere' as const),
      region: fc.nat(),
      pos: fc.nat(),
      value: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(...interesting)),
    });
    fc.assert(
      fc.property(fc.nat({ max: inputs.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), (which, muts) => {
        const input = inputs[which]!;
        const copy = input.bytes.slice();
        const v = new DataView(copy.buffer);
        for (const m of muts) {
          if (m.kind === 'anywhere') {
            copy[m.pos % copy.length] = m.value & 0xff;
            continue;
          }
          const [start, size] = input.regions[m.region % input.regions.length]!;
          if (m.kind === 'byte') copy[start + (m.pos % size)] = m.value & 0xff;
          else if (size >= 4) v.setUint32(start + 4 * (m.pos % Math.floor(size / 4)), m.value >>> 0, true);
        }
        try {
          exercise(copy);
        } catch (e) {
          if (!(e instanceof ElfError)) throw e;
          expect(e.code).toBe(ErrorCode.BadElf);
        }
      }),
      { numRuns: 1000, seed: 20240611 },
    );
  });

  it('mutated standalone .BTF/.BTF.ext sections give only ElfError', () => {
    const { btf, ext } = realSections('map_in_map');
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), fc.boolean(), (muts, mutateExt) => {
        const target = (mutateExt ? ext : btf).slice();
        for (const [pos, value] of muts) target[pos % target.length] = value;
        try {
          const parsed = parseBtf(mutateExt ? btf : target);
          parseBtfExt(mutateExt ? target : ext, parsed);
        } catch (e) {
          if (!(e instanceof ElfError)) throw e;
        }
      }),
      { numRuns: 1000, seed: 7 },
    );
  });
});
