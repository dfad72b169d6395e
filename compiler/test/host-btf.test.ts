/**
 * Host-supplied BTF (compiler/btf/host-btf.ts; the `btf` option of compileObject and
 * instantiateObject, CLI `--btf FILE`): relocations on types the runtime does not present resolve
 * against it, the runtime's contexts keep their layouts, malformed blobs are E_BAD_ELF naming the
 * option (or file) and the offset, and against this host's `/sys/kernel/btf/vmlinux` (where
 * readable) core_read's relocations give the kernel's offsets, checked with `bpftool btf dump`.
 * core_read runs against a host layout on every engine in compiler/test/programs.test.ts.
 */
import { memoryIO as io } from '../../test/support/cli-io.js';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { thrownBy } from '../../test/support/thrown.js';
import { cObject } from '../../test/support/fixtures.js';
import { Bpf2WasmError, ErrorCode } from '../../runtime/errors.js';
import { BtfWriter } from '../btf/encode.js';
import { parseHostBtf } from '../btf/host-btf.js';
import { ElfError } from '../elf/elf64.js';
import { compileObject } from '../object/compile-object.js';
import { main } from '../cli/main.js';

const m = (name: string, type: number, byteOffset: number) => ({ name, type, bitOffset: byteOffset * 8 });

/** A host BTF with a task_struct, and an __sk_buff whose mark is elsewhere than the runtime's. */
function hostBtf(): Uint8Array {
  const w = new BtfWriter();
  const int = w.int('int', 4, true);
  const uint = w.int('unsigned int', 4, false);
  const ptr = w.ptr(4);
  w.composite('struct', 'task_struct', 48, [m('pid', int, 32), m('tgid', int, 36), m('real_parent', ptr, 40)]);
  w.composite('struct', '__sk_buff', 16, [m('len', uint, 0), m('mark', uint, 12)]);
  return w.bytes();
}

const relosOf = async (name: string, btf?: Uint8Array) => {
  const c = await compileObject(cObject(name), btf ? { btf } : {});
  return c.spec.programs.flatMap((p) => (p.coreRelos ?? []).map((r) => [p.name, r.what, r.poisoned ?? Number(r.to)]));
};

describe('the btf option', () => {
  it('resolves task_struct against the host BTF; a field it lacks (flags) does not exist', async () => {
    expect(await relosOf('core_read', hostBtf())).toEqual([
      ['parent_tgid', 'struct task_struct.pid', 32],
      ['parent_tgid', 'struct task_struct.real_parent', 40],
      ['parent_tgid', 'struct task_struct.tgid', 36],
      ['parent_tgid', 'struct task_struct.flags', 0],
    ]);
  });

  it('the runtime\'s contexts keep their own layouts whatever the host BTF says', async () => {
    expect(await relosOf('core_ctx', hostBtf())).toEqual(await relosOf('core_ctx'));
    expect(await relosOf('kprobe_args', hostBtf())).toEqual(await relosOf('kprobe_args'));
  });

  it('a blob is parsed once however many objects use it', () => {
    const blob = hostBtf();
    expect(parseHostBtf(blob)).toBe(parseHostBtf(blob));
  });

  /** Mutations of a good blob, and the byte offset each error must name. */
  const mutations: [string, (b: Uint8Array) => Uint8Array, number][] = [
    ['empty', () => new Uint8Array(0), 0],
    ['truncated header', (b) => b.slice(0, 10), 0],
    ['bad magic', (b) => { b[0] = 0x12; return b; }, 0],
    ['bad version', (b) => { b[2] = 9; return b; }, 2],
    ['type section past the end', (b) => { new DataView(b.buffer).setUint32(12, 0x10000, true); return b; }, 8],
    ['a member referring to a missing type', (b) => { new DataView(b.buffer).setUint32(24 + 16 * 2 + 12 + 12 + 4, 999, true); return b; }, -1],
  ];
  for (const [label, mutate, offset] of mutations) {
    it(`malformed blob (${label}): E_BAD_ELF naming the option and the offset`, async () => {
      const bad = mutate(hostBtf());
      const e = await compileObject(cObject('core_read'), { btf: bad }).then(() => undefined, (x: unknown) => x);
      expect(e).toBeInstanceOf(ElfError);
      const err = e as ElfError;
      expect(err.code).toBe(ErrorCode.BadElf);
      expect(err.location.section).toBe('the btf option');
      if (offset >= 0) expect(err.location.offset).toBe(offset);
      expect(err.message).toContain(`host BTF (the btf option) at offset ${err.location.offset}`);
    });
  }

  it('a value that is not bytes: E_BAD_ARGUMENT', () => {
    const e = thrownBy(() => parseHostBtf('vmlinux' as unknown as Uint8Array), Bpf2WasmError);
    expect([e.code, e.message]).toEqual([ErrorCode.BadArgument, expect.stringContaining('the btf option must be a Uint8Array')]);
  });
});

describe('against this host\'s /sys/kernel/btf/vmlinux', () => {
  let vmlinux: Uint8Array | undefined;
  try {
    vmlinux = new Uint8Array(readFileSync('/sys/kernel/btf/vmlinux'));
  } catch {
    console.warn('host-btf.test: /sys/kernel/btf/vmlinux is not readable; skipping the kernel comparison');
  }
  it.skipIf(!vmlinux)('core_read\'s relocations give the kernel\'s task_struct offsets (as bpftool dumps them)', async () => {
    const relos = await relosOf('core_read', vmlinux);
    const offsets = Object.fromEntries(relos.map(([, what, to]) => [String(what).replace('struct task_struct.', ''), to]));
    expect(offsets.flags).toBe(1); // field_exists
    let dump: string | undefined;
    try {
      dump = execFileSync('bpftool', ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux'], { encoding: 'utf8', maxBuffer: 256 << 20 });
    } catch {
      console.warn('host-btf.test: bpftool is not available; offsets compared with our own parse only');
    }
    if (dump === undefined) {
      expect(typeof offsets.pid).toBe('number');
      return;
    }
    const block = dump.slice(dump.indexOf("STRUCT 'task_struct'"));
    const bits = (field: string): number => Number(new RegExp(`'${field}' type_id=\\d+ bits_offset=(\\d+)`).exec(block)![1]);
    expect([offsets.pid, offsets.tgid, offsets.real_parent]).toEqual([bits('pid') / 8, bits('tgid') / 8, bits('real_parent') / 8]);
  });
});


describe('--btf FILE', () => {
  it('run: core_read no longer stops at a poisoned instruction', async () => {
    const without = io({ 'o.o': cObject('core_read') });
    expect(await main(['run', 'o.o'], without)).toBe(1);
    expect(without.err).toContain('E_CORE_RELO');
    const x = io({ 'o.o': cObject('core_read'), 'k.btf': hostBtf() });
    expect(await main(['run', 'o.o', '--btf', 'k.btf'], x)).toBe(0);
    expect(x.out).toContain('r0 = 0x0');
  });

  it('a malformed file: one error line naming it and the offset, exit 1; with raw bytecode: exit 2', async () => {
    const bad = hostBtf();
    bad[2] = 9;
    const x = io({ 'o.o': cObject('core_read'), 'k.btf': bad });
    expect(await main(['compile', 'o.o', '-o', 'o.wasm', '--btf', 'k.btf'], x)).toBe(1);
    expect(x.err).toContain('host BTF (k.btf) at offset 2');
    expect(x.err.trim().split('\n')).toHaveLength(1);
    const raw = io({ 'p.bin': new Uint8Array([0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]), 'k.btf': hostBtf() });
    expect(await main(['run', 'p.bin', '--btf', 'k.btf'], raw)).toBe(2);
  });
});
