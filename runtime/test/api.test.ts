/**
 * The user-facing API (runtime/program.ts over runtime/engine.ts): program handles, test runs,
 * the r0 and buffer conventions, bad arguments, and the defects of issue 8 (re-entry, helper
 * result conversion, run lengths, object-only options, trace streams), on both engines.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { assemble } from '../../compiler/asm/assemble.js';
import { compile, compileObject, type EntryDecl } from '../../compiler/index.js';
import { Bpf2WasmError, ErrorCode } from '../errors.js';
import type { HelperDefinition } from '../helper-registry.js';
import { instantiate } from '../instance.js';
import { interpret } from '../interpreter.js';
import { PinRegistry } from '../pins.js';
import type { BpfInstance } from '../program.js';

const objectBytes = (name: string): Uint8Array =>
  new Uint8Array(readFileSync(new URL(`../../test-programs/c/${name}.o`, import.meta.url)));

type Load = (src: string, helpers?: HelperDefinition[], entries?: EntryDecl[]) => Promise<BpfInstance>;

/** Both engines, loading assembly text with the given helpers and entry points. */
const ENGINES: Array<[string, Load]> = [
  ['compiled', async (src, helpers = [], entries) => {
    const { wasm } = await compile(assemble(src), entries ? { entries } : {});
    return instantiate(wasm, { helpers });
  }],
  ['interpreter', async (src, helpers = [], entries) =>
    interpret(assemble(src), { helpers, ...(entries ? { entries: entries.map((e) => ({ name: e.name, pc: e.pc })) } : {}) })],
];

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof Bpf2WasmError) return e.code;
    throw e;
  }
  throw new Error('expected a typed error, nothing was thrown');
}

async function rejection(p: Promise<unknown>): Promise<Bpf2WasmError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof Bpf2WasmError) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

describe.each(ENGINES)('%s engine: program handles', (_, load) => {
  it('programs in order with name and type; program(name); unknown names are E_BAD_ARGUMENT', async () => {
    const inst = await load('mov %r0, 1\nexit\nmov %r0, 2\nexit', [], [{ name: 'one', pc: 0 }, { name: 'two', pc: 2 }]);
    expect(inst.programs.map((p) => [p.name, p.type])).toEqual([['one', 'raw'], ['two', 'raw']]);
    expect(inst.program().name).toBe('one');
    expect(inst.program('two').run()).toBe(2n);
    expect(inst.run(undefined, { program: 'two' })).toBe(2n);
    expect(codeOf(() => inst.program('three'))).toBe(ErrorCode.BadArgument);
  });

  it('run(ctx): r0 as an unsigned 64-bit bigint; ctx is never modified', async () => {
    const inst = await load('ldxdw %r0, [%r1]\nadd %r0, 1\nstxdw [%r1], %r0\nlddw %r0, -1\nexit');
    const ctx = new Uint8Array(8).fill(5);
    expect(inst.program().run(ctx)).toBe(0xffffffffffffffffn);
    expect(ctx).toEqual(new Uint8Array(8).fill(5));
    expect(inst.lastResult()).toBe(0xffffffffffffffffn);
  });

  it('test(): retval u32, r0 bigint, dataOut a fresh copy after the last of `repeat` runs', async () => {
    const inst = await load('ldxb %r0, [%r1]\nadd %r0, 1\nstxb [%r1], %r0\nlddw %r3, 0x100000000\nor %r0, %r3\nexit');
    const dataIn = Uint8Array.from([10, 20]);
    const t = inst.program().test({ dataIn, repeat: 5 });
    expect([t.retval, t.r0, [...t.dataOut]]).toEqual([15, 0x10000000fn, [15, 20]]);
    expect([...dataIn]).toEqual([10, 20]);
    expect(t.ctxOut).toBeUndefined();
    expect(t.durationNs).toBeGreaterThanOrEqual(0);
    // Raw programs: no context struct, no skb modes; bad repeat counts.
    expect(codeOf(() => inst.program().test({ ctxIn: new Uint8Array(4) }))).toBe(ErrorCode.BadArgument);
    expect(codeOf(() => inst.program().test({ skbData: 'network' }))).toBe(ErrorCode.BadArgument);
    for (const repeat of [-1, 1.5, NaN, 2 ** 32]) expect(codeOf(() => inst.program().test({ repeat }))).toBe(ErrorCode.BadArgument);
  });

  it('a raw program under test() sees its dataIn as plain memory (no xdp_md is built)', async () => {
    const inst = await load('mov %r0, %r2\nexit');
    expect(inst.program().test({ dataIn: new Uint8Array(5) }).r0).toBe(5n);
    expect(inst.program().test().r0).toBe(0n);
  });

  it('runInPlace: the fast path on dataView, low 32 bits unsigned; bad lengths are E_BAD_ARGUMENT', async () => {
    const inst = await load('mov %r0, %r1\nlsh %r0, 32\nor %r0, %r2\nexit');
    inst.dataView(3).set([1, 2, 3]);
    expect(inst.program().runInPlace(3)).toBe(3);
    expect(inst.lastResult()).toBe((BigInt(inst.dataAddress) << 32n) | 3n);
    for (const len of [-1, NaN, 1.5, 2 ** 32, Infinity]) {
      expect(codeOf(() => inst.program().runInPlace(len)), String(len)).toBe(ErrorCode.BadArgument);
    }
  });

  it('a helper that runs the instance again gets E_REENTRANT; the outer run and the instance are intact', async () => {
    let inst: BpfInstance | undefined;
    let inner: unknown;
    let escape = false;
    const helper: HelperDefinition = {
      id: 5,
      fn: () => {
        if (escape) return inst!.program('inner').run();
        try {
          inst!.program('inner').run();
        } catch (e) {
          inner = e;
        }
        return 0n;
      },
    };
    inst = await load('stdw [%r10-8], 7\ncall 5\nldxdw %r0, [%r10-8]\nexit\nstdw [%r10-8], 99\nmov %r0, 0\nexit', [helper], [
      { name: 'outer', pc: 0 }, { name: 'inner', pc: 4 },
    ]);
    expect(inst.program('outer').run()).toBe(7n);
    expect(inner).toBeInstanceOf(Bpf2WasmError);
    expect((inner as Bpf2WasmError).code).toBe(ErrorCode.Reentrant);
    // Usable afterwards; a re-entry error that escapes the helper fails only the outer run.
    expect(inst.program('inner').run()).toBe(0n);
    escape = true;
    expect(codeOf(() => inst!.program('outer').run())).toBe(ErrorCode.Reentrant);
    expect(inst.program('inner').run()).toBe(0n);
  });

  it('a refused nested run leaves the outer run\'s input memory alone', async () => {
    let inst: BpfInstance | undefined;
    let inner: unknown;
    const helper: HelperDefinition = {
      id: 5,
      fn: () => {
        for (const f of [() => inst!.program().run(new Uint8Array([99])), () => inst!.program().test({ dataIn: new Uint8Array([98]) })]) {
          try {
            f();
          } catch (e) {
            inner = e;
          }
        }
        return 0n;
      },
    };
    inst = await load('mov %r6, %r1\ncall 5\nldxb %r0, [%r6]\nexit', [helper]);
    expect(inst.program().run(new Uint8Array([7]))).toBe(7n);
    expect((inner as Bpf2WasmError).code).toBe(ErrorCode.Reentrant);
  });

  it('a generic helper result converts the same through call and callx', async () => {
    for (const [result, expected] of [[5, ErrorCode.HelperFailed], [undefined, ErrorCode.HelperFailed], [5n, 5n], [-1n, 0xffffffffffffffffn]] as const) {
      for (const src of ['call 5\nexit', 'mov %r3, 5\ncallx %r3\nexit']) {
        const inst = await load(src, [{ id: 5, fn: () => result }]);
        const got = typeof expected === 'bigint' ? inst.run() : codeOf(() => inst.run());
        expect(got, `${src.split('\n').join('; ')} returning ${String(result)}`).toBe(expected);
      }
    }
  });
});

describe('instantiate: options for objects only', () => {
  it('a raw module refuses object-only options with E_BAD_ARGUMENT', async () => {
    const { wasm } = await compile(assemble('mov %r0, 0\nexit'));
    const bad = [{ globals: { x: 1 } }, { pins: new PinRegistry() }, { env: {} }, { trace: (): void => {} }, { kfuncs: {} }];
    for (const options of bad) {
      expect((await rejection(instantiate(wasm, options))).code, Object.keys(options)[0]).toBe(ErrorCode.BadArgument);
    }
    expect((await instantiate(wasm, { helpers: [] })).run()).toBe(0n);
    // Parts of an object on a raw module: typed errors, not crashes.
    const inst = await instantiate(wasm);
    expect(inst.maps.size).toBe(0);
    for (const f of [() => inst.map('m'), () => inst.ringbuf('r'), () => inst.perfbuf('p'), () => inst.trace]) {
      expect(codeOf(f)).toBe(ErrorCode.BadArgument);
    }
  });
});

describe('objects: handles, test runs of packet programs, trace stream', () => {
  it('xdp: test() builds the xdp_md, returns ctxOut and the packet; ctxIn sets the ingress ifindex', async () => {
    const c = await compileObject(objectBytes('xdp_drop_icmp'));
    const inst = await instantiate(c.wasm);
    const prog = inst.programs[0]!;
    expect(prog.type).toBe('xdp');
    expect(prog.section).toBe('xdp');
    const packet = new Uint8Array(60);
    const t = prog.test({ dataIn: packet, repeat: 3 });
    expect(t.retval).toBe(2);
    expect(t.dataOut).toEqual(packet);
    expect(t.dataOut).not.toBe(packet);
    // As the kernel: a context comes out only when one went in.
    expect(t.ctxOut).toBeUndefined();
    // xdp_md in: data_end = the frame's length, the loopback device (ifindex 1).
    const ctxIn = new Uint8Array(24);
    new DataView(ctxIn.buffer).setUint32(4, packet.length, true);
    new DataView(ctxIn.buffer).setUint32(12, 1, true);
    const before = ctxIn.slice();
    const withCtx = prog.test({ dataIn: packet, ctxIn });
    expect(withCtx.ctxOut).toHaveLength(24);
    expect(new DataView(withCtx.ctxOut!.buffer).getUint32(12, true)).toBe(1);
    expect(ctxIn).toEqual(before);
    // What BPF_PROG_TEST_RUN refuses: a device that does not exist (ENODEV), data past data_end
    // (EINVAL), a longer context with non-zero bytes past the struct (E2BIG).
    const other = ctxIn.slice();
    new DataView(other.buffer).setUint32(12, 7, true);
    expect(codeOf(() => prog.test({ dataIn: packet, ctxIn: other }))).toBe(ErrorCode.TestRun);
    const withData = new Uint8Array(24);
    withData[0] = 1;
    expect(codeOf(() => prog.test({ dataIn: packet, ctxIn: withData }))).toBe(ErrorCode.TestRun);
    const longer = new Uint8Array(25);
    longer.set(ctxIn);
    longer[24] = 1;
    expect(codeOf(() => prog.test({ dataIn: packet, ctxIn: longer }))).toBe(ErrorCode.TestRun);
    expect(codeOf(() => prog.test({ dataIn: packet, skbData: 'mac' }))).toBe(ErrorCode.BadArgument);
  });

  it('socket filter: skbData network (default, as the kernel) starts at the network header, mac at the Ethernet header', async () => {
    const c = await compileObject(objectBytes('socket_filter'));
    const inst = await instantiate(c.wasm);
    const prog = inst.programs[0]!;
    expect(prog.type).toBe('socket');
    // TCP to port 22: the filter keeps skb->len bytes.
    const packet = new Uint8Array(64);
    packet.set([0x08, 0x00], 12);
    packet.set([0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6], 14);
    packet.set([0, 80, 0, 22], 34);
    const network = prog.test({ dataIn: packet });
    const mac = prog.test({ dataIn: packet, skbData: 'mac' });
    // ssh_filter parses from the Ethernet header: a SOCK_RAW socket's view keeps the frame, the
    // network-header view (no Ethernet header to find) keeps nothing.
    expect([network.retval, mac.retval]).toEqual([0, 64]);
    // The kernel puts a zeroed Ethernet header back in front after a network-header run.
    const expected = packet.slice();
    expected.fill(0, 0, 14);
    expect(network.dataOut).toEqual(expected);
    expect(mac.dataOut).toEqual(packet);
    expect(codeOf(() => prog.test({ dataIn: new Uint8Array(10) }))).toBe(ErrorCode.TestRun);
    expect(codeOf(() => prog.test({ dataIn: packet, skbData: 'l3' as never }))).toBe(ErrorCode.BadArgument);
  });

  it('trace.lines(): two pending next() calls both resolve, in order', async () => {
    const c = await compileObject(objectBytes('printk'));
    const inst = await instantiate(c.wasm, { trace: () => {} });
    const lines = inst.trace.lines();
    const first = lines.next();
    const second = lines.next();
    inst.program().test({ dataIn: new Uint8Array(64) });
    const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('timed out'), 2000));
    const got = await Promise.race([Promise.all([first, second]).then((r) => r.map((x) => x.value).join(' | ')), timeout]);
    expect(got).toBe('Helloworld 1 | no arguments');
    await lines.return!();
    expect(await lines.next()).toEqual({ value: undefined, done: true });
  });

  it('typed map access: map<K, V>(name)', async () => {
    const c = await compileObject(objectBytes('xdp_drop_icmp'));
    const inst = await instantiate(c.wasm);
    const drops = inst.map<number, bigint[]>('drops');
    const v: bigint[] | undefined = drops.get(0);
    expect(v).toEqual([0n]);
    expect(inst.maps.get('drops')).toBe(drops);
  });
});
