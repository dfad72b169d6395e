/**
 * Defects found in review (issue 8), each with the test that failed before its fix:
 * - compileObject wrote relocations into the caller's Node Buffer (a Buffer's slice() is a view);
 * - several bpf_tail_call sites in one function failed Binaryen validation (duplicate block
 *   labels) and Binaryen's validator text went to stderr;
 * - a map of maps with both `__type(value, __u32)` and `__array(values, ...)` (katran's
 *   balancer.bpf.c) was refused, though libbpf accepts it;
 * - an ELF of type ET_EXEC was accepted; `.rodata.str1.1` was shown as `{}`.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode } from '../../runtime/errors.js';
import { instantiate } from '../../runtime/instance.js';
import { main, type CliIO } from '../cli/main.js';
import { loadObjectSpec } from '../elf/loader.js';
import { parseElf } from '../elf/elf64.js';
import { compileObject } from '../object/compile-object.js';
import { formatInspect, inspectObject } from '../object/inspect.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const fixture = (name: string): Buffer => readFileSync(path.join(root, 'test-programs/c', `${name}.o`));

/** Runs the CLI on real files, collecting its output. */
async function cli(...argv: string[]): Promise<{ status: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIO = {
    readFile: async (p) => new Uint8Array(readFileSync(path.isAbsolute(p) ? p : path.join(root, p))),
    writeFile: async () => { throw new Error('not written by these tests'); },
    stdout: (t) => { out += t; },
    stderr: (t) => { err += t; },
    now: () => 0,
  };
  const status = await main(argv, io);
  return { status, out, err };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('inputs are never modified', () => {
  it('compiling a Node Buffer twice leaves its bytes unchanged (programs sharing .text)', async () => {
    const buffer = fixture('xdp_root');
    expect(Buffer.isBuffer(buffer)).toBe(true);
    const before = Uint8Array.prototype.slice.call(buffer);
    // The object's programs share .text (mix), which is relocated into each of them.
    expect(loadObjectSpec(buffer).programs.map((p) => p.name).sort()).toEqual(['xdp_root', 'xdp_second', 'xdp_third']);
    const first = await compileObject(buffer, { optLevel: 0 });
    expect(Buffer.compare(buffer, before)).toBe(0);
    const second = await compileObject(buffer, { optLevel: 0 });
    expect(Buffer.compare(buffer, before)).toBe(0);
    expect(second.wasm).toEqual(first.wasm);
  });

  it('loadObjectSpec on a Buffer gives copies of code and data, not views of the input', () => {
    const buffer = fixture('global_data');
    const spec = loadObjectSpec(buffer);
    for (const p of spec.programs) {
      expect(Buffer.isBuffer(p.insns)).toBe(false);
      expect(p.insns.buffer).not.toBe(buffer.buffer);
    }
    for (const m of spec.maps) if (m.initialData) expect(m.initialData.buffer).not.toBe(buffer.buffer);
  });
});

describe('three bpf_tail_call sites in one program (katran xdp_root)', () => {
  it.each([0, 1, 2] as const)('compiles and runs at -O%i without writing to stderr', async (optLevel) => {
    const write = vi.spyOn(process.stderr, 'write');
    const error = vi.spyOn(console, 'error');
    const { wasm } = await compileObject(fixture('xdp_root'), { optLevel });
    expect(write).not.toHaveBeenCalled();
    expect(error).not.toHaveBeenCalled();
    const inst = await instantiate(wasm);
    const packet = new Uint8Array(64);
    // Slot 0 is empty, slot 1 holds xdp_second: mix(2) = 69.
    expect(inst.program('xdp_root').test({ dataIn: packet }).r0).toBe(69n);
    inst.map('root_array').delete(1);
    expect(inst.program('xdp_root').test({ dataIn: packet }).r0).toBe(100n);
    inst.map('root_array').delete(2);
    expect(inst.program('xdp_root').test({ dataIn: packet }).r0).toBe(2n);
  });

  // binaryen.js binds the console when it loads (vitest's console, here), so what reaches the
  // process's stderr is observed in a child process running the built dist/.
  it('a module that fails Binaryen validation becomes E_INTERNAL carrying the validator text, never stderr', () => {
    const script = [
      "import { loadBinaryen, validateQuietly } from './dist/compiler/binaryen.js';",
      'const b = await loadBinaryen();',
      'const m = new b.Module();',
      // A function declared to return i32 whose body is an i64.
      "m.addFunction('bad', b.none, b.i32, [], m.i64.const(1n));",
      'try { validateQuietly(m); console.log("valid"); } catch (e) { console.log(JSON.stringify({ code: e.code, name: e.name, message: e.message })); }',
    ].join('\n');
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    expect(child.stderr).toBe('');
    const result = JSON.parse(child.stdout) as { code: string; name: string; message: string };
    expect(result).toMatchObject({ code: ErrorCode.Internal, name: 'InternalError' });
    expect(result.message).toMatch(/failed Binaryen validation.*function bad.*function body type must match/);
  });

  it('the CLI runs the object at -O1 with nothing on stderr', () => {
    const child = spawnSync(process.execPath, ['dist/compiler/cli/bin.js', 'run', 'test-programs/c/xdp_root.o', '--program', 'xdp_root', '-O1'], { cwd: root, encoding: 'utf8' });
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    expect(child.stdout).toContain('xdp_root: r0 = 0x45 (69)');
  });
});

describe('map of maps with both __type(value, __u32) and __array(values, ...) (katran balancer)', () => {
  it('is accepted as libbpf accepts it: value_size 4, inner map from __array', () => {
    const spec = loadObjectSpec(fixture('typed_map_in_map'));
    const outer = spec.maps.find((m) => m.name === 'lru_mapping')!;
    expect([outer.type, outer.keySize, outer.valueSize, outer.maxEntries]).toEqual([12, 4, 4, 2]);
    expect(outer.innerMap && [outer.innerMap.type, outer.innerMap.keySize, outer.innerMap.valueSize, outer.innerMap.maxEntries]).toEqual([9, 4, 8, 16]);
  });

  it('a value type of another size is still refused, as libbpf refuses it (conflicting value size)', () => {
    // Make BTF's `unsigned int` (behind __u32) 8 bytes: the value type is then 8 bytes, not 4.
    const bytes = new Uint8Array(fixture('typed_map_in_map'));
    const section = parseElf(bytes).sectionByName('.BTF')!;
    const view = new DataView(bytes.buffer, bytes.byteOffset + section.offset, section.size);
    const hdrLen = view.getUint32(4, true);
    const typesAt = hdrLen + view.getUint32(8, true);
    const typesEnd = typesAt + view.getUint32(12, true);
    const stringsAt = hdrLen + view.getUint32(16, true);
    const strings = new TextDecoder('latin1').decode(bytes.subarray(section.offset + stringsAt, section.offset + section.size));
    const nameOff = strings.indexOf('\0unsigned int\0') + 1;
    expect(nameOff).toBeGreaterThan(0);
    let patched = 0;
    for (let at = typesAt; at + 16 <= typesEnd; at += 4) {
      if (view.getUint32(at, true) === nameOff && view.getUint32(at + 4, true) === 0x01000000 && view.getUint32(at + 8, true) === 4) {
        view.setUint32(at + 8, 8, true);
        patched++;
      }
    }
    expect(patched).toBe(1);
    expect(() => loadObjectSpec(bytes)).toThrow(expect.objectContaining({
      code: ErrorCode.BadElf,
      message: expect.stringMatching(/lru_mapping.*value type of 8 bytes.*4-byte/),
    }));
  });
});

describe('ELF type and string sections', () => {
  it('an ET_EXEC object is refused by the loader, compile, inspect and run with E_BAD_ELF', async () => {
    const bytes = new Uint8Array(fixture('xdp_root'));
    bytes[16] = 2; // e_type = ET_EXEC (little-endian u16 at offset 16)
    expect(() => loadObjectSpec(bytes)).toThrow(expect.objectContaining({ code: ErrorCode.BadElf, message: expect.stringContaining('ET_EXEC') }));
    expect(() => inspectObject(bytes)).toThrow(expect.objectContaining({ code: ErrorCode.BadElf }));
    await expect(compileObject(bytes)).rejects.toMatchObject({ code: ErrorCode.BadElf });
  });

  it('the CLI refuses an ET_EXEC object in compile, inspect, run and disasm, a main-only object too', async () => {
    const exec = (name: string): string => {
      const bytes = new Uint8Array(readFileSync(path.join(root, name)));
      bytes[16] = 2;
      const out = path.join(tmpdir(), `bpf2wasm-et-exec-${process.pid}-${path.basename(name)}`);
      writeFileSync(out, bytes);
      return out;
    };
    for (const file of [exec('test-programs/c/xdp_root.o'), exec('test-programs/elf/sum.o')]) {
      for (const argv of [['inspect', file], ['run', file], ['disasm', file], ['compile', file, '-o', '/dev/null']]) {
        const r = await cli(...argv);
        expect(r.status, argv.join(' ')).toBe(1);
        expect(r.err).toContain('E_BAD_ELF');
        expect(r.err).toContain('ET_EXEC');
      }
    }
  });

  it('inspect and run show the strings of .rodata.str1.1', async () => {
    const text = formatInspect(inspectObject(fixture('string_literals')));
    const run = await cli('run', 'test-programs/c/string_literals.o');
    expect(run.status).toBe(0);
    const json = await cli('run', 'test-programs/c/string_literals.o', '--json');
    for (const shown of [text, run.out]) {
      expect(shown).not.toMatch(/=> \{\}/);
      expect(shown).toContain('"even length %d\\n"');
      expect(shown).toContain('"odd length %d\\n"');
    }
    expect(JSON.parse(json.out).maps['.rodata.str1.1'].strings).toEqual([{ offset: 0, text: 'even length %d\n' }, { offset: 16, text: 'odd length %d\n' }]);
  });
});

describe('run prints every map kind, without changing any', () => {
  it('a bloom filter is named as having no entries to list (map_options.o ran to completion)', async () => {
    const run = await cli('run', 'test-programs/c/map_options.o');
    expect(run.err).toBe('');
    expect(run.status).toBe(0);
    expect(run.out).toContain('map seen (bloom filter): no entries to list (it answers membership queries only)\n');
    expect(run.out).toMatch(/map flows \(1 entry\):/);
    const json = await cli('run', 'test-programs/c/map_options.o', '--json');
    expect(json.status).toBe(0);
    expect(JSON.parse(json.out).maps.seen).toEqual({ bloomFilter: true, entries: [] });
  });

  it('queues and stacks list their elements in pop order', async () => {
    const run = await cli('run', 'test-programs/c/queue_stack.o');
    expect(run.err).toBe('');
    expect(run.status).toBe(0);
    expect(run.out).toContain('fill: r0 = 0x2 (2)\n');
    expect(run.out).toContain('map fifo (queue, 3 elements, oldest first):\n  3\n  4\n  5\n');
    expect(run.out).toContain('map lifo (stack, 4 elements, newest first):\n  5\n  4\n  3\n  2\n');
    const json = await cli('run', 'test-programs/c/queue_stack.o', '--json');
    expect(JSON.parse(json.out).maps).toMatchObject({ fifo: { elements: [3, 4, 5] }, lifo: { elements: [5, 4, 3, 2] } });
  });
});
