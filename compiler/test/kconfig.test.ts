/**
 * `__kconfig` externs (compiler/elf/kconfig.ts) on test-programs/loader/kconfig.o: libbpf's
 * layout of the `.kconfig` map, the runtime's virtual LINUX_* values, host-supplied CONFIG_*
 * values (the `kconfig` option, `parseKconfig`), weak externs reading 0, and the typed errors
 * for strong unknown externs, unsupported types and values that do not fit.
 * The seed program that needs them (BPF_KPROBE_SYSCALL) runs in programs.test.ts (ksyscall_hello).
 */
import { memoryIO as io } from '../../test/support/cli-io.js';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { repoBytes } from '../../test/support/fixtures.js';
import { Bpf2WasmError, ErrorCode } from '../../runtime/errors.js';
import { instantiate } from '../../runtime/instance.js';
import { interpretModule } from '../../runtime/interpreter.js';
import { MapType } from '../../runtime/uapi/index.js';
import { LddwSource, loadObjectSpec, type LoadObjectOptions, type MapSpec } from '../elf/loader.js';
import { KCONFIG_KERNEL_VERSION, parseKconfig } from '../elf/kconfig.js';
import { parseElf, SectionType } from '../elf/elf64.js';
import { readElfBtf } from '../elf/btf-sections.js';
import { compileObject, planObject } from '../object/compile-object.js';
import { main } from '../cli/main.js';

const fixture = (): Uint8Array => repoBytes('test-programs/loader/kconfig.o');
const kconfigMap = (bytes: Uint8Array, options: LoadObjectOptions = {}): MapSpec =>
  loadObjectSpec(bytes, options).maps.find((m) => m.name === '.kconfig')!;

function thrown(f: () => unknown): Bpf2WasmError {
  try {
    f();
  } catch (e) {
    if (e instanceof Bpf2WasmError) return e;
    throw e;
  }
  throw new Error('expected a Bpf2WasmError');
}

/** Sets the ELF binding (STB_GLOBAL = 1, STB_WEAK = 2) of the symbol `name`. */
function setBind(bytes: Uint8Array, name: string, bind: number): void {
  const elf = parseElf(bytes);
  const symtab = elf.sections.find((s) => s.type === SectionType.SYMTAB)!;
  const sym = elf.symbols.find((s) => s.name === name)!;
  const at = symtab.offset + 24 * sym.index + 4;
  bytes[at] = (bind << 4) | (bytes[at]! & 0xf);
}

const LAYOUT = [
  ['CONFIG_PHYSICAL_START', 0, 8], ['CONFIG_BPF_LSM', 8, 4], ['CONFIG_HZ', 12, 4], ['LINUX_KERNEL_VERSION', 16, 4],
  ['CONFIG_NR_CPUS', 20, 2], ['CONFIG_BPF_JIT', 22, 1], ['CONFIG_CHAR', 23, 1], ['LINUX_HAS_BPF_COOKIE', 24, 1],
  ['LINUX_HAS_SYSCALL_WRAPPER', 25, 1], ['CONFIG_LOCALVERSION', 26, 8],
];

describe('.kconfig map', () => {
  it('lays the externs out as libbpf: alignment descending, size ascending, name; 34 bytes, read-only', () => {
    const map = kconfigMap(fixture());
    expect(map.variables!.map((v) => [v.name, v.offset, v.size])).toEqual(LAYOUT);
    expect([map.type, map.keySize, map.valueSize, map.maxEntries, map.readonly, map.internal]).toEqual([MapType.ARRAY, 4, 34, 1, true, true]);
  });

  it('virtual externs have the runtime values; weak CONFIG_* nobody supplies are 0', () => {
    const value = kconfigMap(fixture()).initialData!;
    const v = new DataView(value.buffer, value.byteOffset, value.byteLength);
    expect(v.getUint32(16, true)).toBe(KCONFIG_KERNEL_VERSION);
    expect(KCONFIG_KERNEL_VERSION).toBe(0x060800);
    expect([value[24], value[25]]).toEqual([0, 1]); // no bpf_get_attach_cookie; syscall wrapper
    expect([...value.subarray(0, 16), ...value.subarray(20, 24), ...value.subarray(26)]).toEqual(new Array(28).fill(0));
  });

  it('every lddw of an extern points at its offset in the .kconfig value', () => {
    const spec = loadObjectSpec(fixture());
    const map = spec.maps.find((m) => m.name === '.kconfig')!;
    const offsets = new Set<number>();
    for (const p of spec.programs) {
      const v = new DataView(p.insns.buffer, p.insns.byteOffset, p.insns.byteLength);
      for (let at = 0; at < p.insns.length; at += 8) {
        if (p.insns[at] !== 0x18 || p.insns[at + 1]! >> 4 !== LddwSource.MAP_VALUE) continue;
        expect(v.getInt32(at + 4, true)).toBe(map.index);
        offsets.add(v.getInt32(at + 12, true));
        at += 8;
      }
    }
    expect([...offsets].sort((a, b) => a - b)).toEqual(LAYOUT.map(([, off]) => off).sort((a, b) => Number(a) - Number(b)));
  });

  it('host-supplied values of every kind, written little-endian; the programs read them on every engine', async () => {
    const kconfig = parseKconfig([
      '# Automatically generated file; DO NOT EDIT.', 'CONFIG_HZ=1000', 'CONFIG_NR_CPUS=64', 'CONFIG_BPF_JIT=y',
      'CONFIG_BPF_LSM=m', 'CONFIG_LOCALVERSION="-rt-very-long"', 'CONFIG_CHAR=y', 'CONFIG_PHYSICAL_START=0x1000000',
      '# CONFIG_UNUSED is not set', 'CONFIG_LINUX_HAS_BPF_COOKIE=y', '',
    ].join('\n'));
    expect(kconfig).toMatchObject({ CONFIG_HZ: '1000', CONFIG_BPF_LSM: 'm', CONFIG_UNUSED: 'n' });
    const value = kconfigMap(fixture(), { kconfig }).initialData!;
    const v = new DataView(value.buffer, value.byteOffset, value.byteLength);
    expect([v.getBigUint64(0, true), v.getUint32(8, true), v.getInt32(12, true), v.getUint16(20, true), value[22], value[23]])
      .toEqual([0x1000000n, 2, 1000, 64, 1, 'y'.charCodeAt(0)]);
    // Truncated to 7 bytes and NUL-terminated, as libbpf does.
    expect(new TextDecoder().decode(value.subarray(26, 34))).toBe('-rt-ver\0');

    const expected = 1000n + (64n << 16n) + (1n << 32n) + (2n << 33n) + (BigInt('r'.charCodeAt(0)) << 40n) + (BigInt('y'.charCodeAt(0)) << 48n) + 0x1000000n;
    const compiled = await instantiate((await compileObject(fixture(), { kconfig })).wasm);
    const interpreted = await interpretModule(planObject(fixture(), { kconfig }).image);
    for (const inst of [compiled, interpreted]) {
      expect(inst.program('config').run()).toBe(expected);
      expect(inst.program('version').run()).toBe(BigInt(KCONFIG_KERNEL_VERSION) + (1n << 33n));
    }
    // Without the option: all CONFIG_* read 0.
    expect((await instantiate((await compileObject(fixture())).wasm)).program('config').run()).toBe(0n);
  });

  it('the virtual externs are not taken from the host values', () => {
    const value = kconfigMap(fixture(), { kconfig: { LINUX_HAS_SYSCALL_WRAPPER: 0, LINUX_KERNEL_VERSION: 1 } }).initialData!;
    expect([value[25], new DataView(value.buffer, value.byteOffset).getUint32(16, true)]).toEqual([1, KCONFIG_KERNEL_VERSION]);
  });
});

describe('.kconfig errors', () => {
  it('a strong extern nobody supplies is E_UNSUPPORTED naming it; supplied, it loads', () => {
    const bytes = fixture();
    setBind(bytes, 'CONFIG_HZ', 1);
    const e = thrown(() => loadObjectSpec(bytes));
    expect(e.code).toBe(ErrorCode.Unsupported);
    expect(e.message).toContain('CONFIG_HZ');
    expect(e.message).toMatch(/kernel configuration value the runtime does not know/);
    expect(e.location).toMatchObject({ section: '.kconfig' });
    const value = kconfigMap(bytes, { kconfig: { CONFIG_HZ: 250 } }).initialData!;
    expect(new DataView(value.buffer, value.byteOffset).getInt32(12, true)).toBe(250);
  });

  it('an extern of a type that is not bool, char, integer, tristate or char array is E_UNSUPPORTED naming it', () => {
    const bytes = fixture();
    const elf = parseElf(bytes);
    const { btf } = readElfBtf(elf);
    const hz = btf!.typeByName('CONFIG_HZ', 'var')!;
    const ptr = btf!.types.find((t) => t.kind === 'ptr')!;
    const section = elf.sectionByName('.BTF')!;
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    // struct btf_type { name_off, info, type }: the VAR's type (`offset` is in the .BTF section).
    view.setUint32(section.offset + hz.offset + 8, ptr.id, true);
    expect(readElfBtf(parseElf(bytes)).btf!.typeByName('CONFIG_HZ', 'var')!.type).toBe(ptr.id);
    const e = thrown(() => loadObjectSpec(bytes));
    expect(e.code).toBe(ErrorCode.Unsupported);
    expect(e.message).toContain('CONFIG_HZ');
    expect(e.message).toMatch(/has type ptr/);
  });

  it('a .kconfig variable whose symbol is defined (not an extern) is E_BAD_ELF naming it', () => {
    const bytes = fixture();
    const elf = parseElf(bytes);
    const symtab = elf.sections.find((s) => s.type === SectionType.SYMTAB)!;
    const sym = elf.symbols.find((s) => s.name === 'CONFIG_NR_CPUS')!;
    // st_shndx: the license section.
    new DataView(bytes.buffer, bytes.byteOffset).setUint16(symtab.offset + 24 * sym.index + 6, elf.sectionByName('license')!.index, true);
    const e = thrown(() => loadObjectSpec(bytes));
    expect(e.code).toBe(ErrorCode.BadElf);
    expect(e.message).toContain('CONFIG_NR_CPUS');
    expect(e.message).toMatch(/no undefined symbol/);
  });

  it('a host value that does not fit its extern is E_BAD_ARGUMENT naming both', () => {
    const cases: [string, string | number | boolean, RegExp][] = [
      ['CONFIG_BPF_JIT', 'm', /bool cannot hold/],
      ['CONFIG_BPF_JIT', 2, /not 0 or 1/],
      ['CONFIG_NR_CPUS', 70000, /does not fit in 2 bytes/],
      ['CONFIG_HZ', 'fast', /neither y\/n\/m nor a number/],
      ['CONFIG_HZ', 1.5, /not an integer/],
      ['CONFIG_LOCALVERSION', 5, /not a string/],
      ['CONFIG_HZ', '-2147483649', /does not fit in 4 bytes/],
    ];
    for (const [name, value, why] of cases) {
      const e = thrown(() => loadObjectSpec(fixture(), { kconfig: { [name]: value } }));
      expect(e.code, `${name}=${String(value)}`).toBe(ErrorCode.BadArgument);
      expect(e.message).toContain(name);
      expect(e.message).toMatch(why);
    }
    // The extremes fit.
    const value = kconfigMap(fixture(), { kconfig: { CONFIG_HZ: '-2147483648', CONFIG_PHYSICAL_START: '0xffffffffffffffff' } }).initialData!;
    const v = new DataView(value.buffer, value.byteOffset);
    expect([v.getInt32(12, true), v.getBigUint64(0, true)]).toEqual([-2147483648, 0xffff_ffff_ffff_ffffn]);
  });

  it('parseKconfig names the line it cannot read', () => {
    const e = thrown(() => parseKconfig('CONFIG_A=y\nnot a config line\n', 'my.config'));
    expect(e.code).toBe(ErrorCode.BadArgument);
    expect(e.location).toMatchObject({ file: 'my.config', line: 2 });
  });

  it('__ksym variable externs stay unsupported (the seed fixture without its .kconfig BTF)', () => {
    const bytes = repoBytes('test-programs/c/ksyscall_hello.o');
    // Rename the DATASEC `.kconfig` (same length): the extern is then no kconfig extern.
    const elf = parseElf(bytes);
    const section = elf.sectionByName('.BTF')!;
    const text = new TextEncoder().encode('.kconfig\0');
    const data = bytes.subarray(section.offset, section.offset + section.size);
    let at = -1;
    for (let i = 0; i + text.length <= data.length && at < 0; i++) if (text.every((b, j) => data[i + j] === b)) at = i;
    expect(at).toBeGreaterThan(0);
    data.set(new TextEncoder().encode('.ksyms\0\0'), at);
    const e = thrown(() => loadObjectSpec(bytes));
    expect(e.code).toBe(ErrorCode.Unsupported);
    expect(e.message).toContain('LINUX_HAS_SYSCALL_WRAPPER');
  });
});


describe('--kconfig FILE', () => {
  const config = new TextEncoder().encode('CONFIG_HZ=250\n# CONFIG_BPF_JIT is not set\nCONFIG_NR_CPUS=8\n');
  const expected = `r0 = 0x${(250 + (8 << 16)).toString(16)}`;

  it('run: the program reads the file\'s values, plain or gzipped (as /proc/config.gz)', async () => {
    for (const file of [config, new Uint8Array(gzipSync(config))]) {
      const x = io({ 'k.o': fixture(), '.config': file });
      expect(await main(['run', 'k.o', '--program', 'config', '--kconfig', '.config'], x), x.err).toBe(0);
      expect(x.out).toContain(expected);
    }
    const without = io({ 'k.o': fixture() });
    expect(await main(['run', 'k.o', '--program', 'config'], without)).toBe(0);
    expect(without.out).toContain('r0 = 0x0');
  });

  it('a bad line, a broken gzip, a value that does not fit: one error line, exit 1; with raw bytecode: exit 2', async () => {
    const cases: [Uint8Array, string][] = [
      [new TextEncoder().encode('CONFIG_HZ=250\nHZ=1\n'), 'line 2 of .config'],
      [Uint8Array.of(0x1f, 0x8b, 1, 2, 3), 'does not decompress'],
      [new TextEncoder().encode('CONFIG_NR_CPUS=100000\n'), 'CONFIG_NR_CPUS'],
    ];
    for (const [file, message] of cases) {
      const x = io({ 'k.o': fixture(), '.config': file });
      expect(await main(['compile', 'k.o', '-o', 'k.wasm', '--kconfig', '.config'], x)).toBe(1);
      expect(x.err).toContain('E_BAD_ARGUMENT');
      expect(x.err).toContain(message);
      expect(x.err.trim().split('\n')).toHaveLength(1);
    }
    const raw = io({ 'p.bin': new Uint8Array([0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]), '.config': config });
    expect(await main(['run', 'p.bin', '--kconfig', '.config'], raw)).toBe(2);
  });
});
