/**
 * Bench part `suite`: an independent benchmark suite, the kernels of a checkout of
 * eunomia-bpf/bpf-benchmark (`bpf_progs/*.bpf.c`, each `bpf_main(mem)` over the memory of its
 * `NAME.mem` file when there is one), which the user gives:
 *
 *   npm run bench -- --suite DIR [--ubpf UBPF]   (DIR: the checkout, or its bpf_progs directory)
 *
 * Each kernel is built with clang as the suite's Makefile builds it: `clang -O3 -target bpf -c`
 * and its `.text` as raw bytecode (`llvm-objcopy -j .text -O binary`, or this project's ELF reader
 * when llvm-objcopy is missing); natively with `clang -O3`, linked with scripts/bench/suite-native.c;
 * and with `clang --target=wasm32 -O3 -nostdlib -mbulk-memory` (needs wasm-ld, Debian's `lld`) run
 * in this V8. Headers the kernels include from the C library (`sys/cdefs.h`) are found for the bpf
 * and wasm32 targets through the host's include directories and an empty `gnu/stubs-32.h`.
 * With `--ubpf UBPF` (a uBPF checkout built so that its `vm/inc/ubpf.h` and a `libubpf.a` are under
 * it, see `locateUbpf`), scripts/bench/suite-ubpf.c is built against it and runs the same `.text`
 * through uBPF's x86-64 JIT (ubpf_load, ubpf_compile), timed by the same C code as the native
 * column (scripts/bench/suite-timing.h).
 *
 * The input is read from `NAME.mem` as the suite's runner does (none: the kernel gets no memory).
 * It is copied in once and only the runs are timed, as BPF_PROG_TEST_RUN does: natively, through
 * uBPF's JIT, in the wasm32 module's memory, and in the bpf2wasm instance's input memory
 * (`runInPlace(len, n)`), compiled at -O0 (the default) and -O1. The bpf2wasm columns time runs
 * through the module's repeat loop (compiler/repeat-export.ts: the runs loop inside Wasm, as the
 * kernel's test run loops inside the kernel), so a run is the program and one Wasm call, as the C
 * harnesses' run is the program and one C call; a line under the table gives -O0 called from JS
 * once per run (`runInPlace(len)`), which adds the JS->Wasm call. The clang->wasm32 column is
 * called from JS once per run. Each kernel runs natively, then through
 * uBPF, then as wasm32, then through bpf2wasm,
 * in several interleaved rounds; the figure is the best round's median (on a shared machine the
 * other jobs only ever add time, so the least disturbed round is the closest to the program). The results'
 * low 32 bits are compared (the kernels return `int` or `u64`). Nothing here is asserted: it prints
 * medians and ratios, with the load average, from one run.
 */
import { spawnSync } from 'node:child_process';
import { type Dirent, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { compile } from '../../compiler/index.js';
import { parseElf } from '../../compiler/elf/elf64.js';
import { extractProgram } from '../../compiler/elf/extract.js';
import { instantiate } from '../../runtime/index.js';
import { formatNs, formatRatio, geomean, median, table } from './stats.js';

/** How to get the suite when `--suite` is not given. */
export const SUITE_HINT =
  '(suite) skipped: give a checkout of the independent suite, e.g.\n' +
  '  git clone https://github.com/eunomia-bpf/bpf-benchmark /tmp/bpf-benchmark\n' +
  '  npm run bench -- --suite /tmp/bpf-benchmark\n' +
  '(needs clang; wasm-ld from lld for the clang->wasm32 column; --ubpf DIR adds a uBPF JIT column)';

/** How to get the uBPF column when `--ubpf` is not given. */
export const UBPF_HINT =
  'uBPF JIT: not run; give a uBPF build with --ubpf DIR, e.g.\n' +
  '  git clone https://github.com/iovisor/ubpf /tmp/ubpf\n' +
  '  cmake -S /tmp/ubpf -B /tmp/ubpf/build && cmake --build /tmp/ubpf/build\n' +
  '  npm run bench -- --suite /tmp/bpf-benchmark --ubpf /tmp/ubpf\n' +
  '(DIR must hold vm/inc/ubpf.h and a built libubpf.a, and ubpf_config.h where its ubpf.h includes one)';

/** A bad `--suite` / `--ubpf` argument: the bench prints the message (no stack) and exits with 2. */
export class SuiteArgError extends Error {
  readonly code = 'BENCH_SUITE_ARGS';
  constructor(message: string) {
    super(message);
    this.name = 'SuiteArgError';
  }
}

/** One kernel of the suite. */
export interface SuiteRow {
  kernel: string;
  inputBytes: number;
  /** Median ns per run; null where that build or run failed (see `notes`). */
  nativeNs: number | null;
  /** Through uBPF's x86-64 JIT (`--ubpf`). */
  ubpfNs: number | null;
  wasm32Ns: number | null;
  o0Ns: number | null;
  o1Ns: number | null;
  /** -O0 called from JS once per run (`runInPlace(len)`): the program and a JS->Wasm call. */
  o0JsCallNs: number | null;
  /** eBPF instruction slots of the raw `.text`. */
  insns: number;
  /** Low 32 bits of each result, unsigned decimal; null where it did not run. */
  nativeResult: string | null;
  ubpfResult: string | null;
  wasm32Result: string | null;
  bpf2wasmResult: string | null;
  /** Whether every result that exists agrees with bpf2wasm's (low 32 bits). */
  match: boolean | null;
  notes: string[];
}

export interface SuiteReport {
  dir: string;
  /** The uBPF build the JIT column used (`--ubpf`); null when not given. */
  ubpf: UbpfBuild | null;
  rows: SuiteRow[];
  rounds: number;
  /** `os.loadavg()` before and after. */
  loadBefore: number[];
  loadAfter: number[];
  /** Kernels whose native run takes at least 100 ns (below that the call is measured): the geomeans' set. */
  geomeanKernels: string[];
  /** Ratios vs native over `geomeanKernels`; `o0VsUbpf`, `o1VsUbpf`: bpf2wasm over uBPF's JIT. */
  geomean: {
    o0: number | null; o1: number | null; wasm32: number | null; ubpf: number | null;
    o0VsUbpf: number | null; o1VsUbpf: number | null;
  };
  warnings: string[];
}

export interface SuiteOptions {
  /** Interleaved rounds per kernel (default 5). */
  rounds?: number;
  /** Timed milliseconds per measurement (default 150). */
  minMs?: number;
  /** Project root (for scripts/bench/suite-native.c and suite-ubpf.c). */
  root: string;
  /** A uBPF checkout with a build (`--ubpf`): adds the uBPF JIT column. */
  ubpf?: string;
  log?: (msg: string) => void;
}

/** The directory holding `*.bpf.c`: DIR itself or DIR/bpf_progs. */
export function suiteProgramsDir(dir: string): string | null {
  for (const d of [path.join(dir, 'bpf_progs'), dir]) {
    if (existsSync(d) && readdirSync(d).some((f) => f.endsWith('.bpf.c'))) return d;
  }
  return null;
}

/** What the uBPF harness is built from: include directories and the static library. */
export interface UbpfBuild {
  dir: string;
  /** `-I` directories: the one holding ubpf.h, and the one holding a generated ubpf_config.h. */
  include: string[];
  lib: string;
}

/** Files named `names` under `dir`, breadth first, at most `depth` levels down (not .git). */
function findUnder(dir: string, names: readonly string[], depth: number): string[] {
  const found: string[] = [];
  let level = [dir];
  for (let d = 0; d <= depth && level.length; d++) {
    const next: string[] = [];
    for (const at of level) {
      let entries: Dirent[];
      try {
        entries = readdirSync(at, { withFileTypes: true });
      } catch {
        continue;
      }
      for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
        const p = path.join(at, e.name);
        if (e.isDirectory() && e.name !== '.git' && e.name !== 'node_modules') next.push(p);
        else if (names.includes(e.name)) found.push(p);
      }
    }
    level = next;
  }
  return found;
}

/**
 * The uBPF build under `dir`: its `vm/inc/ubpf.h` (or another `inc/ubpf.h`), a built `libubpf.a`
 * and, when there is one, the `ubpf_config.h` that CMake generates (newer ubpf.h include it).
 * Throws SuiteArgError saying what is missing.
 */
export function locateUbpf(dir: string): UbpfBuild {
  if (!existsSync(dir)) throw new SuiteArgError(`--ubpf ${dir}: no such directory`);
  if (!statSync(dir).isDirectory()) throw new SuiteArgError(`--ubpf ${dir}: not a directory`);
  const found = findUnder(dir, ['ubpf.h', 'libubpf.a', 'ubpf_config.h'], 4);
  const header = found.find((f) => f.endsWith(path.join('vm', 'inc', 'ubpf.h'))) ??
    found.find((f) => f.endsWith(path.join('inc', 'ubpf.h')));
  if (!header) throw new SuiteArgError(`--ubpf ${dir}: no vm/inc/ubpf.h (expected a checkout of iovisor/ubpf)`);
  const lib = found.find((f) => path.basename(f) === 'libubpf.a');
  if (!lib) {
    throw new SuiteArgError(
      `--ubpf ${dir}: no libubpf.a under it; build uBPF first (cmake -S ${dir} -B ${dir}/build && cmake --build ${dir}/build)`,
    );
  }
  const config = found.find((f) => path.basename(f) === 'ubpf_config.h');
  return { dir, include: [path.dirname(header), ...(config ? [path.dirname(config)] : [])], lib };
}

function clangBin(): string {
  return process.env['CLANG'] || 'clang';
}

function run(cmd: string, args: readonly string[]): { ok: boolean; out: string; err: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  return { ok: !r.error && r.status === 0, out: r.stdout ?? '', err: r.error ? r.error.message : (r.stderr ?? '') };
}

/** Include directories that let `sys/cdefs.h` and friends resolve for the bpf and wasm32 targets. */
function headerShim(work: string): string[] {
  const shim = path.join(work, 'shim');
  mkdirSync(path.join(shim, 'gnu'), { recursive: true });
  // glibc's gnu/stubs.h picks stubs-32.h for any target that is not x86-64; it only lists stubs.
  writeFileSync(path.join(shim, 'gnu', 'stubs-32.h'), '');
  const multiarch = `${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`;
  const dirs = [path.join('/usr/include', multiarch), '/usr/include'].filter((d) => existsSync(d));
  return [...dirs, shim].flatMap((d) => ['-idirafter', d]);
}

/**
 * Times `batch(n)` (n runs) for at least `minMs` after a warm-up: median ns per run over batches.
 * `batch` loops itself (in JS, or inside Wasm: bpf2wasm's repeat loop).
 */
function timeRuns(batch: (n: number) => unknown, minMs: number): number {
  const w0 = performance.now();
  let calls = 0;
  do {
    batch(1);
    calls++;
  } while (performance.now() - w0 < Math.min(50, minMs / 2));
  const per = Math.max((performance.now() - w0) / calls, 1e-6);
  const n = Math.max(1, Math.round(minMs / 20 / per));
  const samples: number[] = [];
  const start = performance.now();
  while (samples.length < 7 || performance.now() - start < minMs) {
    const b0 = performance.now();
    batch(n);
    samples.push(((performance.now() - b0) * 1e6) / n);
    if (samples.length >= 4096) break;
  }
  return median(samples);
}

/** `n` calls of `fn` from JS. */
const jsLoop = (fn: () => unknown) => (n: number): void => {
  for (let i = 0; i < n; i++) fn();
};

const low32 = (v: bigint | number): string => BigInt.asUintN(32, BigInt(v)).toString();

/** The clang->wasm32 module of a kernel, instantiated, its input copied in once. */
async function wasm32Runner(file: string, mem: Uint8Array): Promise<{ call: () => unknown; result: string }> {
  const module = await WebAssembly.compile(readFileSync(file));
  const imports: Record<string, Record<string, () => never>> = {};
  for (const imp of WebAssembly.Module.imports(module)) {
    (imports[imp.module] ??= {})[imp.name] = () => {
      throw new Error(`the kernel called the undefined ${imp.module}.${imp.name}`);
    };
  }
  const instance = await WebAssembly.instantiate(module, imports);
  const exports = instance.exports as Record<string, unknown>;
  const memory = exports['memory'] as WebAssembly.Memory;
  const main = exports['bpf_main'] as (p: number) => number | bigint;
  const heap = exports['__heap_base'] as WebAssembly.Global | undefined;
  const base = heap ? (Number(heap.value) + 15) & ~15 : memory.buffer.byteLength;
  const need = base + mem.length;
  if (need > memory.buffer.byteLength) memory.grow(Math.ceil((need - memory.buffer.byteLength) / 65536));
  new Uint8Array(memory.buffer).set(mem, base);
  const result = low32(main(base));
  return { call: () => main(base), result };
}

/** Builds and times every kernel of the checkout at `dir`. */
export async function benchSuite(dir: string, options: SuiteOptions): Promise<SuiteReport> {
  const log = options.log ?? (() => undefined);
  const rounds = Math.max(1, options.rounds ?? 5);
  const minMs = options.minMs ?? 150;
  const progs = suiteProgramsDir(dir);
  if (!progs) throw new SuiteArgError(`--suite ${dir}: no bpf_progs/*.bpf.c (expected a checkout of eunomia-bpf/bpf-benchmark)`);
  const ubpf = options.ubpf === undefined ? null : locateUbpf(options.ubpf);
  const clang = clangBin();
  const warnings: string[] = [];
  if (!run(clang, ['--version']).ok) throw new Error(`${clang} not found: the suite is C and needs clang (CLANG=... to choose one)`);
  const objcopy = ['llvm-objcopy', 'llvm-objcopy-14'].find((c) => run(c, ['--version']).ok);
  if (!objcopy) warnings.push('llvm-objcopy not found: .text taken with this project\'s ELF reader');
  const work = await mkdtemp(path.join(os.tmpdir(), 'bpf2wasm-suite-'));
  const loadBefore = os.loadavg();
  const rows: SuiteRow[] = [];
  try {
    const shim = headerShim(work);
    const harness = path.join(work, 'suite-native.o');
    const h = run(clang, ['-O2', '-c', '-o', harness, path.join(options.root, 'scripts', 'bench', 'suite-native.c')]);
    if (!h.ok) warnings.push(`native harness: ${h.err.trim()}`);
    // The uBPF harness, built once against the given uBPF.
    let ubpfExe: string | null = null;
    if (ubpf) {
      const exe = path.join(work, 'suite-ubpf');
      const u = run(clang, [
        '-O2', ...ubpf.include.flatMap((d) => ['-I', d]), '-o', exe,
        path.join(options.root, 'scripts', 'bench', 'suite-ubpf.c'), ubpf.lib, '-lm',
      ]);
      if (u.ok) ubpfExe = exe;
      else warnings.push(`uBPF harness (against ${ubpf.lib}): ${firstLine(u.err)}`);
    }
    const sources = readdirSync(progs).filter((f) => f.endsWith('.bpf.c')).sort();
    for (const src of sources) {
      const name = src.slice(0, -'.bpf.c'.length);
      const file = path.join(progs, src);
      const notes: string[] = [];
      const memFile = path.join(progs, `${name}.mem`);
      const mem = existsSync(memFile) ? new Uint8Array(readFileSync(memFile)) : new Uint8Array(0);
      log(`suite: ${name} (${mem.length} bytes of input)`);
      // The C may name its entry main (older checkouts); the harnesses call bpf_main.
      const text = readFileSync(file, 'utf8');
      const rename = /\bbpf_main\b/.test(text) ? [] : ['-Dmain=bpf_main'];

      // eBPF, as the suite's Makefile builds it.
      const obj = path.join(work, `${name}.bpf.o`);
      let bytes: Uint8Array | null = null;
      const bin = path.join(work, `${name}.bpf.bin`);
      const b = run(clang, ['-O3', '-target', 'bpf', '-w', ...shim, ...rename, '-c', '-o', obj, file]);
      if (!b.ok) notes.push(`bpf build failed: ${firstLine(b.err)}`);
      else if (objcopy) {
        const c = run(objcopy, ['-j', '.text', '-O', 'binary', obj, bin]);
        if (c.ok) bytes = new Uint8Array(readFileSync(bin));
        else notes.push(`llvm-objcopy failed: ${firstLine(c.err)}`);
      } else {
        const elf = readFileSync(obj);
        bytes = extractProgram(parseElf(new Uint8Array(elf.buffer, elf.byteOffset, elf.byteLength)), { section: '.text' });
        writeFileSync(bin, bytes);
      }

      // Native.
      let nativeExe: string | null = null;
      if (h.ok) {
        const kobj = path.join(work, `${name}.native.o`);
        const exe = path.join(work, `${name}.native`);
        const k = run(clang, ['-O3', '-w', ...rename, '-c', '-o', kobj, file]);
        const l = k.ok ? run(clang, ['-O2', '-o', exe, harness, kobj]) : k;
        if (l.ok) nativeExe = exe;
        else notes.push(`native build failed: ${firstLine(l.err)}`);
      }

      // clang -> wasm32.
      let wasmFile: string | null = path.join(work, `${name}.wasm`);
      const wb = run(clang, [
        '--target=wasm32', '-O3', '-nostdlib', '-mbulk-memory', '-w', ...shim, ...rename,
        '-Wl,--no-entry', '-Wl,--export=bpf_main', '-Wl,--export=__heap_base', '-Wl,--allow-undefined', '-o', wasmFile, file,
      ]);
      if (!wb.ok) {
        notes.push(`wasm32 build failed: ${firstLine(wb.err)}${/wasm-ld/.test(wb.err) ? ' (install lld)' : ''}`);
        wasmFile = null;
      }

      const row: SuiteRow = {
        kernel: name, inputBytes: mem.length, nativeNs: null, ubpfNs: null, wasm32Ns: null, o0Ns: null, o1Ns: null, o0JsCallNs: null,
        insns: bytes ? bytes.length / 8 : 0, nativeResult: null, ubpfResult: null, wasm32Result: null, bpf2wasmResult: null,
        match: null, notes,
      };
      const memPath = mem.length > 0 ? [memFile] : [];
      const samples = { native: [] as number[], ubpf: [] as number[], wasm32: [] as number[], o0: [] as number[], o1: [] as number[], o0JsCall: [] as number[] };
      const engines: Array<{ key: 'o0' | 'o1' | 'o0JsCall'; batch: (n: number) => unknown } > = [];
      if (bytes) {
        for (const [key, optLevel] of [['o0', 0], ['o1', 1]] as const) {
          try {
            const inst = await instantiate((await compile(bytes, { optLevel })).wasm);
            const program = inst.program();
            inst.dataView(mem.length).set(mem);
            const len = mem.length;
            program.runInPlace(len);
            const r = low32(inst.lastResult());
            if (row.bpf2wasmResult !== null && row.bpf2wasmResult !== r) notes.push(`-O${optLevel} result ${r} differs from -O0's`);
            row.bpf2wasmResult ??= r;
            // The runs loop inside Wasm (the module's repeat loop); -O0 also from JS, a call per run.
            engines.push({ key, batch: (n) => program.runInPlace(len, n) });
            if (key === 'o0') engines.push({ key: 'o0JsCall', batch: jsLoop(() => program.runInPlace(len)) });
          } catch (err) {
            notes.push(`bpf2wasm -O${optLevel}: ${(err as Error).message}`);
          }
        }
      }
      let w32: { call: () => unknown; result: string } | null = null;
      if (wasmFile) {
        try {
          w32 = await wasm32Runner(wasmFile, mem);
          row.wasm32Result = w32.result;
        } catch (err) {
          notes.push(`wasm32 run failed: ${(err as Error).message}`);
        }
      }
      for (let round = 0; round < rounds; round++) {
        if (nativeExe) {
          const r = runHarness(nativeExe, ['--min-ms', String(minMs), ...memPath]);
          if ('medianNs' in r) {
            samples.native.push(r.medianNs);
            row.nativeResult = r.result;
          } else if (round === 0) {
            notes.push(`native run failed: ${r.error}`);
          }
        }
        if (ubpfExe && bytes) {
          const r = runHarness(ubpfExe, ['--min-ms', String(minMs), bin, ...memPath]);
          if ('medianNs' in r) {
            samples.ubpf.push(r.medianNs);
            row.ubpfResult = r.result;
          } else if (round === 0) {
            notes.push(`uBPF run failed: ${r.error}`);
          }
        }
        if (w32) samples.wasm32.push(timeRuns(jsLoop(w32.call), minMs));
        for (const e of engines) samples[e.key].push(timeRuns(e.batch, minMs));
      }
      const best = (xs: number[]): number | null => (xs.length ? Math.min(...xs) : null);
      row.nativeNs = best(samples.native);
      row.ubpfNs = best(samples.ubpf);
      row.wasm32Ns = best(samples.wasm32);
      row.o0Ns = best(samples.o0);
      row.o1Ns = best(samples.o1);
      row.o0JsCallNs = best(samples.o0JsCall);
      if (row.bpf2wasmResult !== null) {
        const others = [row.nativeResult, row.ubpfResult, row.wasm32Result].filter((x): x is string => x !== null);
        row.match = others.length ? others.every((x) => x === row.bpf2wasmResult) : null;
      }
      rows.push(row);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const geomeanRows = rows.filter((r) => r.nativeNs !== null && r.nativeNs >= 100);
  const geo = (pick: (r: SuiteRow) => number | null): number | null => {
    const ratios = geomeanRows.map((r) => pick(r)).filter((x): x is number => x !== null);
    return ratios.length === geomeanRows.length && ratios.length > 0 ? geomean(ratios) : null;
  };
  const ratio = (a: number | null, b: number | null): number | null => (a !== null && b !== null ? a / b : null);
  return {
    dir: progs,
    ubpf,
    rows,
    rounds,
    loadBefore,
    loadAfter: os.loadavg(),
    geomeanKernels: geomeanRows.map((r) => r.kernel),
    geomean: {
      o0: geo((r) => ratio(r.o0Ns, r.nativeNs)),
      o1: geo((r) => ratio(r.o1Ns, r.nativeNs)),
      wasm32: geo((r) => ratio(r.wasm32Ns, r.nativeNs)),
      ubpf: geo((r) => ratio(r.ubpfNs, r.nativeNs)),
      o0VsUbpf: geo((r) => ratio(r.o0Ns, r.ubpfNs)),
      o1VsUbpf: geo((r) => ratio(r.o1Ns, r.ubpfNs)),
    },
    warnings,
  };
}

/** One run of a C harness (suite-native.c, suite-ubpf.c): its JSON line, or why it failed. */
function runHarness(exe: string, args: readonly string[]): { medianNs: number; result: string } | { error: string } {
  const r = run(exe, args);
  if (!r.ok) return { error: firstLine(r.err) || 'no output' };
  try {
    const parsed = JSON.parse(r.out) as { medianNs: number; result: string };
    return { medianNs: parsed.medianNs, result: low32(BigInt(parsed.result)) };
  } catch {
    return { error: `unexpected output: ${r.out.trim().slice(0, 120)}` };
  }
}

function firstLine(s: string): string {
  return s.trim().split('\n').find((l) => /error|not found|cannot/i.test(l)) ?? s.trim().split('\n')[0] ?? '';
}

/** The report as a table with ratios, the geomeans and the load average. */
export function formatSuite(report: SuiteReport): string {
  const ns = (v: number | null): string => (v === null ? '-' : formatNs(v));
  const rt = (a: number | null, b: number | null): string => (a !== null && b !== null ? formatRatio(a / b) : '-');
  const gm = (v: number | null): string => formatRatio(v ?? Number.NaN);
  const rows = report.rows.map((r) => [
    r.kernel, r.inputBytes ? `${r.inputBytes} B` : '-', String(r.insns), ns(r.nativeNs), ns(r.ubpfNs), ns(r.wasm32Ns), ns(r.o0Ns),
    ns(r.o1Ns), rt(r.ubpfNs, r.nativeNs), rt(r.wasm32Ns, r.nativeNs), rt(r.o0Ns, r.nativeNs), rt(r.o1Ns, r.nativeNs),
    rt(r.o0Ns, r.ubpfNs), rt(r.o0Ns, r.wasm32Ns), r.match === null ? '-' : r.match ? '✓' : '✗', r.bpf2wasmResult ?? '-',
  ]);
  const load = (l: number[]): string => l.map((x) => x.toFixed(2)).join(' ');
  const over = `over ${report.geomeanKernels.join(', ') || '-'} (native >= 100 ns)`;
  const out = [
    `(suite) ${report.dir}: clang -O3 kernels, input copied in once, per run: the best of ${report.rounds} interleaved rounds' medians; ` +
      'bpf2wasm runs loop inside Wasm (a Wasm call per run, as the C harnesses\' C call), clang->wasm32 is called from JS',
    ...(report.ubpf ? [`uBPF JIT: ${report.ubpf.lib}`] : []),
    table(
      ['kernel', 'input', 'insns', 'native', 'uBPF JIT', 'clang->wasm32', 'bpf2wasm -O0', 'bpf2wasm -O1', 'uBPF/nat', 'wasm32/nat',
        '-O0/nat', '-O1/nat', '-O0/uBPF', '-O0/wasm32', 'ok', 'r0 (low 32)'],
      rows,
    ),
    `geomean vs native ${over}: bpf2wasm -O0 ${gm(report.geomean.o0)}, -O1 ${gm(report.geomean.o1)}, ` +
      `clang->wasm32 ${gm(report.geomean.wasm32)}, uBPF JIT ${gm(report.geomean.ubpf)}`,
    ...(report.ubpf
      ? [`geomean bpf2wasm vs uBPF JIT ${over}: -O0 ${gm(report.geomean.o0VsUbpf)}, -O1 ${gm(report.geomean.o1VsUbpf)}`]
      : [UBPF_HINT]),
    `bpf2wasm -O0 called from JS once per run (runInPlace(len), a JS->Wasm call each): ` +
      report.rows.filter((r) => r.o0JsCallNs !== null).map((r) => `${r.kernel} ${ns(r.o0JsCallNs)}`).join(', '),
    `load average before ${load(report.loadBefore)}, after ${load(report.loadAfter)}`,
  ];
  for (const r of report.rows) for (const n of r.notes) out.push(`  ${r.kernel}: ${n}`);
  for (const w of report.warnings) out.push(`  warning: ${w}`);
  return out.join('\n');
}

/** The suite part's line of the bench's usage text. */
export const SUITE_USAGE =
  '       node dist/scripts/bench.js --suite DIR [--ubpf UBPF] [--quick] [--json]\n' +
  '         DIR: a checkout of eunomia-bpf/bpf-benchmark; UBPF: a built checkout of iovisor/ubpf\n' +
  '         (vm/inc/ubpf.h and libubpf.a under it), which adds a uBPF x86-64 JIT column\n';

/** The suite part's command line: what to run, or a message and an exit status. */
export type SuiteArgs =
  | { suite: string; ubpf?: string; quick: boolean; json: boolean }
  | { status: number; error?: string; out?: string };

/**
 * `--suite DIR [--ubpf UBPF] [--quick] [--json]`; null when neither `--suite` nor `--ubpf` is
 * there (the other parts run). Without a DIR after `--suite`, how to get the suite.
 */
export function parseSuiteArgs(argv: readonly string[]): SuiteArgs | null {
  if (!argv.includes('--suite') && !argv.includes('--ubpf')) return null;
  const values: Record<string, string | undefined> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick' || a === '--json') continue;
    if (a !== '--suite' && a !== '--ubpf') return { status: 2, error: `unknown argument ${a} with --suite`, out: SUITE_USAGE };
    if (a in values) return { status: 2, error: `${a} given twice` };
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) {
      return a === '--suite'
        ? { status: 2, out: SUITE_HINT }
        : { status: 2, error: '--ubpf needs a directory: a built checkout of iovisor/ubpf', out: UBPF_HINT };
    }
    values[a] = v;
    i++;
  }
  const suite = values['--suite'];
  if (suite === undefined) return { status: 2, error: '--ubpf DIR goes with --suite DIR', out: SUITE_USAGE };
  const ubpf = values['--ubpf'];
  return { suite, ...(ubpf !== undefined ? { ubpf } : {}), quick: argv.includes('--quick'), json: argv.includes('--json') };
}

/**
 * `--suite DIR` (with `--ubpf UBPF`, `--json`, `--quick`) on the bench's command line: runs this
 * part alone and returns the exit status (1 when a result differs, 2 for bad arguments, said in
 * one line without a stack); null when the arguments do not ask for it.
 */
export async function suiteMain(argv: readonly string[], root: string): Promise<number | null> {
  const args = parseSuiteArgs(argv);
  if (args === null) return null;
  if ('status' in args) {
    if (args.error) process.stderr.write(`bench: ${args.error}\n`);
    if (args.out) process.stdout.write(args.out.endsWith('\n') ? args.out : `${args.out}\n`);
    return args.status;
  }
  let report: SuiteReport;
  try {
    report = await benchSuite(path.resolve(args.suite), {
      root, rounds: args.quick ? 1 : 5, minMs: args.quick ? 10 : 100, log: (m) => process.stderr.write(`bench: ${m}\n`),
      ...(args.ubpf !== undefined ? { ubpf: path.resolve(args.ubpf) } : {}),
    });
  } catch (err) {
    if (!(err instanceof SuiteArgError)) throw err;
    process.stderr.write(`bench: ${err.message}\n`);
    return 2;
  }
  process.stdout.write(`${args.json ? JSON.stringify(report, null, 2) : formatSuite(report)}\n`);
  return report.rows.some((r) => r.match === false) ? 1 : 0;
}
