/**
 * `bpf2wasm inspect` (compiler/object/inspect.ts): the exact report and text of committed clang
 * objects, relocation targets of every kind, JSON round trips, and malformed input giving typed
 * errors only.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { thrownBy } from '../../test/support/thrown.js';
import { objectFiles, repoBytes } from '../../test/support/fixtures.js';
import { Bpf2WasmError, ErrorCode } from '../../runtime/errors.js';
import { cTypeName, formatInspect, inspectObject, type InspectMap, type InspectReport } from '../object/inspect.js';
import { loadObjectSpec } from '../elf/loader.js';
import { ElfError, parseElf } from '../elf/elf64.js';

const OBJECT_DIRS = ['test-programs/c', 'test-programs/elf', 'test-programs/loader'];
const OBJECTS = OBJECT_DIRS.flatMap((d) => objectFiles(d).map((f) => `${d}/${f}`)).sort();

const reportOf = (name: string) => inspectObject(repoBytes(`test-programs/c/${name}.o`));

/** Runs `f`, expecting a typed bpf2wasm error (never a TypeError, RangeError, ...). */
function typedError(f: () => unknown): Bpf2WasmError {
  return thrownBy(f, Bpf2WasmError);
}

const mapDefaults = { flags: 0, pinning: 0, numaNode: 0, mapExtra: 0, internal: false };

describe('inspectObject', () => {
  it('finds the objects', () => {
    expect(OBJECTS.length).toBeGreaterThan(15);
  });

  it('uid_counter.o: the whole report', () => {
    const report = reportOf('uid_counter');
    const sections: [string, string, number, string][] = [
      ['.strtab', 'STRTAB', 289, ''], ['.text', 'PROGBITS', 0, 'AX'], ['kprobe/sys_execve', 'PROGBITS', 176, 'AX'],
      ['.relkprobe/sys_execve', 'REL', 32, 'I'], ['.maps', 'PROGBITS', 32, 'WA'], ['license', 'PROGBITS', 4, 'WA'],
      ['.debug_loclists', 'PROGBITS', 58, ''], ['.debug_abbrev', 'PROGBITS', 273, ''], ['.debug_info', 'PROGBITS', 367, ''],
      ['.rel.debug_info', 'REL', 80, 'I'], ['.debug_str_offsets', 'PROGBITS', 124, ''], ['.rel.debug_str_offsets', 'REL', 464, 'I'],
      ['.debug_str', 'PROGBITS', 316, 'MS'], ['.debug_addr', 'PROGBITS', 32, ''], ['.rel.debug_addr', 'REL', 48, 'I'],
      ['.BTF', 'PROGBITS', 851, ''], ['.rel.BTF', 'REL', 32, 'I'], ['.BTF.ext', 'PROGBITS', 240, ''],
      ['.rel.BTF.ext', 'REL', 192, 'I'], ['.debug_frame', 'PROGBITS', 40, ''], ['.rel.debug_frame', 'REL', 32, 'I'],
      ['.debug_line', 'PROGBITS', 210, ''], ['.rel.debug_line', 'REL', 144, 'I'], ['.debug_line_str', 'PROGBITS', 128, 'MS'],
      ['.llvm_addrsig', 'LLVM_ADDRSIG', 3, 'E'], ['.symtab', 'SYMTAB', 360, ''],
    ];
    const expected: InspectReport = {
      programs: [{
        name: 'hello', section: 'kprobe/sys_execve', type: 'kprobe', insns: 22,
        functions: [{ name: 'hello', section: 'kprobe/sys_execve', pc: 0, length: 22 }],
      }],
      maps: [{
        ...mapDefaults, index: 0, name: 'counter_table', type: 1, typeName: 'BPF_MAP_TYPE_HASH', keySize: 4, valueSize: 8,
        maxEntries: 10240, keyType: '__u32', valueType: '__u64',
      }],
      sections: sections.map(([name, type, size, flags], i) => ({ index: i + 1, name, type, size, flags })),
      relocations: [
        { section: 'kprobe/sys_execve', offset: 0x20, type: 'R_BPF_64_64', symbol: 'counter_table', target: 'map counter_table' },
        { section: 'kprobe/sys_execve', offset: 0x80, type: 'R_BPF_64_64', symbol: 'counter_table', target: 'map counter_table' },
      ],
      coreRelocations: [],
      btf: {
        types: 22, kinds: { int: 5, ptr: 5, array: 3, struct: 1, typedef: 2, func: 1, func_proto: 1, var: 2, datasec: 2 },
        ext: true, funcInfo: 1, lineInfo: 11, coreRelos: 0,
      },
      license: 'GPL',
    };
    expect(report).toEqual(expected);
  });

  it('core_poison.o: the CO-RE relocations applied, and the poisoned ones with the reason', () => {
    const text = formatInspect(reportOf('core_poison'));
    const part = text.slice(text.indexOf('CO-RE relocations ('));
    expect(part).toBe(`CO-RE relocations (6, against the runtime's context BTF):
  Section  Insn  Kind            Access  Field or type                              Value
  tc          4  byte_off        0:1     struct __sk_buff___local.no_such_field     poisoned: struct __sk_buff has no such field (or its type differs)
  tc          7  byte_off        0:0     struct task_struct.pid                     poisoned: the target has no struct task_struct
  tc         16  byte_off        0:0     struct __sk_buff___short.mark              poisoned: struct __sk_buff___short.mark is 4 bytes in the target and 2 locally, and a load or store cannot follow that change (only pointers and unsigned integers can)
  xdp         1  enumval_exists  1       enum xdp_action___local::XDP_NOPE___local  1 -> 0
  xdp         4  enumval_value   1       enum xdp_action___local::XDP_NOPE___local  poisoned: enum xdp_action has no such enumerator
  xdp         7  enumval_value   1       enum xdp_action___local::XDP_NOPE___local  poisoned: enum xdp_action has no such enumerator
`);
  });

  it('uid_counter.o: the text', () => {
    expect(formatInspect(reportOf('uid_counter'))).toBe(`license: GPL
btf: 22 types (int 5, ptr 5, array 3, struct 1, typedef 2, func 1, func_proto 1, var 2, datasec 2); .BTF.ext: 1 func_info, 11 line_info, 0 CO-RE relocations

programs (1):
  0: kprobe  name hello  section kprobe/sys_execve  insns 22

maps (1):
  0: hash  name counter_table  flags 0x0
     key 4B (__u32)  value 8B (__u64)  max_entries 10240

sections:
  [Nr]  Name                    Type          Size  Flags
  [ 1]  .strtab                 STRTAB         289
  [ 2]  .text                   PROGBITS         0  AX
  [ 3]  kprobe/sys_execve       PROGBITS       176  AX
  [ 4]  .relkprobe/sys_execve   REL             32  I
  [ 5]  .maps                   PROGBITS        32  WA
  [ 6]  license                 PROGBITS         4  WA
  [ 7]  .debug_loclists         PROGBITS        58
  [ 8]  .debug_abbrev           PROGBITS       273
  [ 9]  .debug_info             PROGBITS       367
  [10]  .rel.debug_info         REL             80  I
  [11]  .debug_str_offsets      PROGBITS       124
  [12]  .rel.debug_str_offsets  REL            464  I
  [13]  .debug_str              PROGBITS       316  MS
  [14]  .debug_addr             PROGBITS        32
  [15]  .rel.debug_addr         REL             48  I
  [16]  .BTF                    PROGBITS       851
  [17]  .rel.BTF                REL             32  I
  [18]  .BTF.ext                PROGBITS       240
  [19]  .rel.BTF.ext            REL            192  I
  [20]  .debug_frame            PROGBITS        40
  [21]  .rel.debug_frame        REL             32  I
  [22]  .debug_line             PROGBITS       210
  [23]  .rel.debug_line         REL            144  I
  [24]  .debug_line_str         PROGBITS       128  MS
  [25]  .llvm_addrsig           LLVM_ADDRSIG     3  E
  [26]  .symtab                 SYMTAB         360

relocations (2):
  Section            Offset  Type         Symbol         Target
  kprobe/sys_execve  0x20    R_BPF_64_64  counter_table  map counter_table
  kprobe/sys_execve  0x80    R_BPF_64_64  counter_table  map counter_table
`);
  });

  it('global_data.o: internal maps with their variables, relocations naming them', () => {
    const report = reportOf('global_data');
    const internal = { ...mapDefaults, internal: true, readonly: false, type: 2, typeName: 'BPF_MAP_TYPE_ARRAY', keySize: 4, maxEntries: 1, flags: 0x400 };
    expect(report.maps).toEqual([
      {
        ...internal, index: 0, name: '.data', valueSize: 12, valueType: 'section .data',
        variables: [{ name: 'config', offset: 0, size: 8, type: 'struct config' }, { name: 'calls_left', offset: 8, size: 4, type: 'int' }],
      },
      {
        ...internal, index: 1, name: '.bss', valueSize: 24, valueType: 'section .bss',
        variables: [
          { name: 'packets', offset: 0, size: 8, type: '__u64' }, { name: 'bytes', offset: 8, size: 8, type: '__u64' },
          { name: 'last_bytes', offset: 16, size: 8, type: '__u8[8]' },
        ],
      },
    ]);
    expect(report.relocations.map((r) => [r.offset, r.symbol, r.target])).toEqual([
      [0x10, 'packets', '.bss+0x0 (packets)'], [0x28, 'config', '.data+0x0 (config)'], [0x70, 'bytes', '.bss+0x8 (bytes)'],
      [0x160, 'last_bytes', '.bss+0x10 (last_bytes)'], [0x178, '.data', '.data+0x8 (calls_left)'],
    ]);
    expect(formatInspect(report)).toContain(`  0: array  name .data  flags 0x400  internal
     key 4B  value 12B (section .data)  max_entries 1
     0x0    config: struct config (8B)
     0x8    calls_left: int (4B)
`);
  });

  it('rodata_config.o: read-only data, const volatile variables', () => {
    const [rodata] = reportOf('rodata_config').maps;
    expect(rodata).toMatchObject({ name: '.rodata', readonly: true, flags: 0x480 });
    expect(rodata!.variables).toEqual([
      { name: 'target_uid', offset: 0, size: 4, type: 'const volatile __u32' },
      { name: 'min_len', offset: 4, size: 4, type: 'const volatile __u32' },
      { name: 'verbose', offset: 8, size: 1, type: 'const volatile _Bool' },
      { name: 'filter.____fmt', offset: 9, size: 17, type: 'const char[17]' },
    ]);
  });

  it('tail_calls.o: prog array slots and the .maps relocations that fill them', () => {
    const report = reportOf('tail_calls');
    expect(report.programs.map((p) => [p.name, p.section, p.type, p.insns])).toEqual([
      ['hello_exec', 'raw_tracepoint/exec', 'raw_tracepoint', 6], ['hello_timer', 'raw_tracepoint/timer', 'raw_tracepoint', 17],
      ['ignore_opcode', 'raw_tracepoint/ignore', 'raw_tracepoint', 2], ['hello', 'raw_tracepoint/sys_enter', 'raw_tracepoint', 12],
    ]);
    expect(report.maps[0]).toEqual({
      ...mapDefaults, index: 0, name: 'syscall', type: 3, typeName: 'BPF_MAP_TYPE_PROG_ARRAY', keySize: 4, valueSize: 4,
      maxEntries: 300, keyType: '__u32',
      initialValues: [
        { index: 21, symbol: 'ignore_opcode' }, { index: 22, symbol: 'ignore_opcode' }, { index: 59, symbol: 'hello_exec' },
        ...[222, 223, 224, 225, 226].map((index) => ({ index, symbol: 'hello_timer' })),
      ],
    });
    const maps = report.relocations.filter((r) => r.section === '.maps');
    // The values array starts after three 8-byte attribute pointers: slot N is at 24 + 8N.
    expect(maps.map((r) => [r.offset, r.type, r.target])).toEqual([
      [24 + 21 * 8, 'R_BPF_64_ABS64', 'function ignore_opcode'], [24 + 22 * 8, 'R_BPF_64_ABS64', 'function ignore_opcode'],
      [24 + 59 * 8, 'R_BPF_64_ABS64', 'function hello_exec'],
      ...[222, 223, 224, 225, 226].map((n) => [24 + n * 8, 'R_BPF_64_ABS64', 'function hello_timer']),
    ]);
    expect(formatInspect(report)).toContain('     values: [21] ignore_opcode, [22] ignore_opcode, [59] hello_exec, [222] hello_timer,');
  });

  it('map_in_map.o: inner map definitions', () => {
    const outer = reportOf('map_in_map').maps.find((m) => m.name === 'outer_hash')!;
    const inner: InspectMap = {
      ...mapDefaults, index: -1, name: 'outer_hash.inner', type: 1, typeName: 'BPF_MAP_TYPE_HASH', keySize: 8, valueSize: 8,
      maxEntries: 16, keyType: '__u64', valueType: '__u64',
    };
    expect(outer).toEqual({
      ...mapDefaults, index: 3, name: 'outer_hash', type: 13, typeName: 'BPF_MAP_TYPE_HASH_OF_MAPS', keySize: 4, valueSize: 4,
      maxEntries: 8, keyType: '__u32', innerMap: inner, initialValues: [],
    });
    expect(formatInspect(reportOf('map_in_map'))).toContain(`  3: hash_of_maps  name outer_hash  flags 0x0
     key 4B (__u32)  value 4B  max_entries 8
     inner: hash  name outer_hash.inner  flags 0x0
        key 8B (__u64)  value 8B (__u64)  max_entries 16
`);
  });

  it('loop_callback.o: a linked subprogram and a function reference', () => {
    const report = reportOf('loop_callback');
    expect(report.programs[0]!.functions).toEqual([
      { name: 'sum_squares', section: 'xdp', pc: 0, length: 28 }, { name: 'square_step', section: '.text', pc: 28, length: 11 },
    ]);
    expect(report.relocations[0]).toEqual({ section: 'xdp', offset: 0x78, type: 'R_BPF_64_64', symbol: '.text', target: 'function square_step' });
    expect(formatInspect(report)).toContain('     functions: sum_squares@0, square_step@28 (.text)\n');
  });

  it('bpf_calls.o: calls resolved to their function names', () => {
    const calls = reportOf('bpf_calls').relocations.filter((r) => r.type === 'R_BPF_64_32');
    expect(calls.length).toBeGreaterThan(0);
    for (const r of calls) expect(r.target).toMatch(/^function (checksum|fold|clamp)$/);
  });

  it('string_literals.o: relocations into a string section show the string', () => {
    expect(reportOf('string_literals').relocations.map((r) => r.target)).toEqual([
      '.rodata.str1.1+0x0 "even length %d\\n"', '.rodata.str1.1+0x10 "odd length %d\\n"',
    ]);
  });

  it('map_options.o: pinning, NUMA node and map_extra', () => {
    const report = reportOf('map_options');
    expect(report.maps.map((m) => [m.name, m.typeName, m.flags, m.pinning, m.numaNode, m.mapExtra, m.keyType, m.valueType])).toEqual([
      ['seen', 'BPF_MAP_TYPE_BLOOM_FILTER', 0, 0, 0, 3, undefined, '__u32'],
      ['flows', 'BPF_MAP_TYPE_LRU_HASH', 4, 1, 1, 0, 'struct flow_key', 'flow_stats_t'],
      ['scratch', 'BPF_MAP_TYPE_PERCPU_HASH', 0x81, 0, 0, 0, undefined, undefined],
    ]);
    const text = formatInspect(report);
    expect(text).toContain('  1: lru_hash  name flows  flags 0x4  pinning 1\n     key 16B (struct flow_key)  value 16B (flow_stats_t)  max_entries 4096  numa_node 1\n');
    expect(text).toContain('     key 0B  value 4B (__u32)  max_entries 1000  map_extra 3\n');
  });

  it('an object without BTF has no btf summary', () => {
    // string_literals.o with its .BTF and .BTF.ext sections renamed (.XTF, .XTF.ext) in the section names.
    const bytes = repoBytes('test-programs/c/string_literals.o');
    const names = parseElf(bytes).sectionByName('.strtab')!;
    const text = new TextDecoder('latin1').decode(names.data());
    for (let at = text.indexOf('.BTF'); at >= 0; at = text.indexOf('.BTF', at + 1)) bytes[names.offset + at + 1] = 0x58;
    expect(parseElf(bytes).sectionByName('.BTF')).toBeUndefined();
    const report = inspectObject(bytes);
    expect(report.btf).toBeUndefined();
    expect(report.programs.map((p) => p.name)).toEqual(['describe']);
    expect(report.maps.map((m) => [m.name, m.variables])).toEqual([['.rodata.str1.1', []]]);
    expect(formatInspect(report)).toContain('btf: none\n');
  });

  it.each(OBJECTS)('%s: the report is plain data (JSON round trip) and agrees with the loader', (rel) => {
    const bytes = repoBytes(rel);
    const report = inspectObject(bytes);
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
    const spec = loadObjectSpec(bytes);
    expect(report.programs.map((p) => p.name)).toEqual(spec.programs.map((p) => p.name));
    expect(report.maps.map((m) => m.name)).toEqual(spec.maps.map((m) => m.name));
    expect(report.sections.length).toBe(parseElf(bytes).sections.length - 1);
    expect(formatInspect(report).endsWith('\n')).toBe(true);
  });
});

describe('cTypeName', () => {
  it('spells types as C does, anonymous ones as {...}', () => {
    const btf = loadObjectSpec(repoBytes('test-programs/c/ringbuf_hello.o')).btf!;
    const output = btf.typeByName('output', 'var')!;
    expect(cTypeName(btf, output.type)).toBe('struct {...}');
    const rodata = loadObjectSpec(repoBytes('test-programs/c/rodata_config.o')).btf!;
    expect(cTypeName(rodata, rodata.typeByName('min_len', 'var')!.type)).toBe('const volatile __u32');
    expect(cTypeName(rodata, rodata.typeByName('__sk_buff', 'struct')!.id)).toBe('struct __sk_buff');
  });
});

describe('malformed objects give typed errors', () => {
  const good = repoBytes('test-programs/c/uid_counter.o');

  it('empty and truncated input', () => {
    expect(typedError(() => inspectObject(new Uint8Array(0)))).toMatchObject({ code: ErrorCode.BadElf });
    expect(typedError(() => inspectObject(good.subarray(0, 100)))).toBeInstanceOf(ElfError);
    expect(typedError(() => inspectObject(new TextEncoder().encode('mov %r0, 1\nexit\n')))).toMatchObject({ code: ErrorCode.BadElf });
  });

  it('a corrupted .BTF magic number points at .BTF', () => {
    const btf = parseElf(good).sectionByName('.BTF')!;
    const bad = good.slice();
    bad[btf.offset] = 0;
    const err = typedError(() => inspectObject(bad));
    expect(err).toBeInstanceOf(ElfError);
    expect(err.code).toBe(ErrorCode.BadElf);
    expect(err.location).toMatchObject({ section: '.BTF', offset: 0 });
  });

  it('random bytes and random corruptions of a real object: a report or a typed error, nothing else', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
      typedError(() => inspectObject(bytes));
    }), { numRuns: 100 });
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat({ max: good.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), (edits) => {
      const bytes = good.slice();
      for (const [at, value] of edits) bytes[at] = value;
      try {
        const report = inspectObject(bytes);
        formatInspect(report);
        JSON.stringify(report);
      } catch (e) {
        expect(e).toBeInstanceOf(Bpf2WasmError);
      }
    }), { numRuns: 300 });
  });
});
