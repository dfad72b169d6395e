/**
 * Builds and runs the native harness (scripts/bench/native.c linked with the kernel sources,
 * `cc -O2`) for the run-time benchmark's baseline.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface NativeResult {
  medianNs: number;
  /** r0 as an unsigned 64-bit value. */
  result: bigint;
  runs: number;
  samples: number;
}

/** The C compiler: $CC, else `cc`. */
export function nativeCompiler(): string {
  return process.env['CC'] || 'cc';
}

/** Null if the C compiler runs, else why not. */
export function nativeUnavailable(): string | null {
  const cc = nativeCompiler();
  const r = spawnSync(cc, ['--version'], { encoding: 'utf8' });
  if (r.error) return `${cc} not found (${r.error.message})`;
  if (r.status !== 0) return `${cc} --version failed`;
  return null;
}

/** Compiles the harness into `workDir`; returns the executable's path. */
export function buildNative(root: string, workDir: string): string {
  const kernelDir = path.join(root, 'test-programs', 'bench');
  const sources = readdirSync(kernelDir)
    .filter((f) => f.endsWith('.c'))
    .sort()
    .map((f) => path.join(kernelDir, f));
  const exe = path.join(workDir, 'bench-native');
  const args = ['-O2', '-o', exe, path.join(root, 'scripts', 'bench', 'native.c'), ...sources];
  const r = spawnSync(nativeCompiler(), args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(`native build failed: ${nativeCompiler()} ${args.join(' ')}\n${r.error?.message ?? r.stderr}`);
  }
  return exe;
}

/**
 * Runs the kernels natively on the given inputs (written to files in `workDir`) and returns the
 * harness's figures per kernel.
 */
export async function runNative(
  exe: string,
  workDir: string,
  inputs: ReadonlyMap<string, Uint8Array>,
  minMs: number,
  minSamples: number,
): Promise<Map<string, NativeResult>> {
  const args = ['--min-ms', String(minMs), '--min-samples', String(minSamples)];
  for (const [name, mem] of inputs) {
    const file = path.join(workDir, `${name}.input`);
    await writeFile(file, mem);
    args.push(`${name}=${file}`);
  }
  const r = spawnSync(exe, args, { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.error || r.status !== 0) {
    throw new Error(`native harness failed (${r.error?.message ?? `exit ${r.status}`}): ${r.stderr}`);
  }
  const parsed = JSON.parse(r.stdout) as Record<string, { medianNs: number; result: string; runs: number; samples: number }>;
  const out = new Map<string, NativeResult>();
  for (const [name, v] of Object.entries(parsed)) {
    out.set(name, { medianNs: v.medianNs, result: BigInt(v.result), runs: v.runs, samples: v.samples });
  }
  return out;
}
