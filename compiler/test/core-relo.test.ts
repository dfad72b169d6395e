/**
 * CO-RE relocations against the runtime's context BTF (compiler/btf/core.ts, context-btf.ts,
 * compiler/elf/core-patch.ts): the target BTF agrees with the runtime's layout tables, flavour
 * names, and malformed relocation records (E_BAD_ELF at the record in `.BTF.ext`). The programs
 * that use CO-RE run in compiler/test/programs.test.ts (core_ctx, core_poison, core_read,
 * kprobe_args) and
 * against the kernel in runtime/test/kernel-oracle.test.ts.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { thrownBy } from '../../test/support/thrown.js';
import { cObject } from '../../test/support/fixtures.js';
import { ErrorCode } from '../../runtime/errors.js';
import { SkBuff, XdpMd } from '../../runtime/packet/layout.js';
import { BpfSock } from '../../runtime/packet/sockets.js';
import { FibParams } from '../../runtime/packet/fib.js';
import { PtRegs } from '../../runtime/uapi/index.js';
import { contextBtf } from '../btf/context-btf.js';
import { essentialName, resolveCoreRelo } from '../btf/core.js';
import { BpfCoreReloKind, type BtfCoreRelo } from '../btf/ext.js';
import { parseBtf, type Btf } from '../btf/types.js';
import { readElfBtf } from '../elf/btf-sections.js';
import { ElfError, parseElf } from '../elf/elf64.js';
import { applyCoreRelos } from '../elf/core-patch.js';

const local = (): Btf => readElfBtf(parseElf(cObject('core_ctx'))).btf!;
const idOf = (btf: Btf, name: string): number => btf.typesByName(name)[0]!.id;

/** A relocation record as ext.ts parses one. */
function relo(typeId: number, accessString: string, kind: number, insn = 0, recordOffset = 100): BtfCoreRelo {
  return { insnOffset: insn * 8, insn, typeId, accessString, access: accessString.split(':').map(Number), kind, recordOffset };
}

/** Instruction slots from [opcode, regs, off, imm] tuples. */
function insns(...slots: [number, number, number, number][]): Uint8Array {
  const out = new Uint8Array(slots.length * 8);
  const v = new DataView(out.buffer);
  slots.forEach(([op, regs, off, imm], i) => {
    out[i * 8] = op;
    out[i * 8 + 1] = regs;
    v.setInt16(i * 8 + 2, off, true);
    v.setInt32(i * 8 + 4, imm, true);
  });
  return out;
}

const LDXW = 0x61;
const MOV64_K = 0xb7;
const MOV64_X = 0xbf;
const JEQ_K = 0x15;

describe('the context BTF', () => {
  it('lays the contexts out as the runtime does (field by field)', () => {
    const target = contextBtf();
    const offsetOf = (struct: string, path: string): number => {
      const id = idOf(target, struct);
      const t = target.type(id);
      if (t.kind !== 'struct') throw new Error(struct);
      // Resolve through resolveCoreRelo, which walks anonymous unions the way libbpf does.
      const m = t.members.findIndex((x) => x.name === path);
      expect(m, `${struct}.${path}`).toBeGreaterThanOrEqual(0);
      return t.members[m]!.bitOffset / 8;
    };
    for (const [name, off] of Object.entries(XdpMd)) if (name !== 'SIZE') expect(offsetOf('xdp_md', name), name).toBe(off);
    for (const [name, off] of Object.entries(BpfSock)) if (name !== 'SIZE') expect(offsetOf('bpf_sock', name), name).toBe(off);
    for (const [name, off] of Object.entries(SkBuff)) {
      if (name === 'SIZE' || name === 'flow_keys' || name === 'sk') continue;
      expect(offsetOf('__sk_buff', name), name).toBe(off);
    }
    expect(target.sizeOf(idOf(target, '__sk_buff'))).toBe(SkBuff.SIZE);
    expect(target.sizeOf(idOf(target, 'xdp_md'))).toBe(XdpMd.SIZE);
    expect(target.sizeOf(idOf(target, 'bpf_sock'))).toBe(BpfSock.SIZE);
    expect(target.sizeOf(idOf(target, 'bpf_fib_lookup'))).toBe(FibParams.SIZE);
    expect(target.sizeOf(idOf(target, 'bpf_sock_tuple'))).toBe(36);
    expect(target.sizeOf(idOf(target, 'bpf_flow_keys'))).toBe(56);
  });

  it("presents x86-64's struct pt_regs as runtime/uapi/tracing.ts lays it out, and as this host's vmlinux BTF does", () => {
    const target = contextBtf();
    const layoutOf = (btf: Btf): [string, number][] => {
      const t = btf.type(idOf(btf, 'pt_regs'));
      if (t.kind !== 'struct') throw new Error('pt_regs');
      return [...t.members.map((m): [string, number] => [m.name, m.bitOffset / 8]), ['SIZE', t.size]];
    };
    const table = Object.entries(PtRegs);
    expect(layoutOf(target)).toEqual(table);
    let vmlinux: Uint8Array | undefined;
    try {
      vmlinux = readFileSync('/sys/kernel/btf/vmlinux');
    } catch {
      console.warn('core-relo.test: /sys/kernel/btf/vmlinux is not readable; pt_regs not compared with the kernel');
    }
    if (!vmlinux || process.arch !== 'x64') return;
    // The kernel's cs and ss words are anonymous unions on recent kernels: compare by offset.
    const kernel = layoutOf(parseBtf(vmlinux, {}));
    expect(kernel.map(([, off]) => off)).toEqual(table.map(([, off]) => off));
    expect(kernel.filter(([name]) => name !== '')).toEqual(table.filter(([name]) => name !== 'cs' && name !== 'ss'));
  });

  it('members inside anonymous unions resolve to the layout tables (sk, flow_keys, fib fields)', () => {
    const btf = local();
    const target = contextBtf();
    const sk = resolveCoreRelo(btf, target, relo(idOf(btf, '__sk_buff___local'), '0:3', BpfCoreReloKind.FIELD_BYTE_OFFSET));
    expect([sk.newVal, sk.newSize]).toEqual([BigInt(SkBuff.sk), 8]);
  });

  it('essential names drop one ___flavor suffix, as libbpf', () => {
    expect(essentialName('__sk_buff___local')).toBe('__sk_buff');
    expect(essentialName('xdp_md___a___b')).toBe('xdp_md___a');
    expect(essentialName('__sk_buff')).toBe('__sk_buff');
    expect(essentialName('a____b')).toBe('a____b');
    expect(essentialName('XDP_PASS___v2')).toBe('XDP_PASS');
  });
});

describe('type relocations', () => {
  it('type id (local and target), existence, size and match; a missing type gives 0, never a poison', () => {
    const btf = local();
    const target = contextBtf();
    const sock = idOf(btf, 'bpf_sock___local');
    const r = (typeId: number, kind: number) => resolveCoreRelo(btf, target, relo(typeId, '0', kind));
    expect(r(sock, BpfCoreReloKind.TYPE_ID_LOCAL)).toMatchObject({ newVal: BigInt(sock), validate: false, poison: false });
    expect(r(sock, BpfCoreReloKind.TYPE_ID_TARGET)).toMatchObject({ newVal: BigInt(idOf(target, 'bpf_sock')), validate: false });
    expect(r(sock, BpfCoreReloKind.TYPE_EXISTS).newVal).toBe(1n);
    expect(r(sock, BpfCoreReloKind.TYPE_MATCHES).newVal).toBe(1n);
    expect(r(sock, BpfCoreReloKind.TYPE_SIZE).newVal).toBe(80n);
    const poisonBtf = readElfBtf(parseElf(cObject('core_poison'))).btf!;
    const task = idOf(poisonBtf, 'task_struct');
    for (const kind of [BpfCoreReloKind.TYPE_EXISTS, BpfCoreReloKind.TYPE_SIZE, BpfCoreReloKind.TYPE_ID_TARGET, BpfCoreReloKind.TYPE_MATCHES]) {
      const res = resolveCoreRelo(poisonBtf, target, relo(task, '0', kind));
      expect([res.newVal, res.poison, res.missing], String(kind)).toEqual([0n, false, 'the target has no struct task_struct']);
    }
    // A local flavour whose member type differs does not match (signed short vs __u32 mark).
    const short = idOf(poisonBtf, '__sk_buff___short');
    expect(resolveCoreRelo(poisonBtf, target, relo(short, '0', BpfCoreReloKind.TYPE_MATCHES)).newVal).toBe(0n);
    expect(resolveCoreRelo(poisonBtf, target, relo(short, '0', BpfCoreReloKind.TYPE_EXISTS)).newVal).toBe(1n);
  });
});

describe('applying relocations', () => {
  it('patches offsets and immediates, and resizes nothing that did not change', () => {
    const btf = local();
    const skb = idOf(btf, '__sk_buff___local');
    // r0 = *(u32 *)(r1 + 24) (len locally); r0 = 1 (exists(mark)).
    const code = insns([LDXW, 0x10, 24, 0], [MOV64_K, 0, 0, 1]);
    const applied = applyCoreRelos(code, 'tc', [
      relo(skb, '0:2', BpfCoreReloKind.FIELD_BYTE_OFFSET, 0),
      relo(skb, '0:4', BpfCoreReloKind.FIELD_EXISTS, 1),
    ], btf, contextBtf());
    const v = new DataView(code.buffer);
    expect([v.getInt16(2, true), v.getInt32(12, true)]).toEqual([SkBuff.len, 0]);
    expect(applied.map((a) => [a.what, a.to])).toEqual([['struct __sk_buff___local.len', 0n], ['struct __sk_buff___local.no_such_field', 0n]]);
  });

  it('the input object is never modified', () => {
    const bytes = cObject('core_ctx');
    const before = bytes.slice();
    readElfBtf(parseElf(bytes));
    expect(bytes).toEqual(before);
  });
});

describe('malformed relocation records: E_BAD_ELF at the record in .BTF.ext', () => {
  const btf = local();
  const skb = idOf(btf, '__sk_buff___local');
  const ldx = insns([LDXW, 0x10, 24, 0], [0x95, 0, 0, 0]);
  const cases: [string, Uint8Array, BtfCoreRelo, RegExp][] = [
    ['member index past the struct', ldx, relo(skb, '0:9', BpfCoreReloKind.FIELD_BYTE_OFFSET), /member 9 of struct __sk_buff___local does not exist/],
    ['array index past the array', ldx, relo(skb, '0:1:5', BpfCoreReloKind.FIELD_BYTE_OFFSET), /index 5 is past the 5 elements/],
    ['indexing into an integer', ldx, relo(skb, '0:2:0', BpfCoreReloKind.FIELD_BYTE_OFFSET), /neither a struct, a union nor an array/],
    ['type relocation with a field path', ldx, relo(skb, '0:1', BpfCoreReloKind.TYPE_EXISTS), /must have access string "0"/],
    ['enum value relocation on a struct', ldx, relo(skb, '0', BpfCoreReloKind.ENUMVAL_VALUE), /needs an enum/],
    ['signedness of an array element', ldx, relo(skb, '0:1:2', BpfCoreReloKind.FIELD_SIGNED), /cannot be applied to an array element/],
    ['the instruction does not hold the local value', insns([LDXW, 0x10, 99, 0]), relo(skb, '0:2', BpfCoreReloKind.FIELD_BYTE_OFFSET), /offset is 99, expected 24/],
    ['a jump cannot be relocated', insns([JEQ_K, 0x01, 0, 24]), relo(skb, '0:2', BpfCoreReloKind.FIELD_BYTE_OFFSET), /cannot be relocated/],
    ['an ALU with a register source', insns([MOV64_X, 0x10, 0, 1]), relo(skb, '0:2', BpfCoreReloKind.FIELD_EXISTS), /takes a register/],
    ['instruction past the section', ldx, relo(skb, '0:2', BpfCoreReloKind.FIELD_BYTE_OFFSET, 7), /past the 2 instructions/],
    ['an lddw without its second half', insns([0x18, 0, 0, 12]), relo(idOf(btf, 'xdp_action___local'), '1', BpfCoreReloKind.ENUMVAL_VALUE), /no second half/],
  ];
  for (const [what, code, r, message] of cases) {
    it(what, () => {
      const e = thrownBy(() => applyCoreRelos(code.slice(), 'tc', [r], btf, contextBtf()), ElfError);
      expect([e.code, e.location.section, e.location.offset]).toEqual([ErrorCode.BadElf, '.BTF.ext', r.recordOffset]);
      expect(e.detail).toMatch(message);
      expect(e.detail).toContain('of instruction');
    });
  }
});
