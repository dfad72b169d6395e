/**
 * The run-time benchmark kernels: where their eBPF code comes from and what input they get.
 *
 * The sources are test-programs/bench/<name>.c; the committed objects test-programs/bench/<name>.o
 * (rebuilt by scripts/build-bench.sh) hold each kernel as the global function `bench_<name>` in
 * `.text`. The same input bytes go to the Wasm run and to the native harness (scripts/bench/native.c).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseElf } from '../../compiler/elf/elf64.js';
import { extractProgram } from '../../compiler/elf/extract.js';
import { Rng } from './genprog.js';

export interface Kernel {
  name: string;
  /** What it computes, for the table. */
  description: string;
  /** Builds the input memory (deterministic). */
  input(quick: boolean): Uint8Array;
}

const MiB = 1 << 20;

export const KERNELS: readonly Kernel[] = [
  {
    name: 'primes',
    description: 'count primes < 10^4, trial division',
    input: () => {
      const mem = new Uint8Array(8);
      new DataView(mem.buffer).setBigUint64(0, 10_000n, true);
      return mem;
    },
  },
  {
    name: 'log2',
    description: 'sum of floor(log2 x) over u64 array',
    input: (quick) => {
      const count = quick ? 4096 : 65536;
      const mem = new Uint8Array(count * 8);
      const view = new DataView(mem.buffer);
      const rng = new Rng(0x1092);
      for (let i = 0; i < count; i++) {
        // Spread the magnitudes evenly over all 64 bit lengths (and a few zeros).
        const v = (BigInt(rng.next()) << 32n) | BigInt(rng.next());
        const bits = rng.int(0, 64);
        view.setBigUint64(i * 8, bits === 0 ? 0n : (v | (1n << 63n)) >> BigInt(64 - bits), true);
      }
      return mem;
    },
  },
  {
    name: 'switch',
    description: '64-way switch over u32 array',
    input: (quick) => {
      const count = quick ? 4096 : 65536;
      const mem = new Uint8Array(count * 4);
      const view = new DataView(mem.buffer);
      const rng = new Rng(0x5717c4);
      for (let i = 0; i < count; i++) view.setUint32(i * 4, rng.next(), true);
      return mem;
    },
  },
  {
    name: 'memcpy',
    description: 'copy 1 MiB byte by byte',
    input: () => {
      const mem = new Uint8Array(2 * MiB);
      for (let i = 0; i < MiB; i++) mem[i] = (i * 31 + 7) & 0xff;
      return mem;
    },
  },
  {
    name: 'strcmp',
    description: 'compare two equal 1 MiB strings',
    input: () => {
      const mem = new Uint8Array(2 * MiB);
      for (let i = 0; i < MiB; i++) {
        const b = ((i * 131 + 17) % 255) + 1; // never NUL
        mem[i] = b;
        mem[MiB + i] = b;
      }
      return mem;
    },
  },
];

/** Directory of the kernel sources and objects. */
export function kernelDir(root: string): string {
  return path.join(root, 'test-programs', 'bench');
}

/** The raw instruction bytes of `bench_<name>` from the committed object. */
export async function loadKernel(root: string, name: string): Promise<Uint8Array> {
  const bytes = await readFile(path.join(kernelDir(root), `${name}.o`));
  const elf = parseElf(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  return extractProgram(elf, { section: '.text', symbol: `bench_${name}` });
}
