/**
 * Spawns scripts/conformance-plugin the way bpf_conformance_runner does (MEM_HEX and options as
 * arguments, the program as hex on stdin) and checks its output and exit status.
 *
 * The plugin runs the built package: these tests need `npm run build` (done by `npm ci`'s
 * prepare script) and are skipped, with a warning, when dist/ is missing.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runnerStyleObject } from '../../test/support/elf-writer.js';
import { elfFixture, ROOT as root } from '../../test/support/fixtures.js';
import { slotBytes } from '../../test/support/slots.js';

const plugin = path.join(root, 'scripts/conformance-plugin');
const built = ['dist/compiler/index.js', 'dist/runtime/index.js', 'dist/compiler/elf/extract.js'].every((f) =>
  existsSync(path.join(root, f)),
);
if (!built) console.warn('conformance-plugin tests skipped: dist/ is not built (run npm run build)');

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function run(args: string[], stdin: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(plugin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr, ms: performance.now() - t0 }));
    child.stdin.end(stdin);
  });
}

/** Bytes as the runner writes them: two hex digits and whitespace per byte. */
const hex = (bytes: ArrayLike<number>): string => Array.from(bytes, (b) => b.toString(16).padStart(2, '0') + ' ').join(' ');

const insn = slotBytes;
const EXIT = insn(0x95, 0, 0, 0);
const MOV_R0_42 = insn(0xb7, 0x00, 0, 42);

const fixture = elfFixture;

function expectSuccess(r: Result, value: string): void {
  expect(r.stderr).toBe('');
  expect(r.stdout).toBe(`${value}\n`);
  expect(r.status).toBe(0);
}

/** Exit 1, exactly one line of output, no stack trace. Returns the line. */
function expectFailure(r: Result): string {
  expect(r.status).toBe(1);
  const text = (r.stdout + r.stderr).trimEnd();
  expect(text.split('\n')).toHaveLength(1);
  expect(text).not.toMatch(/^\s+at /m);
  expect(text).not.toMatch(/\.js:\d+/);
  expect(text.length).toBeGreaterThan(0);
  return text;
}

describe.skipIf(!built).concurrent('conformance-plugin', () => {
  it('runs a plain program', async () => {
    expectSuccess(await run([], hex([...MOV_R0_42, ...EXIT]) + '\n'), '0x2a');
  });

  it('prints the full unsigned 64-bit r0', async () => {
    const lddw = [0x18, 0x00, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80]; // r0 = 0x8000000000000001
    expectSuccess(await run([], hex([...lddw, ...EXIT])), '0x8000000000000001');
    const neg = insn(0xb7, 0x00, 0, -1); // r0 = -1
    expectSuccess(await run([], hex([...neg, ...EXIT])), '0xffffffffffffffff');
  });

  it('passes memory in r1 and its length in r2', async () => {
    const ldxw = insn(0x61, 0x10, 0, 0); // r0 = *(u32 *)(r1 + 0)
    expectSuccess(await run(['78 56 34 12 ff'], hex([...ldxw, ...EXIT])), '0x12345678');
    const movR2 = insn(0xbf, 0x20, 0, 0); // r0 = r2
    expectSuccess(await run(['00  01  02  03  04  '], hex([...movR2, ...EXIT])), '0x5');
    const movR1 = insn(0xbf, 0x10, 0, 0); // r0 = r1 (0 without memory)
    expectSuccess(await run([], hex([...movR1, ...EXIT])), '0x0');
  });

  it('accepts the empty memory and option arguments older runners pass', async () => {
    expectSuccess(await run(['', ''], hex([...MOV_R0_42, ...EXIT])), '0x2a');
  });

  it('provides helper 5, which returns its first argument', async () => {
    const code = [...insn(0xb7, 0x01, 0, 0x77), ...insn(0x85, 0, 0, 5), ...EXIT];
    expectSuccess(await run([], hex(code)), '0x77');
  });

  it('--elf: runs .text/main of the object the runner writes', async () => {
    const elf = runnerStyleObject([...insn(0xb7, 0x01, 0, 7), ...insn(0x85, 0, 0, 5), ...insn(0x07, 0x00, 0, 1), ...EXIT]);
    expectSuccess(await run(['--elf'], hex(elf)), '0x8');
  });

  it('--elf: runs clang objects, with memory and options in one argument', async () => {
    // sum.c: 2 * (sum of the input bytes) + 1, through a static bpf-to-bpf call.
    expectSuccess(await run(['01 02 03 0a', '--timeout 30000 --elf'], hex(fixture('sum.o'))), '0x21');
    expectSuccess(await run(['--elf'], hex(fixture('helper.o'))), '0x1235');
    expectSuccess(await run(['05', '--elf'], hex(fixture('sum.be.o'))), '0xb');
  });

  it('--elf: rejects a malformed or unsupported object with one line', async () => {
    const truncated = fixture('helper.o').subarray(0, 100);
    expect(expectFailure(await run(['--elf'], hex(truncated)))).toMatch(/^E_BAD_ELF/);
    expect(expectFailure(await run(['--elf'], hex(fixture('globals.o'))))).toMatch(/^E_UNSUPPORTED.*relocation/);
    expect(expectFailure(await run(['--elf'], hex([...MOV_R0_42, ...EXIT])))).toMatch(/^E_BAD_ELF.*not an ELF file/);
  });

  it('rejects a malformed program with one line and no stack trace', async () => {
    expect(expectFailure(await run([], hex([0xff, 0, 0, 0, 0, 0, 0, 0])))).toMatch(/^E_UNKNOWN_OPCODE/);
    expectFailure(await run([], hex([...MOV_R0_42, 0x95, 0, 0]))); // not a whole instruction
    expectFailure(await run([], hex(MOV_R0_42))); // falls off the end
    expectFailure(await run([], ''));
    expect(expectFailure(await run([], 'b7 00 zz'))).toContain("'zz'");
    expect(expectFailure(await run(['12 3'], hex([...MOV_R0_42, ...EXIT])))).toContain('memory');
  });

  it('fails cleanly on a runtime fault', async () => {
    // r2 = r1 + 0x7fffffff; r0 = *(u64 *)(r2 + 0): far outside linear memory.
    const fault = [...insn(0xb7, 0x02, 0, 0x7fffffff), ...insn(0x0f, 0x12, 0, 0), ...insn(0x79, 0x20, 0, 0), ...EXIT];
    expect(expectFailure(await run(['00 00 00 00 00 00 00 00'], hex(fault)))).toMatch(/^E_MEMORY_FAULT/);
    // callx to a helper the plugin does not provide.
    const callx = [...insn(0xb7, 0x02, 0, 99), ...insn(0x8d, 0x02, 0, 0), ...EXIT];
    expect(expectFailure(await run([], hex(callx)))).toMatch(/^E_UNKNOWN_HELPER/);
  });

  it('rejects unknown options', async () => {
    expect(expectFailure(await run(['--frobnicate'], hex([...MOV_R0_42, ...EXIT])))).toContain('--frobnicate');
    expectFailure(await run(['--timeout', 'soon'], hex([...MOV_R0_42, ...EXIT])));
  });

  it('bounds a program that never ends with --timeout', async () => {
    const loop = [...insn(0x05, 0, -1, 0), ...EXIT]; // ja -1
    const r = await run(['--timeout', '1000'], hex(loop));
    expect(expectFailure(r)).toMatch(/^timeout/);
    expect(r.ms).toBeLessThan(15_000);
  });
});
