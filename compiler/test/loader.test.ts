import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { repoBytes } from '../../test/support/fixtures.js';
import { instantiate } from '../../runtime/instance.js';
import { ErrorCode } from '../../runtime/errors.js';
import { buildCfg } from '../../runtime/isa/cfg.js';
import { decodeProgram } from '../../runtime/isa/decode.js';
import type { Insn, LddwInsn } from '../../runtime/isa/insn.js';
import { BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, MapType as BpfMapType } from '../../runtime/uapi/index.js';
import { compile } from '../compile.js';
import {
  LddwSource, isDataSectionName, loadObjectSpec, programTypeOfSection,
  type MapSpec, type ObjectSpec, type ProgramSpec,
} from '../elf/loader.js';
import { E_BAD_ELF, ElfError, parseElf, SectionType } from '../elf/elf64.js';

const read = (dir: string, name: string): Uint8Array => repoBytes(`test-programs/${dir}/${name}`);
const object = (name: string): Uint8Array => read('c', `${name}.o`);
const load = (name: string): ObjectSpec => loadObjectSpec(object(name));

const OBJECTS = [
  'bpf_calls', 'core_read', 'custom_helpers', 'global_data', 'legacy_maps', 'loop_callback', 'lpm_blocklist',
  'map_in_map', 'map_options', 'perfbuf_hello', 'printk', 'ringbuf_hello', 'rodata_config', 'socket_filter',
  'string_literals', 'tail_calls', 'uid_counter', 'xdp_counter', 'xdp_drop_icmp',
];

function program(spec: ObjectSpec, name: string): ProgramSpec {
  const p = spec.programs.find((q) => q.name === name);
  if (!p) throw new Error(`no program ${name}`);
  return p;
}

function insnsOf(p: ProgramSpec): Insn[] {
  return decodeProgram(p.insns).insns;
}

function lddws(p: ProgramSpec, src?: number): LddwInsn[] {
  return insnsOf(p).filter((i): i is LddwInsn => i.kind === 'lddw' && (src === undefined ? i.src !== 0 : i.src === src));
}

/** The maps (by name) a program references through lddw src 1. */
function mapRefs(spec: ObjectSpec, p: ProgramSpec): string[] {
  return [...new Set(lddws(p, LddwSource.MAP_FD).map((i) => spec.maps[i.imm]!.name))].sort();
}

/** `<section>+<offset>` of each lddw src 2 of a program, in order. */
function dataRefs(spec: ObjectSpec, p: ProgramSpec): string[] {
  return lddws(p, LddwSource.MAP_VALUE).map((i) => `${spec.maps[i.imm]!.section}+${i.imm2}`);
}

function cString(data: Uint8Array, offset: number): string {
  const end = data.indexOf(0, offset);
  return new TextDecoder().decode(data.subarray(offset, end));
}

function internal(spec: ObjectSpec, section: string): MapSpec {
  const m = spec.maps.find((q) => q.internal && q.section === section);
  if (!m) throw new Error(`no internal map for ${section}`);
  return m;
}

describe('programs', () => {
  it('finds every program with its section and type', () => {
    const summary = Object.fromEntries(OBJECTS.map((name) => [name, load(name).programs.map((p) => `${p.name} ${p.section} ${p.type}`)]));
    expect(summary).toEqual({
      bpf_calls: ['classify tc tc'],
      core_read: ['parent_tgid kprobe/do_exit kprobe'],
      custom_helpers: ['use_custom_helpers xdp xdp'],
      global_data: ['track xdp xdp'],
      legacy_maps: ['count_legacy socket socket'],
      loop_callback: ['sum_squares xdp xdp'],
      lpm_blocklist: ['xdp_blocklist xdp xdp'],
      map_in_map: ['lookup_nested xdp xdp'],
      map_options: ['account tc tc'],
      perfbuf_hello: ['hello kprobe/sys_execve kprobe'],
      printk: ['hello xdp xdp'],
      ringbuf_hello: ['hello kprobe/sys_execve kprobe'],
      rodata_config: ['filter socket socket'],
      socket_filter: ['ssh_filter socket socket'],
      string_literals: ['describe socket socket'],
      tail_calls: [
        'hello_exec raw_tracepoint/exec raw_tracepoint', 'hello_timer raw_tracepoint/timer raw_tracepoint',
        'ignore_opcode raw_tracepoint/ignore raw_tracepoint', 'hello raw_tracepoint/sys_enter raw_tracepoint',
      ],
      uid_counter: ['hello kprobe/sys_execve kprobe'],
      xdp_counter: ['count_packets xdp xdp'],
      xdp_drop_icmp: ['xdp_drop_icmp xdp xdp'],
    });
  });

  it('derives program types from section names as libbpf does', () => {
    const cases: [string, string][] = [
      ['xdp', 'xdp'], ['xdp.frags', 'xdp'], ['xdp/devmap', 'xdp'], ['socket', 'socket'], ['socket/1', 'socket'],
      ['tc', 'tc'], ['tc/ingress', 'tc'], ['classifier', 'tc'], ['classifier/egress', 'tc'], ['tcx/ingress', 'tc'],
      ['kprobe/sys_execve', 'kprobe'], ['kretprobe/do_exit', 'kprobe'], ['uprobe/bin:func', 'uprobe'],
      ['uretprobe//lib/libc.so.6:malloc', 'uprobe'], ['tracepoint/syscalls/sys_enter_open', 'tracepoint'],
      ['tp/sched/sched_switch', 'tracepoint'], ['raw_tracepoint/sys_enter', 'raw_tracepoint'], ['raw_tp/x', 'raw_tracepoint'],
      ['perf_event', 'perf_event'], ['fentry/do_exit', 'tracing'], ['cgroup/skb', 'cgroup_skb'], ['cgroup/connect4', 'cgroup'],
      ['xdpfoo', 'unknown'], ['tcp', 'unknown'], ['my_section', 'unknown'], ['', 'unknown'],
    ];
    for (const [section, type] of cases) expect([section, programTypeOfSection(section)]).toEqual([section, type]);
  });

  it('reads the license', () => {
    expect(load('xdp_counter').license).toBe('Dual MIT/GPL');
    expect(load('socket_filter').license).toBe('GPL');
  });

  it.each(OBJECTS)('%s: linked programs decode and pass buildCfg, every call landing on a function start', (name) => {
    const spec = load(name);
    for (const p of spec.programs) {
      expect(p.insns.length % 8).toBe(0);
      const prog = decodeProgram(p.insns);
      const starts = new Set(p.functions.map((f) => f.pc));
      expect(p.functions[0]).toMatchObject({ name: p.name, section: p.section, pc: 0 });
      expect(p.functions.reduce((n, f) => n + f.length, 0)).toBe(prog.slotCount);
      const callbacks: number[] = [];
      for (const insn of prog.insns) {
        if (insn.kind === 'call_local') expect(starts.has(insn.target)).toBe(true);
        if (insn.kind === 'lddw' && insn.src === LddwSource.FUNC) {
          const target = insn.pc + insn.imm + 1;
          expect(starts.has(target)).toBe(true);
          callbacks.push(target);
        }
        if (insn.kind === 'lddw' && (insn.src === LddwSource.MAP_FD || insn.src === LddwSource.MAP_VALUE)) {
          expect(spec.maps[insn.imm]).toBeDefined();
        }
      }
      const cfg = buildCfg(prog, [0, ...callbacks]);
      // Every linked function is reachable: nothing is appended that the program does not use.
      expect(cfg.functions.map((f) => f.startPc)).toEqual([...starts].sort((a, b) => a - b));
    }
  });
});

describe('bpf-to-bpf calls', () => {
  it('bpf_calls: appends the .text callees and rewrites the call offsets', () => {
    const p = program(load('bpf_calls'), 'classify');
    expect(p.functions.map((f) => `${f.name}@${f.section}`)).toEqual(['classify@tc', 'checksum@.text', 'clamp@.text', 'fold@.text']);
    const pcOf = (n: string): number => p.functions.find((f) => f.name === n)!.pc;
    const calls = insnsOf(p).filter((i) => i.kind === 'call_local');
    const named = calls.map((c) => p.functions.find((f) => f.pc === (c as { target: number }).target)!.name);
    // classify: checksum, clamp, fold, clamp; checksum: fold.
    expect(named).toEqual(['checksum', 'clamp', 'fold', 'clamp', 'fold']);
    expect((calls[0] as { target: number }).target).toBe(pcOf('checksum'));
    // The last call is inside checksum and reaches fold: three frames deep.
    const last = calls[calls.length - 1]!;
    expect(last.pc).toBeGreaterThanOrEqual(pcOf('checksum'));
    expect(last.pc).toBeLessThan(pcOf('clamp'));
    // Everything else is untouched: helper calls stay helper calls.
    expect(insnsOf(p).filter((i) => i.kind === 'call').map((i) => (i as { helper: number }).helper)).toEqual([26]);
  });

  it('loop_callback: the callback becomes an lddw src 4 to square_step', () => {
    const spec = load('loop_callback');
    const p = program(spec, 'sum_squares');
    expect(p.functions.map((f) => f.name)).toEqual(['sum_squares', 'square_step']);
    const refs = lddws(p, LddwSource.FUNC);
    expect(refs).toHaveLength(1);
    const ref = refs[0]!;
    expect(ref.pc + ref.imm + 1).toBe(p.functions[1]!.pc);
    expect(ref.imm2).toBe(0);
    expect(insnsOf(p).filter((i) => i.kind === 'call').map((i) => (i as { helper: number }).helper)).toEqual([181]);
    // The callback starts with its own first instruction (the object's .text offset 0).
    const text = parseElf(object('loop_callback')).sectionByName('.text')!.data();
    expect(p.insns.subarray(p.functions[1]!.pc * 8, p.functions[1]!.pc * 8 + text.length)).toEqual(text);
  });
});

describe('maps', () => {
  it('rewrites map references to lddw src 1 with the map index', () => {
    const cases: [string, string, string[]][] = [
      ['xdp_counter', 'count_packets', ['pkt_count']],
      ['socket_filter', 'ssh_filter', ['proto_count']],
      ['uid_counter', 'hello', ['counter_table']],
      ['legacy_maps', 'count_legacy', ['legacy_array', 'legacy_counts']],
      ['map_in_map', 'lookup_nested', ['outer', 'outer_hash']],
      ['map_options', 'account', ['flows', 'seen']],
      ['lpm_blocklist', 'xdp_blocklist', ['blocklist']],
      ['ringbuf_hello', 'hello', ['output']],
      ['perfbuf_hello', 'hello', ['output']],
      ['core_read', 'parent_tgid', ['last']],
      ['tail_calls', 'hello', ['syscall']],
    ];
    for (const [obj, prog, maps] of cases) {
      const spec = load(obj);
      expect([obj, mapRefs(spec, program(spec, prog))]).toEqual([obj, maps]);
      spec.maps.forEach((m, i) => expect(m.index).toBe(i));
      for (const i of lddws(program(spec, prog), LddwSource.MAP_FD)) expect(i.imm2).toBe(0);
    }
  });

  it('keeps the map definitions and adds an index', () => {
    const spec = load('legacy_maps');
    expect(spec.maps.map((m) => [m.index, m.name, m.type, m.keySize, m.valueSize, m.maxEntries, m.flags, m.internal ?? false])).toEqual([
      [0, 'legacy_counts', BpfMapType.HASH, 4, 8, 64, 1, false],
      [1, 'legacy_array', BpfMapType.ARRAY, 4, 4, 16, 0, false],
    ]);
    const tail = load('tail_calls').maps.find((m) => m.name === 'syscall')!;
    expect(tail.initialValues?.find((v) => v.index === 59)?.symbol).toBe('hello_exec');
  });
});

describe('global data', () => {
  it('global_data: .data and .bss become internal maps, referenced by section and offset', () => {
    const spec = load('global_data');
    const data = internal(spec, '.data');
    const bss = internal(spec, '.bss');
    expect(data).toMatchObject({
      name: '.data', type: BpfMapType.ARRAY, keySize: 4, valueSize: 12, maxEntries: 1, internal: true, readonly: false,
      flags: BPF_F_MMAPABLE,
    });
    expect(bss).toMatchObject({ name: '.bss', valueSize: 24, readonly: false });
    expect(bss.initialData).toEqual(new Uint8Array(24));
    const view = new DataView(data.initialData!.buffer, data.initialData!.byteOffset);
    expect([view.getUint32(0, true), view.getUint32(4, true), view.getInt32(8, true)]).toEqual([2, 1000, 3]);
    expect(data.variables!.map((v) => [v.name, v.offset, v.size])).toEqual([['config', 0, 8], ['calls_left', 8, 4]]);
    expect(bss.variables!.map((v) => [v.name, v.offset, v.size])).toEqual([['packets', 0, 8], ['bytes', 8, 8], ['last_bytes', 16, 8]]);
    // Every variable is referenced at its own offset.
    const refs = new Set(dataRefs(spec, program(spec, 'track')));
    expect([...refs].sort()).toEqual(['.bss+0', '.bss+16', '.bss+8', '.data+0', '.data+8']);
  });

  it('rodata_config: .rodata is a read-only internal map and each const volatile is loaded from its offset', () => {
    const spec = load('rodata_config');
    const rodata = internal(spec, '.rodata');
    expect(rodata).toMatchObject({ readonly: true, flags: BPF_F_MMAPABLE | BPF_F_RDONLY_PROG });
    const byName = new Map(rodata.variables!.map((v) => [v.name, v.offset]));
    expect([byName.get('target_uid'), byName.get('min_len'), byName.get('verbose')]).toEqual([0, 4, 8]);
    const view = new DataView(rodata.initialData!.buffer, rodata.initialData!.byteOffset);
    expect(view.getUint32(4, true)).toBe(64);
    expect(dataRefs(spec, program(spec, 'filter'))).toEqual([
      '.rodata+0', '.rodata+4', '.rodata+8', `.rodata+${byName.get('filter.____fmt')}`,
    ]);
    expect(cString(rodata.initialData!, byName.get('filter.____fmt')!)).toBe('short packet: %u');
  });

  it('string_literals: the lddw offsets point at the literals in .rodata.str1.1', () => {
    const spec = load('string_literals');
    const strings = internal(spec, '.rodata.str1.1');
    expect(strings.readonly).toBe(true);
    const literals = lddws(program(spec, 'describe'), LddwSource.MAP_VALUE).map((i) => {
      expect(spec.maps[i.imm]).toBe(strings);
      return cString(strings.initialData!, i.imm2);
    });
    expect(literals.sort()).toEqual(['even length %d\n', 'odd length %d\n']);
  });

  it('printk and tail_calls: format strings in .rodata, counters in .bss', () => {
    const printk = load('printk');
    const rodata = internal(printk, '.rodata');
    const formats = lddws(program(printk, 'hello'), LddwSource.MAP_VALUE)
      .filter((i) => printk.maps[i.imm] === rodata).map((i) => cString(rodata.initialData!, i.imm2));
    expect(formats).toEqual(['Helloworld %d', 'no arguments', 'args %d %d %d %d']);
    expect(dataRefs(printk, program(printk, 'hello'))[0]).toBe('.bss+0');

    const tail = load('tail_calls');
    const ro = internal(tail, '.rodata');
    const fmt = (name: string): string[] => lddws(program(tail, name), LddwSource.MAP_VALUE).map((i) => cString(ro.initialData!, i.imm2));
    expect(fmt('hello_exec')).toEqual(['execve syscall']);
    expect(fmt('hello_timer')).toEqual(['Create a timer', 'Delete a timer', 'Some other timer operation']);
    expect(fmt('hello')).toEqual(['Another syscall: %d']);
  });

  it('names the data sections libbpf turns into maps', () => {
    for (const n of ['.data', '.rodata', '.bss', '.rodata.str1.1', '.data.rel', '.rodata.cst16', '.bss.x']) expect(isDataSectionName(n)).toBe(true);
    for (const n of ['.datax', 'data', '.text', '.maps', 'license', '.rodatafoo']) expect(isDataSectionName(n)).toBe(false);
  });
});

describe('running linked programs', () => {
  const spec = loadObjectSpec(read('loader', 'linked.o'));

  it('links only what each program reaches', () => {
    expect(spec.programs.map((p) => [p.name, p.section, p.type, p.functions.map((f) => f.name)])).toEqual([
      ['entry', 'xdp', 'xdp', ['entry', 'add_squares', 'square']],
      ['other', 'socket', 'socket', ['other', 'square']],
    ]);
    expect(spec.maps).toEqual([]);
    expect(spec.license).toBe('GPL');
  });

  it('compiles and runs each program with the right r0', async () => {
    for (const p of spec.programs) {
      const { wasm } = await compile(p.insns, { entries: [{ name: p.name, pc: 0, type: p.type, section: p.section }] });
      const inst = await instantiate(wasm);
      if (p.name === 'entry') {
        expect(inst.run(Uint8Array.from([3, 4, 9]))).toBe(3n * 3n + 4n * 4n + 3n * 3n);
        expect(inst.run(Uint8Array.from([7]))).toBe(0n);
      } else {
        expect(inst.run(Uint8Array.from([1, 2, 3, 4]))).toBe(25n);
      }
    }
  });
});

describe('running committed clang objects', () => {
  it('bpf_calls: classify runs through its linked .text callees (bpf_skb_load_bytes from JS)', async () => {
    const p = program(load('bpf_calls'), 'classify');
    const { wasm } = await compile(p.insns, { entries: [{ name: p.name, pc: 0, type: p.type, section: p.section }] });
    // The context: a __sk_buff whose `len` (offset 0) the program reads; the packet follows it.
    const PACKET = 64;
    let memory: WebAssembly.Memory | undefined;
    const skbLoadBytes = {
      id: 26,
      fn: (skb: bigint, offset: bigint, to: bigint, len: bigint): bigint => {
        const mem = new Uint8Array(memory!.buffer);
        const skbLen = new DataView(memory!.buffer).getUint32(Number(skb), true);
        if (offset + len > BigInt(skbLen)) return -14n;
        mem.copyWithin(Number(to), Number(skb) + PACKET + Number(offset), Number(skb) + PACKET + Number(offset + len));
        return 0n;
      },
    };
    const inst = await instantiate(wasm, { helpers: [skbLoadBytes] });
    memory = inst.memory;
    const ctx = (packet: number[]): Uint8Array => {
      const mem = new Uint8Array(PACKET + packet.length);
      new DataView(mem.buffer).setUint32(0, packet.length, true);
      mem.set(packet, PACKET);
      return mem;
    };
    const fold = (s: number): number => {
      s = (s & 0xffff) + (s >>> 16);
      return (s & 0xffff) + (s >>> 16);
    };
    const clamp = (v: number, lo: number, hi: number): number => Math.min(Math.max(v, lo), hi);
    const packet = Array.from({ length: 20 }, (_, i) => i + 1);
    let sum = 0;
    for (let i = 0; i < 20; i += 2) sum += (packet[i]! << 8) | packet[i + 1]!;
    expect(inst.run(ctx(packet))).toBe(BigInt(clamp(fold(sum), 0, 0xfff0) + clamp(fold(20), 1, 100)));
    // Shorter than 20 bytes: checksum returns -1 and classify 0.
    expect(inst.run(ctx([1, 2, 3]))).toBe(0n);
  });

  it('tail_calls: ignore_opcode (no maps, no helpers) returns 0', async () => {
    const p = program(load('tail_calls'), 'ignore_opcode');
    const { wasm } = await compile(p.insns, { entries: [{ name: p.name, pc: 0, type: p.type, section: p.section }] });
    const inst = await instantiate(wasm);
    expect(inst.run(new Uint8Array(16))).toBe(0n);
  });
});

// ---------------------------------------------------------------------------------------------
// Errors

/** Catches what loadObjectSpec throws. */
function loadError(bytes: Uint8Array): ElfError {
  try {
    loadObjectSpec(bytes);
  } catch (e) {
    if (e instanceof ElfError) return e;
    throw e;
  }
  throw new Error('loadObjectSpec did not fail');
}

/** Byte offset in the file of relocation `i` of the REL section that patches `target`. */
function relocationEntry(bytes: Uint8Array, target: string, i: number): number {
  const elf = parseElf(bytes);
  const patched = elf.sectionByName(target)!;
  const rel = elf.sections.find((s) => s.type === SectionType.REL && s.info === patched.index)!;
  return rel.offset + 16 * i;
}

describe('errors', () => {
  it('turns calls to extern functions into kfunc calls (src_reg 2, imm = index in spec.kfuncs)', () => {
    const bytes = object('bpf_calls');
    const elf = parseElf(bytes);
    const symtab = elf.sections.find((s) => s.type === SectionType.SYMTAB)!;
    const checksum = elf.symbolByName('checksum')!;
    // Make `checksum` undefined (st_shndx = SHN_UNDEF), as an extern __ksym function is.
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    view.setUint16(symtab.offset + 24 * checksum.index + 6, 0, true);
    const spec = loadObjectSpec(bytes);
    expect(spec.kfuncs.map((k) => k.name)).toEqual(['checksum']);
    const insns = spec.programs.find((p) => p.name === 'classify')!.insns;
    // The call at instruction 1 of classify.
    expect([insns[8], insns[9]! >> 4, insns[12]]).toEqual([0x85, 2, 0]);
  });

  it('rejects a relocation on an instruction that is neither lddw nor call', () => {
    const bytes = object('xdp_counter');
    const entry = relocationEntry(bytes, 'xdp', 0);
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    // Instruction 0 of count_packets is `r1 = 0` (a mov).
    expect(bytes[parseElf(bytes).sectionByName('xdp')!.offset]).not.toBe(0x18);
    view.setBigUint64(entry, 0n, true);
    const e = loadError(bytes);
    expect(e.code).toBe(E_BAD_ELF);
    expect(e.location).toMatchObject({ section: 'xdp', offset: 0 });
    expect(e.detail).toMatch(/only lddw and call/);
    expect(e.detail).toContain('pkt_count');
  });

  it('rejects unknown relocation types', () => {
    const bytes = object('xdp_counter');
    const entry = relocationEntry(bytes, 'xdp', 0);
    bytes[entry + 8] = 7; // r_info's type byte (little-endian)
    const e = loadError(bytes);
    expect(e.code).toBe(E_BAD_ELF);
    expect(e.detail).toMatch(/type 7.*pkt_count.*expected R_BPF_64_64/);
  });

  it('rejects a map reference to an offset of .maps where no map is defined', () => {
    const bytes = object('xdp_counter');
    const elf = parseElf(bytes);
    const symtab = elf.sections.find((s) => s.type === SectionType.SYMTAB)!;
    const sym = elf.symbolByName('pkt_count')!;
    new DataView(bytes.buffer, bytes.byteOffset).setBigUint64(symtab.offset + 24 * sym.index + 8, 8n, true);
    const e = loadError(bytes);
    expect(e.code).toBe(E_BAD_ELF);
    expect(e.detail).toMatch(/pkt_count/);
  });

  it('rejects a bpf-to-bpf call out of range', () => {
    const bytes = read('loader', 'linked.o');
    const socket = parseElf(bytes).sectionByName('socket')!;
    // `other`'s call at instruction 2 (pc-relative to .text via its relocation): aim far away.
    new DataView(bytes.buffer, bytes.byteOffset).setInt32(socket.offset + 2 * 8 + 4, 1000, true);
    const e = loadError(bytes);
    expect(e.code).toBe(E_BAD_ELF);
    expect(e.location).toMatchObject({ section: 'socket', offset: 16, program: 'other' });
    expect(e.detail).toMatch(/outside its 10 instructions/);
  });

  const inputs = [...OBJECTS.map((n) => object(n)), read('loader', 'linked.o')];

  it('gives only ElfError for truncated objects', () => {
    fc.assert(
      fc.property(fc.nat(inputs.length - 1), fc.double({ min: 0, max: 1, noNaN: true }), (which, frac) => {
        const bytes = inputs[which]!;
        const cut = bytes.slice(0, Math.floor(bytes.length * frac));
        try {
          loadObjectSpec(cut);
        } catch (e) {
          expect(e).toBeInstanceOf(ElfError);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('gives only ElfError (or a spec) for mutated objects', () => {
    fc.assert(
      fc.property(
        fc.nat(inputs.length - 1),
        fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), fc.nat(255)), { minLength: 1, maxLength: 8 }),
        (which, edits) => {
          const bytes = inputs[which]!.slice();
          for (const [at, value] of edits) bytes[Math.floor(at * bytes.length)] = value;
          try {
            const spec = loadObjectSpec(bytes);
            for (const p of spec.programs) expect(p.insns.length % 8).toBe(0);
          } catch (e) {
            if (!(e instanceof ElfError)) throw e;
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('mutating the code and relocation sections gives only ElfError (or a spec)', () => {
    // Aim the mutations at what the loader itself interprets: instructions, symbols, relocations.
    fc.assert(
      fc.property(fc.nat(inputs.length - 1), fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 4 }), (which, edits) => {
        const bytes = inputs[which]!.slice();
        const elf = parseElf(bytes);
        const targets = elf.sections.filter((s) => s.size > 0 && s.type !== SectionType.NOBITS &&
          (s.type === SectionType.REL || s.type === SectionType.SYMTAB || (s.flags & 0x4) !== 0));
        for (const [n, value] of edits) {
          const s = targets[n % targets.length]!;
          bytes[s.offset + (Math.floor(n / targets.length) % s.size)] = value;
        }
        try {
          loadObjectSpec(bytes);
        } catch (e) {
          if (!(e instanceof ElfError)) throw e;
        }
      }),
      { numRuns: 400 },
    );
  });
});
