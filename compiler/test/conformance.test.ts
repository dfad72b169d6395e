/**
 * The shared bpf_conformance suite, end to end: every `.data` file in ../shared/conformance/tests
 * goes through assemble -> compile -> instantiate -> run at -O0, -O1 and -O2, and r0 is compared
 * with `-- result` (unsigned 64-bit). Files with `-- error` must fail with a Bpf2WasmError (at
 * compile or run time). Every emitted module must also pass WebAssembly.validate and wabt's
 * validator.
 *
 * The files are read where they are at test time, never copied into the project. Without the
 * shared folder the suite says so and skips; an existing but empty folder fails.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { CONFORMANCE_DIR, CONFORMANCE_FILES, HAVE_CONFORMANCE, NO_CONFORMANCE, readConformance } from '../../test/support/conformance.js';
import { assemble } from '../asm/assemble.js';
import type { DataFile } from '../asm/datafile.js';
import { compile, type OptLevel } from '../index.js';
import { Bpf2WasmError, instantiate, type HelperDefinition } from '../../runtime/index.js';

const FILES = CONFORMANCE_FILES;
const OPT_LEVELS: readonly OptLevel[] = [0, 1, 2];

/** Helper 5 returns its first argument (the suite's contract); the generic signature passes signed bigints. */
const HELPERS: HelperDefinition[] = [{ id: 5, fn: (a: bigint): bigint => a }];

const loadWabt = async () => (await import('wabt')).default();
let wabt: Awaited<ReturnType<typeof loadWabt>>;

beforeAll(async () => {
  wabt = await loadWabt();
});

function hex(v: bigint): string {
  return '0x' + v.toString(16);
}

/** Throws if wabt's validator rejects the module. */
function wabtValidate(wasm: Uint8Array): void {
  const mod = wabt.readWasm(wasm, {});
  try {
    mod.validate();
  } finally {
    mod.destroy();
  }
}

interface Case {
  name: string;
  data: DataFile;
}

const cache = new Map<string, Case>();
function load(name: string): Case {
  let c = cache.get(name);
  if (!c) {
    c = { name, data: readConformance(name) };
    cache.set(name, c);
  }
  return c;
}

function programBytes(data: DataFile): Uint8Array {
  if (data.asm !== undefined) return assemble(data.asm);
  if (data.raw !== undefined) return data.raw;
  throw new Error('the file has neither -- asm nor -- raw');
}

describe('conformance suite (../shared/conformance/tests)', () => {
  if (!HAVE_CONFORMANCE) {
    // Say so in the report instead of passing silently.
    it.skipIf(true)(NO_CONFORMANCE, () => {});
    return;
  }

  it('the folder holds .data files', () => {
    // An existing but empty folder is a broken checkout, not a passing suite.
    expect(FILES.length, `${CONFORMANCE_DIR} exists but holds no .data files`).toBeGreaterThan(0);
  });

  it('every file has a program and exactly one of -- result / -- error', () => {
    for (const name of FILES) {
      const { data } = load(name);
      expect(data.asm !== undefined || data.raw !== undefined, `${name}: no program`).toBe(true);
      expect((data.result !== undefined) !== (data.error !== undefined), `${name}: result xor error`).toBe(true);
    }
  });

  describe.each(OPT_LEVELS)('-O%i', (optLevel) => {
    it.each(FILES)('%s', async (name) => {
      const { data } = load(name);
      if (data.error !== undefined) {
        // Must be rejected or fail, and only with one of our typed errors.
        let thrown: unknown;
        let result: bigint | undefined;
        try {
          const { wasm } = await compile(programBytes(data), { optLevel });
          expect(WebAssembly.validate(new Uint8Array(wasm))).toBe(true);
          wabtValidate(wasm);
          const inst = await instantiate(wasm, { helpers: HELPERS });
          result = inst.run(data.mem ? data.mem.slice() : undefined);
        } catch (e) {
          thrown = e;
        }
        expect(thrown, `${name} should fail (${data.error}) but returned ${result === undefined ? '?' : hex(result)}`)
          .toBeInstanceOf(Bpf2WasmError);
        return;
      }
      const { wasm } = await compile(programBytes(data), { optLevel });
      expect(WebAssembly.validate(new Uint8Array(wasm)), 'WebAssembly.validate').toBe(true);
      wabtValidate(wasm);
      const inst = await instantiate(wasm, { helpers: HELPERS });
      const r0 = inst.run(data.mem ? data.mem.slice() : undefined);
      expect(hex(r0)).toBe(hex(data.result!));
    });
  });
});
