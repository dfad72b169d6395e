/**
 * WAT snapshots of a few small programs at -O0 and -O1, so that changes in code generation show
 * up in review as a readable diff. Update them with `npx vitest run -u compiler/test/snapshots.test.ts`
 * after checking the diff.
 *
 * The text is wabt's rendering of the module with its custom sections (manifest, instruction map,
 * names) removed. A snapshot never replaces running the module: every program is also run.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { concatBytes } from '../../test/support/slots.js';
import { assemble } from '../asm/assemble.js';
import { compile, type OptLevel } from '../index.js';
import { instantiate, type HelperDefinition } from '../../runtime/index.js';

const loadWabt = async () => (await import('wabt')).default();
let wabt: Awaited<ReturnType<typeof loadWabt>>;
beforeAll(async () => {
  wabt = await loadWabt();
});

/** Reads an unsigned LEB128 at `at`; returns the value and the position after it. */
function leb(bytes: Uint8Array, at: number): [number, number] {
  let v = 0;
  let shift = 0;
  for (;;) {
    const b = bytes[at++]!;
    v += (b & 0x7f) * 2 ** shift;
    if (!(b & 0x80)) return [v, at];
    shift += 7;
  }
}

/** The module without custom sections (id 0). */
function stripCustomSections(wasm: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [wasm.subarray(0, 8)];
  for (let at = 8; at < wasm.length; ) {
    const start = at;
    const id = wasm[at]!;
    const [size, body] = leb(wasm, at + 1);
    at = body + size;
    if (id !== 0) parts.push(wasm.subarray(start, at));
  }
  return concatBytes(...parts);
}

function toWat(wasm: Uint8Array): string {
  const mod = wabt.readWasm(stripCustomSections(wasm), { readDebugNames: false });
  try {
    mod.validate();
    mod.generateNames();
    mod.applyNames();
    return mod.toText({ foldExprs: false, inlineExport: false });
  } finally {
    mod.destroy();
  }
}

interface Sample {
  name: string;
  src: string;
  mem?: number[];
  helpers?: HelperDefinition[];
  result: bigint;
}

const SAMPLES: Sample[] = [
  {
    name: 'straight-line',
    src: 'mov %r0, 6\nmul %r0, 7\nmov32 %r1, -1\nadd %r0, %r1\nexit',
    result: 42n + 0xffff_ffffn,
  },
  {
    // A loop over the input with a byte load: r0 = sum of the bytes.
    name: 'loop-sum',
    src: `
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
      exit`,
    mem: [1, 2, 3, 250],
    result: 256n,
  },
  {
    // A bpf-to-bpf call, a helper call, division by a register and the stack.
    name: 'calls',
    src: `
      mov %r1, 100
      mov %r6, 7
      call local f
      add %r0, %r6
      exit
    f:
      stxdw [%r10-8], %r1
      mov %r1, 3
      call 5
      ldxdw %r2, [%r10-8]
      div %r2, %r0
      mov %r0, %r2
      exit`,
    helpers: [{ id: 5, fn: (a: bigint): bigint => a }],
    result: 33n + 7n,
  },
  {
    // Signed division and modulo, a byte swap and an atomic on the stack.
    name: 'alu-atomic',
    src: `
      mov %r1, -7
      mov %r2, 2
      mov %r3, %r1
      sdiv %r3, %r2
      smod %r1, %r2
      be16 %r3
      stdw [%r10-8], 40
      lock fetch add [%r10-8], %r2
      ldxdw %r0, [%r10-8]
      add %r0, %r2
      add %r0, %r1
      add %r0, %r3
      exit`,
    // sdiv: -3 -> be16 of 0xfffd = 0xfdff; smod: -1; memory 42, r2 = 40 -> 42 + 40 - 1 + 0xfdff
    result: 42n + 40n - 1n + 0xfdffn,
  },
];

describe.each([0, 1] as OptLevel[])('-O%i', (optLevel) => {
  it.each(SAMPLES)('$name', async (s) => {
    const { wasm } = await compile(assemble(s.src), { optLevel });
    await expect(toWat(wasm)).toMatchFileSnapshot(`__snapshots__/${s.name}.O${optLevel}.wat`);
    const inst = await instantiate(wasm, { helpers: s.helpers ?? [] });
    const r0 = inst.run(s.mem ? Uint8Array.from(s.mem) : undefined);
    expect(r0).toBe(s.result);
  });
});

it('stripCustomSections keeps the module valid and drops only custom sections', async () => {
  const { wasm } = await compile(assemble(SAMPLES[0]!.src), { optLevel: 0 });
  const stripped = stripCustomSections(wasm);
  expect(WebAssembly.validate(new Uint8Array(stripped))).toBe(true);
  expect(WebAssembly.Module.customSections(new WebAssembly.Module(new Uint8Array(stripped)), 'bpf2wasm.manifest')).toHaveLength(0);
  expect(WebAssembly.Module.customSections(new WebAssembly.Module(new Uint8Array(wasm)), 'bpf2wasm.manifest')).toHaveLength(1);
});
