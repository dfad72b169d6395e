/**
 * The kernel as the reference for the users' seed program 001 (test-programs/c/ksyscall_hello.c,
 * `SEC("ksyscall/execve") BPF_KPROBE_SYSCALL(hello, ...)`): where root, gcc and libbpf are
 * available, a small libbpf loader (test/support/ksyscall-loader.c, built here) attaches the
 * program in the kernel, calls execve on a path that does not exist (the probe runs at the
 * syscall's entry), adds a my_config entry for its uid, calls execve again, and prints the two
 * perf records its own execve calls caused. bpf2wasm runs `hello` on the pt_regs the syscall's
 * wrapper gets (its di pointing to the syscall's registers, their di to the path), with the
 * loader's pid, uid and comm as the host environment: the records must be the same bytes.
 *
 * A kernel built without kprobes (this project's kernel: CONFIG_KPROBES is not set) loads the
 * program but cannot attach it. The test then says so and attaches ksyscall_rawtp.c's
 * `hello_raw` instead: the same body (BPF_KPROBE_SYSCALL's ____hello) behind the raw tracepoint
 * sys_enter, which gets the syscall's pt_regs directly (compiler/test/programs.test.ts checks
 * that bpf2wasm gives both programs' records alike). Where neither attaches, or without root,
 * gcc or libbpf, it says why and skips.
 *
 * Host-dependent fields are checked for what they are: pid is the loader's (positive), uid its
 * uid, comm the name it gave itself. Everything else is deterministic and compared as is:
 * the message (the default, then the my_config entry), the path cut to 15 bytes and its NUL,
 * the zero padding, the record's size.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileObject } from '../../compiler/object/compile-object.js';
import { repoPath } from '../../test/support/fixtures.js';
import { instantiate } from '../instance.js';
import { PtRegs } from '../uapi/index.js';

/** The path the loader passes to execve (no such file: the call fails after the probe ran). */
const EXEC_PATH = '/tmp/bpf2wasm-ksyscall-oracle/no-such-program';
/** The loader's comm (at most 15 bytes). */
const COMM = 'bpf2wasm-kx';

const work = mkdtempSync(path.join(tmpdir(), 'bpf2wasm-ksyscall-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** What the loader printed: its pid and uid and the records of its own execve calls. */
interface KernelRecords { program: string; pid: number; uid: number; records: Uint8Array[] }

/** Builds the loader; returns its path or why it cannot be built. */
function buildLoader(): string | { skip: string } {
  if (process.platform !== 'linux' || process.arch !== 'x64') return { skip: 'not Linux on x86-64' };
  if (process.getuid?.() !== 0) return { skip: 'not root' };
  if (!existsSync('/usr/include/bpf/libbpf.h')) return { skip: 'no libbpf headers (apt-get install libbpf-dev)' };
  const exe = path.join(work, 'ksyscall-loader');
  const cc = spawnSync(process.env.CC ?? 'gcc', ['-O1', '-Wall', '-Werror', '-o', exe, repoPath('test/support/ksyscall-loader.c'), '-lbpf'], { encoding: 'utf8', timeout: 60_000 });
  if (cc.status !== 0) return { skip: `the loader did not build: ${(cc.stderr || String(cc.error)).split('\n')[0]}` };
  return exe;
}

/** Runs the loader on `program` of `object`: the records, or why the kernel refused. */
function kernelRecords(exe: string, object: string, program: string): KernelRecords | { refused: string } {
  const r = spawnSync(exe, [repoPath(`test-programs/c/${object}`), program, EXEC_PATH, COMM], { encoding: 'utf8', timeout: 20_000 });
  const lines = (r.stdout ?? '').split('\n');
  if (r.status === 3) {
    const why = lines.find((l) => l.startsWith('refused: '))?.slice(9) ?? '';
    const noKprobes = program === 'hello' && why.startsWith('attach') && !existsSync('/sys/bus/event_source/devices/kprobe') ? ' (no kprobe PMU: the kernel is built without CONFIG_KPROBES)' : '';
    return { refused: `${object} ${program}: ${why}${noKprobes}` };
  }
  if (r.status !== 0) throw new Error(`ksyscall-loader ${object} ${program} failed (${String(r.status ?? r.error)}): ${r.stdout}${r.stderr}`);
  const self = lines.find((l) => l.startsWith('self '))!.split(' ');
  const records = lines.filter((l) => l.startsWith('record ')).map((l) => {
    const [, size, hex] = l.split(' ');
    const b = new Uint8Array(Buffer.from(hex!, 'hex'));
    expect(b.length).toBe(Number(size));
    return b;
  });
  return { program, pid: Number(self[1]), uid: Number(self[2]), records };
}

/** The kernel's records: from `hello` itself where the kernel attaches it, else from `hello_raw`; or why neither. */
function fromKernel(): KernelRecords | { skip: string } {
  const exe = buildLoader();
  if (typeof exe !== 'string') return exe;
  const own = kernelRecords(exe, 'ksyscall_hello.o', 'hello');
  if (!('refused' in own)) return own;
  const twin = kernelRecords(exe, 'ksyscall_rawtp.o', 'hello_raw');
  if (!('refused' in twin)) {
    console.log(`ksyscall-oracle.test.ts: the kernel refused ${own.refused}; compared through ksyscall_rawtp.o's hello_raw (the same body behind raw_tp/sys_enter)`);
    return twin;
  }
  return { skip: `the kernel refused ${own.refused} and ${twin.refused}` };
}

const kernel = fromKernel();
const SKIP = `skipped: the ksyscall oracle needs root, gcc, libbpf and a kernel that attaches the program (${'skip' in kernel ? kernel.skip : ''})`;
if ('skip' in kernel) console.log(`ksyscall-oracle.test.ts: ${SKIP}`);

/** A struct pt_regs (x86-64, 168 bytes) with the given registers. */
function regs(values: Partial<Record<keyof typeof PtRegs, bigint>>): Uint8Array {
  const b = new Uint8Array(PtRegs.SIZE);
  const v = new DataView(b.buffer);
  for (const [name, value] of Object.entries(values)) v.setBigUint64(PtRegs[name as keyof typeof PtRegs], value, true);
  return b;
}

const cstring = (b: Uint8Array): string => new TextDecoder().decode(b.subarray(0, b.indexOf(0) < 0 ? b.length : b.indexOf(0)));

describe('ksyscall_hello (seed 001): the kernel\'s perf records vs bpf2wasm\'s', () => {
  if ('skip' in kernel) {
    it.skipIf(true)(SKIP, () => {});
    return;
  }
  it(`two execve calls of ${EXEC_PATH}: the default message, then my_config's; records equal byte for byte`, async () => {
    // The host-dependent fields: the loader's pid and uid, the comm it gave itself.
    expect(kernel.pid).toBeGreaterThan(0);
    expect(kernel.records.length).toBe(2);
    const fields = kernel.records.map((b) => {
      const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
      return { pid: v.getInt32(0, true), uid: v.getInt32(4, true), comm: cstring(b.subarray(8, 24)), message: cstring(b.subarray(24, 36)), path: cstring(b.subarray(36, 52)) };
    });
    const host = { pid: kernel.pid, uid: kernel.uid, comm: COMM };
    expect(fields).toEqual([
      { ...host, message: 'Hello World', path: EXEC_PATH.slice(0, 15) },
      { ...host, message: 'hi from cfg', path: EXEC_PATH.slice(0, 15) },
    ]);

    // bpf2wasm: the wrapper's pt_regs, their di at the syscall's registers, whose di is at the path.
    const innerAt = 0xffff_c900_0042_7f58n;
    const pathAt = 0x7ffd_1234_0000n;
    const inner = regs({ di: pathAt, si: 0x7ffd_1234_1000n });
    const pathBytes = new TextEncoder().encode(`${EXEC_PATH}\0`);
    const env = {
      pid: kernel.pid, tgid: kernel.pid, uid: kernel.uid, gid: 0, comm: COMM,
      probeRead: (address: bigint, length: number): Uint8Array | undefined => {
        const inRegs = Number(address - innerAt);
        if (inRegs >= 0 && inRegs + length <= inner.length) return inner.slice(inRegs, inRegs + length);
        const inPath = Number(address - pathAt);
        if (inPath >= 0 && inPath < pathBytes.length) return pathBytes.slice(inPath, Math.min(pathBytes.length, inPath + length));
        return undefined;
      },
    };
    const { wasm } = await compileObject(new Uint8Array(readFileSync(repoPath('test-programs/c/ksyscall_hello.o'))));
    const inst = await instantiate(wasm, { env });
    const ours: Uint8Array[] = [];
    inst.perfbuf('output').onRecord((data) => ours.push(data.slice()));
    const ctx = regs({ di: innerAt });
    expect(inst.program('hello').run(ctx)).toBe(0n);
    const key = new Uint8Array(4);
    new DataView(key.buffer).setUint32(0, kernel.uid, true);
    inst.map('my_config').updateRaw(key, new TextEncoder().encode('hi from cfg\0'));
    expect(inst.program('hello').run(ctx)).toBe(0n);
    inst.perfbuf('output').consume();
    const hex = (bs: Uint8Array[]): string[] => bs.map((b) => Buffer.from(b).toString('hex'));
    expect(hex(ours)).toEqual(hex(kernel.records));
  }, 60_000);
});
