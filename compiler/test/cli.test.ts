/**
 * The command line, driven through `main(argv, io)` with an in-memory file system, captured
 * stdout/stderr and a fake clock: compile, run, disasm, every input kind, and how errors are
 * reported (one line with the code and location, exit 1; usage problems exit 2).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT as root } from '../../test/support/fixtures.js';
import { assemble } from '../asm/assemble.js';
import { main, type CliIO } from '../cli/main.js';
import { instantiate } from '../../runtime/index.js';

const SUM_ELF = path.join(root, 'test-programs/elf/sum.o');

const loadWabt = async () => (await import('wabt')).default();
let wabt: Awaited<ReturnType<typeof loadWabt>>;
beforeAll(async () => {
  wabt = await loadWabt();
});

// ------------------------------------------------------------------------------ in-memory io

interface FakeIO extends CliIO {
  files: Map<string, Uint8Array>;
  out: string;
  err: string;
  text(path: string): string;
}

function fakeIO(files: Record<string, Uint8Array | string> = {}, tick = 1000): FakeIO {
  const enc = new TextEncoder();
  const map = new Map<string, Uint8Array>();
  for (const [k, v] of Object.entries(files)) map.set(k, typeof v === 'string' ? enc.encode(v) : v);
  let clock = 0;
  const io: FakeIO = {
    files: map,
    out: '',
    err: '',
    async readFile(p: string): Promise<Uint8Array> {
      const f = map.get(p);
      if (!f) {
        // What node:fs/promises throws.
        const e = new Error(`ENOENT: no such file or directory, open '${p}'`) as NodeJS.ErrnoException;
        e.code = 'ENOENT';
        e.errno = -2;
        e.syscall = 'open';
        e.path = p;
        throw e;
      }
      return f.slice();
    },
    async writeFile(p: string, data: Uint8Array | string): Promise<void> {
      map.set(p, typeof data === 'string' ? enc.encode(data) : data.slice());
    },
    stdout(t: string): void {
      io.out += t;
    },
    stderr(t: string): void {
      io.err += t;
    },
    now(): number {
      clock += tick;
      return clock;
    },
    text(p: string): string {
      const f = map.get(p);
      if (!f) throw new Error(`${p} was not written`);
      return new TextDecoder().decode(f);
    },
  };
  return io;
}

/** Error output must be exactly one line, with no stack trace anywhere. */
function expectOneLine(io: FakeIO, ...fragments: string[]): void {
  expect(io.err.endsWith('\n'), JSON.stringify(io.err)).toBe(true);
  expect(io.err.trimEnd().split('\n'), JSON.stringify(io.err)).toHaveLength(1);
  for (const f of fragments) expect(io.err).toContain(f);
  expectNoStack(io);
}

function expectNoStack(io: FakeIO): void {
  for (const line of (io.out + io.err).split('\n')) expect(line.startsWith('    at '), line).toBe(false);
}

// ------------------------------------------------------------------------------ fixtures

const ANSWER = 'mov %r0, 6\nmul %r0, 7\nexit\n'; // 42
/** Sums the input bytes: r0 = sum(mem[0..r2)). */
const SUM = `
  mov %r0, 0
  mov %r3, 0
loop:
  jge %r3, %r2, done
  mov %r4, %r1
  add %r4, %r3
  ldxb %r5, [%r4+0]
  add %r0, %r5
  add %r3, 1
  ja loop
done:
  exit
`;
const DATA_FILE = `# a conformance-style test
-- asm
${SUM}
-- mem
01 02 03 04 10
-- result
0x1a
`;

async function runWasm(wasm: Uint8Array, mem?: Uint8Array): Promise<bigint> {
  const inst = await instantiate(wasm);
  return inst.run(mem);
}

// ------------------------------------------------------------------------------ compile

describe('compile', () => {
  it('-o writes a module that runs', async () => {
    const io = fakeIO({ 'p.s': ANSWER });
    expect(await main(['compile', 'p.s', '-o', 'p.wasm'], io)).toBe(0);
    const wasm = io.files.get('p.wasm')!;
    expect(WebAssembly.validate(new Uint8Array(wasm))).toBe(true);
    expect(await runWasm(wasm)).toBe(42n);
    expect(io.err).toBe('');
    expect(io.out.trimEnd().split('\n')).toHaveLength(1);
    expect(io.out).toContain('p.wasm');
  });

  it('--wat writes a .wat next to the module that wabt parses', async () => {
    const io = fakeIO({ 'p.s': ANSWER });
    expect(await main(['compile', 'p.s', '-o', 'out/p.wasm', '--wat'], io)).toBe(0);
    const wat = io.text('out/p.wat');
    expect(wat).toMatch(/^\(module/);
    const mod = wabt.parseWat('p.wat', wat);
    try {
      mod.validate();
      const { buffer } = mod.toBinary({});
      expect(WebAssembly.validate(new Uint8Array(buffer))).toBe(true);
    } finally {
      mod.destroy();
    }
  });

  it('--manifest writes the manifest as JSON', async () => {
    const io = fakeIO({ 'p.s': ANSWER });
    expect(await main(['compile', 'p.s', '-o', 'p.wasm', '--manifest', 'p.json'], io)).toBe(0);
    const manifest = JSON.parse(io.text('p.json')) as { abiVersion: number; programs: Array<{ name: string }>; insnCount: number };
    expect(manifest.abiVersion).toBe(1);
    expect(manifest.programs.map((p) => p.name)).toEqual(['main']);
    expect(manifest.insnCount).toBe(3);
  });

  it('-O0, -O1 and -O2 all produce working modules, and -O2 optimises', async () => {
    // Constant arithmetic -O2 folds away.
    const src = 'mov %r0, 1\nadd %r0, 2\nmul %r0, 3\nlsh %r0, 4\nxor %r0, 5\nsub %r0, 6\nexit\n';
    const sizes: number[] = [];
    for (const o of ['-O0', '-O1', '-O2']) {
      const io = fakeIO({ 'p.s': src });
      expect(await main(['compile', 'p.s', '-o', 'p.wasm', o], io)).toBe(0);
      const wasm = io.files.get('p.wasm')!;
      expect(await runWasm(wasm)).toBe(((9n << 4n) ^ 5n) - 6n);
      sizes.push(wasm.length);
    }
    expect(sizes[2]).toBeLessThan(sizes[0]!);
  });

  it('without -o is a usage error (exit 2)', async () => {
    const io = fakeIO({ 'p.s': ANSWER });
    expect(await main(['compile', 'p.s'], io)).toBe(2);
    expect(io.err).toContain('-o');
    expectNoStack(io);
  });
});

// ------------------------------------------------------------------------------ run

describe('run', () => {
  it('prints r0 in hex', async () => {
    const io = fakeIO({ 'p.s': ANSWER });
    expect(await main(['run', 'p.s'], io)).toBe(0);
    expect(io.out).toBe('0x2a\n');
    expect(io.err).toBe('');
  });

  it('prints the full unsigned 64-bit r0', async () => {
    const io = fakeIO({ 'p.s': 'mov %r0, -2\nexit\n' });
    expect(await main(['run', 'p.s'], io)).toBe(0);
    expect(io.out).toBe('0xfffffffffffffffe\n');
  });

  it('--mem gives the program its input memory', async () => {
    const io = fakeIO({ 'sum.s': SUM, 'in.bin': Uint8Array.from([1, 2, 3, 250]) });
    expect(await main(['run', 'sum.s', '--mem', 'in.bin'], io)).toBe(0);
    expect(io.out).toBe('0x100\n');
  });

  it('a .data file uses its -- mem', async () => {
    const io = fakeIO({ 't.data': DATA_FILE });
    expect(await main(['run', 't.data'], io)).toBe(0);
    expect(io.out).toBe('0x1a\n');
  });

  it('--mem overrides the -- mem of a .data file', async () => {
    const io = fakeIO({ 't.data': DATA_FILE, 'm.bin': Uint8Array.from([5, 5]) });
    expect(await main(['run', 't.data', '--mem', 'm.bin'], io)).toBe(0);
    expect(io.out).toBe('0xa\n');
  });

  it('--repeat N prints the result and a median time from the clock', async () => {
    // The fake clock advances 1000 ns per reading; 62 runs = 31 batches of 2, so 500 ns per run.
    const io = fakeIO({ 'p.s': ANSWER });
    expect(await main(['run', 'p.s', '--repeat', '62'], io)).toBe(0);
    const lines = io.out.trimEnd().split('\n');
    expect(lines[0]).toBe('0x2a');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/median/);
    expect(lines[1]).toMatch(/\b500(\.0+)?\b/);
  });

  it('--json prints {"result", "medianNs"}', async () => {
    const io = fakeIO({ 'p.s': ANSWER });
    expect(await main(['run', 'p.s', '--repeat', '5', '--json'], io)).toBe(0);
    expect(io.out.trimEnd().split('\n')).toHaveLength(1);
    const j = JSON.parse(io.out) as { result: string; medianNs: number };
    expect(j.result).toBe('0x2a');
    expect(j.medianNs).toBe(1000);

    const io2 = fakeIO({ 'p.s': ANSWER });
    expect(await main(['run', 'p.s', '--json'], io2)).toBe(0);
    expect((JSON.parse(io2.out) as { result: string }).result).toBe('0x2a');
  });

  it('--repeat on an object times runs of a packet placed once per batch (as BPF_PROG_TEST_RUN)', async () => {
    const obj = readFileSync(path.join(root, 'test-programs/c/xdp_drop_icmp.o'));
    const pkt = readFileSync(path.join(root, 'test-programs/examples/icmp-echo-request.pkt'));
    const io = fakeIO({ 'x.o': obj, 'p.pkt': pkt });
    expect(await main(['run', 'x.o', '--packet', 'p.pkt', '--repeat', '40', '--json'], io)).toBe(0);
    const j = JSON.parse(io.out) as { result: string; medianNs: number; repeat: number; maps: Record<string, unknown> };
    expect(j.result).toBe('0x1');
    expect(j.repeat).toBe(40);
    expect(Number.isFinite(j.medianNs) && j.medianNs >= 0).toBe(true);
    // Every timed run ran the program: the first run plus 40 repeats dropped 41 packets.
    expect(JSON.stringify(j.maps)).toContain('"41"');
  });

  it('--repeat on an object with --mem copies the context once and times the runs with the clock', async () => {
    const io = fakeIO({ 'x.o': readFileSync(SUM_ELF), 'm.bin': new Uint8Array(16) });
    expect(await main(['run', 'x.o', '--mem', 'm.bin', '--repeat', '62', '--json'], io)).toBe(0);
    expect((JSON.parse(io.out) as { medianNs: number }).medianNs).toBe(500);
  });

  it('-O0 and -O2 give the same result', async () => {
    for (const o of ['-O0', '-O2']) {
      const io = fakeIO({ 't.data': DATA_FILE });
      expect(await main(['run', 't.data', o], io)).toBe(0);
      expect(io.out).toBe('0x1a\n');
    }
  });

  it('--repeat takes a positive whole number', async () => {
    for (const bad of ['0', '-1', '1.5', 'x']) {
      const io = fakeIO({ 'p.s': ANSWER });
      expect(await main(['run', 'p.s', '--repeat', bad], io)).toBe(2);
      expectNoStack(io);
    }
  });
});

// ------------------------------------------------------------------------------ disasm

describe('disasm', () => {
  const SRC = 'mov %r0, 1\nlddw %r1, 0x1122334455667788\nadd32 %r0, %r1\njeq %r0, 3, +1\nstxdw [%r10-8], %r0\nexit\n';

  it('--syntax llvm prints LLVM assembly with addresses', async () => {
    const io = fakeIO({ 'p.s': SRC });
    expect(await main(['disasm', 'p.s', '--syntax', 'llvm'], io)).toBe(0);
    const lines = io.out.trimEnd().split('\n');
    expect(lines).toHaveLength(6);
    expect(lines[0]).toMatch(/^\s*0:\s+r0 = 1$/);
    expect(io.out).toContain('r1 = 0x1122334455667788 ll');
    expect(io.out).toContain('w0 += w1');
    expect(io.out).toContain('*(u64 *)(r10 - 8) = r0');
  });

  it('the default is llvm', async () => {
    const a = fakeIO({ 'p.s': SRC });
    const b = fakeIO({ 'p.s': SRC });
    await main(['disasm', 'p.s'], a);
    await main(['disasm', 'p.s', '--syntax', 'llvm'], b);
    expect(a.out).toBe(b.out);
  });

  it('--syntax conformance reassembles to the same bytes', async () => {
    const bytes = assemble(SRC);
    const inputs: Array<Record<string, Uint8Array | string>> = [{ 'p.bin': bytes }, { 'p.s': SRC }, { 't.data': DATA_FILE }];
    for (const input of inputs) {
      const io = fakeIO(input);
      const name = Object.keys(input)[0]!;
      expect(await main(['disasm', name, '--syntax', 'conformance'], io)).toBe(0);
      const want = name === 't.data' ? assemble(SUM) : bytes;
      expect(Array.from(assemble(io.out))).toEqual(Array.from(want));
    }
  });

  it('--syntax with another value is a usage error', async () => {
    const io = fakeIO({ 'p.s': SRC });
    expect(await main(['disasm', 'p.s', '--syntax', 'intel'], io)).toBe(2);
    expectNoStack(io);
  });
});

// ------------------------------------------------------------------------------ input kinds

describe('input kinds', () => {
  it('raw bytecode, assembly text and a .data file give the same program', async () => {
    const bytes = assemble(SUM);
    const mem = Uint8Array.from([1, 2, 3, 4, 16]);
    for (const [name, content] of [['p.bin', bytes], ['p.s', SUM], ['p.data', DATA_FILE]] as const) {
      const io = fakeIO({ [name]: content, 'm.bin': mem });
      expect(await main(['run', name, '--mem', 'm.bin'], io), name).toBe(0);
      expect(io.out, name).toBe('0x1a\n');
      const c = fakeIO({ [name]: content });
      expect(await main(['compile', name, '-o', 'o.wasm', '-O0'], c)).toBe(0);
      expect(await runWasm(c.files.get('o.wasm')!, mem.slice()), name).toBe(0x1an);
    }
  });

  it('a .data file with only -- raw', async () => {
    const words = Array.from({ length: assemble(ANSWER).length / 8 }, (_, i) =>
      '0x' + new DataView(assemble(ANSWER).buffer).getBigUint64(i * 8, true).toString(16).padStart(16, '0'));
    const io = fakeIO({ 'r.data': `-- raw\n${words.join('\n')}\n-- result\n0x2a\n` });
    expect(await main(['run', 'r.data'], io)).toBe(0);
    expect(io.out).toBe('0x2a\n');
  });

  it('run OBJ --engine interpreter prints what the compiled engine prints (r0, trace, maps)', async () => {
    for (const [name, args] of [['tail_calls', []], ['loop_callback', ['--packet', 'p.bin']]] as const) {
      const obj = new Uint8Array(readFileSync(path.join(root, `test-programs/c/${name}.o`)));
      const outs: string[] = [];
      for (const engine of ['compiled', 'interpreter']) {
        const io = fakeIO({ 'x.o': obj, 'p.bin': new Uint8Array(20) });
        expect(await main(['run', 'x.o', '--engine', engine, ...args], io), `${name} ${engine}`).toBe(0);
        outs.push(io.out);
      }
      expect(outs[1]).toBe(outs[0]);
      expect(outs[0]).toMatch(name === 'tail_calls' ? /execve syscall/ : /iterations: 20, result: 2470/);
    }
  });

  it.skipIf(!existsSync(SUM_ELF))('an ELF object (test-programs/elf/sum.o: 2 * sum + 1)', async () => {
    const elf = new Uint8Array(readFileSync(SUM_ELF));
    const io = fakeIO({ 'sum.o': elf, 'm.bin': Uint8Array.from([1, 2, 3, 4]) });
    expect(await main(['run', 'sum.o', '--mem', 'm.bin'], io)).toBe(0);
    expect(io.out).toBe('0x15\n');
    const d = fakeIO({ 'sum.o': elf });
    expect(await main(['disasm', 'sum.o'], d)).toBe(0);
    expect(d.out).toContain('exit');
    const c = fakeIO({ 'sum.o': elf });
    expect(await main(['compile', 'sum.o', '-o', 'sum.wasm'], c)).toBe(0);
    expect(await runWasm(c.files.get('sum.wasm')!, Uint8Array.from([10, 20]))).toBe(61n);
  });

  it('programs of a clang object by name, with their .text callees linked (test-programs/loader/linked.o)', async () => {
    const obj = new Uint8Array(readFileSync(path.join(root, 'test-programs/loader/linked.o')));
    const files = { 'l.o': obj, 'm.bin': Uint8Array.from([3, 4]) };
    // entry: add_squares(3, 4) + square(len 2) = 29; other: square(len + 1) = 9.
    const first = fakeIO(files);
    expect(await main(['run', 'l.o', '--mem', 'm.bin'], first)).toBe(0);
    expect(first.out).toBe('entry: r0 = 0x1d (29)\n');
    const other = fakeIO(files);
    expect(await main(['run', 'l.o', '--program', 'other', '--mem', 'm.bin'], other)).toBe(0);
    expect(other.out).toBe('other: r0 = 0x9 (9)\n');
    const missing = fakeIO(files);
    expect(await main(['run', 'l.o', '--program', 'nope'], missing)).toBe(1);
    expect(missing.err.trim().split('\n')).toHaveLength(1);
    expect(missing.err).toContain('E_BAD_ARGUMENT');
  });
});

// ------------------------------------------------------------------------------ errors

describe('errors', () => {
  it('a compile error: one line with the code and the instruction, exit 1', async () => {
    const bad = new Uint8Array(24);
    bad.set([0xb7, 0, 0, 0, 0, 0, 0, 0], 0); // mov r0, 0
    bad.set([0x8f, 0x21, 0, 0, 0, 0, 0, 0], 8); // neg with the X bit
    bad.set([0x95, 0, 0, 0, 0, 0, 0, 0], 16); // exit
    for (const cmd of ['compile', 'run']) {
      const io = fakeIO({ 'bad.bin': bad });
      expect(await main(cmd === 'compile' ? [cmd, 'bad.bin', '-o', 'x.wasm'] : [cmd, 'bad.bin'], io)).toBe(1);
      expectOneLine(io, 'E_UNKNOWN_OPCODE', 'insn 1');
      expect(io.files.has('x.wasm')).toBe(false);
    }
  });

  it('a control-flow error', async () => {
    const io = fakeIO({ 'p.s': 'mov %r0, 0\nja +5\nexit\n' });
    expect(await main(['compile', 'p.s', '-o', 'p.wasm'], io)).toBe(1);
    expectOneLine(io, 'E_JUMP_OUT_OF_RANGE', 'insn 1');
  });

  it('an assembly syntax error names the line', async () => {
    const io = fakeIO({ 'p.s': 'mov %r0, 0\n\nfrobnicate %r0\nexit\n' });
    expect(await main(['run', 'p.s'], io)).toBe(1);
    expectOneLine(io, 'E_ASM_SYNTAX', 'line 3');
  });

  it('an assembly syntax error in a .data file names the line of the file', async () => {
    // `frobnicate` is on line 5 of the file (line 3 of the -- asm section).
    const io = fakeIO({ 'p.data': '# header\n-- asm\nmov %r0, 0\n\nfrobnicate %r0\nexit\n-- result\n0x0\n' });
    expect(await main(['run', 'p.data'], io)).toBe(1);
    expectOneLine(io, 'E_ASM_SYNTAX', 'line 5');
  });

  it('a runtime fault: one line with the code and the instruction, exit 1', async () => {
    const io = fakeIO({ 'p.s': 'mov %r0, 0\nlddw %r1, 0x7ff00000\nldxdw %r0, [%r1+0]\nexit\n' });
    expect(await main(['run', 'p.s'], io)).toBe(1);
    expectOneLine(io, 'E_MEMORY_FAULT', 'insn 3');
    expect(io.out).toBe('');
  });

  it('a runtime fault with --repeat and --json still prints one line', async () => {
    const io = fakeIO({ 'p.s': 'mov %r0, 0\nlddw %r1, 0x7ff00000\nldxdw %r0, [%r1+0]\nexit\n' });
    expect(await main(['run', 'p.s', '--repeat', '3', '--json'], io)).toBe(1);
    expectOneLine(io, 'E_MEMORY_FAULT', 'insn 3');
  });

  it('a helper the CLI does not provide', async () => {
    const io = fakeIO({ 'p.s': 'call 1234\nexit\n' });
    expect(await main(['run', 'p.s'], io)).toBe(1);
    expectOneLine(io, 'E_UNKNOWN_HELPER');
  });

  it('an empty file and a truncated one', async () => {
    const empty = fakeIO({ 'e.bin': new Uint8Array(0) });
    expect(await main(['compile', 'e.bin', '-o', 'e.wasm'], empty)).toBe(1);
    expectOneLine(empty, 'E_EMPTY_PROGRAM');
    const trunc = fakeIO({ 't.bin': Uint8Array.from([0x95, 0, 0, 0, 0, 0, 0, 0, 0xb7, 0, 1]) });
    expect(await main(['run', 't.bin'], trunc)).toBe(1);
    expectOneLine(trunc, 'E_TRUNCATED_INPUT');
  });

  it('a broken ELF object', async () => {
    const elf = new Uint8Array(64);
    elf.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
    const io = fakeIO({ 'x.o': elf });
    expect(await main(['run', 'x.o'], io)).toBe(1);
    expectOneLine(io, 'E_BAD_ELF');
  });

  it('a missing file: one line, exit 1', async () => {
    for (const argv of [['run', 'nope.s'], ['compile', 'nope.s', '-o', 'x.wasm'], ['disasm', 'nope.s'], ['run', 'p.s', '--mem', 'nope.bin']]) {
      const io = fakeIO({ 'p.s': ANSWER });
      expect(await main(argv, io), argv.join(' ')).toBe(1);
      expectOneLine(io, 'nope');
      expect(io.out).toBe('');
    }
  });

  it('an unknown command: usage, exit 2', async () => {
    const io = fakeIO();
    expect(await main(['frob', 'x'], io)).toBe(2);
    expect(io.err).toContain('frob');
    expect(io.err).toContain('usage');
    expectNoStack(io);
  });

  it('an unknown option: usage, exit 2', async () => {
    const io = fakeIO({ 'p.s': ANSWER });
    expect(await main(['run', 'p.s', '--frobnicate'], io)).toBe(2);
    expect(io.err).toContain('--frobnicate');
    expect(io.err).toContain('usage');
    expect(io.out).toBe('');
  });

  it('an option without its value, a second input, no input: exit 2', async () => {
    for (const argv of [['run', 'p.s', '--mem'], ['compile', 'p.s', '-o'], ['run', 'p.s', 'q.s'], ['run']]) {
      const io = fakeIO({ 'p.s': ANSWER, 'q.s': ANSWER });
      expect(await main(argv, io), argv.join(' ')).toBe(2);
      expect(io.err).toContain('usage');
      expectNoStack(io);
    }
  });

  it('no command prints usage and exits 2; `help` and `COMMAND --help` exit 0', async () => {
    const none = fakeIO();
    expect(await main([], none)).toBe(2);
    expect(none.out + none.err).toContain('usage');
    for (const argv of [['help'], ['run', '--help'], ['compile', '-h']]) {
      const help = fakeIO();
      expect(await main(argv, help), argv.join(' ')).toBe(0);
      expect(help.out).toContain('usage');
    }
  });

  it('a bare --help (or -h) prints usage and exits 0', async () => {
    for (const argv of [['--help'], ['-h']]) {
      const help = fakeIO();
      expect(await main(argv, help), argv.join(' ')).toBe(0);
      expect(help.out).toContain('usage');
      expect(help.err).toBe('');
    }
  });
});
