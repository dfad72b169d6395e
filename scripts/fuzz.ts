/**
 * `npm run fuzz`: long differential and robustness fuzzing runs.
 *
 *     node dist/scripts/fuzz.js [--runs N] [--seed S] [--kind differential|bytes|all] [--time SECONDS]
 *                               [--hang SECONDS] [--shrink-time SECONDS] [--max-failures N] [--out DIR]
 *
 * - `differential`: random valid programs (scripts/fuzz/generators.ts) on the interpreter and
 *   compiled at -O0, -O1, -O2; same r0, memory and error (scripts/fuzz/harness.ts).
 * - `bytes`: random and mutated bytecode through decoder, compiler, validators and both engines;
 *   random and damaged ELF objects; random assembly text. Only typed errors, valid modules.
 * - `all` (default): both, each with `--runs` cases and half of `--time`.
 *
 * `--runs` is the number of cases per kind (default 1000); `--time` stops earlier. A failing case
 * is shrunk by fast-check and written to `test-programs/fuzz-regressions/<kind>-<seed>-<n>.data`
 * (`--out` elsewhere), where compiler/test/differential.test.ts replays it on every test run.
 * Shrinking a failure stops after `--shrink-time` seconds (default 120) with the smallest case
 * so far; a failure like one already kept in this run (same first problem, numbers aside) is
 * counted but not written again; the run stops after `--max-failures` (default 20). The cases
 * run in a worker thread; one that takes longer than `--hang` seconds (default 60) is kept as a
 * hang. Exit status 1 if anything failed.
 *
 * Cases run in batches of `BATCH` with seeds S, S+1, ...; the file name's seed and n are the
 * batch seed and the case's index in it.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import fc from 'fast-check';
import {
  arbAsmText, arbElfBytes, arbFuzzGroup, arbProgramBytes, type FuzzGroup,
} from './fuzz/generators.js';
import {
  checkAsm, checkBytes, checkDifferential, checkElf, formatRegression, groupToSet, type Regression,
} from './fuzz/harness.js';
import { Op } from '../runtime/isa/opcodes.js';

type Kind = 'differential' | 'bytes';
const KINDS: readonly Kind[] = ['differential', 'bytes'];
/** Property runs per fast-check batch (a failure ends its batch). */
const BATCH = 200;
/** Programs per differential group, at most (compiled into one module). */
const GROUP = 16;

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Options {
  runs: number;
  seed: number;
  kinds: Kind[];
  time: number | null;
  hang: number;
  shrink: number;
  maxFailures: number;
  out: string;
}

function usage(message?: string): never {
  if (message) process.stderr.write(`fuzz: ${message}\n`);
  process.stderr.write('usage: node dist/scripts/fuzz.js [--runs N] [--seed S] [--kind differential|bytes|all] [--time SECONDS]\n'
    + '                              [--hang SECONDS] [--shrink-time SECONDS] [--max-failures N] [--out DIR]\n');
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    runs: 1000, seed: Date.now() % 1_000_000, kinds: [...KINDS], time: null, hang: 60, shrink: 120, maxFailures: 20,
    out: join(ROOT, 'test-programs', 'fuzz-regressions'),
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') usage();
    const value = argv[++i];
    if (value === undefined) usage(`${a} needs a value`);
    const num = (): number => {
      const n = Number(value);
      if (!Number.isFinite(n) || n < 0) usage(`${a} needs a non-negative number, not '${value}'`);
      return n;
    };
    switch (a) {
      case '--runs': o.runs = Math.floor(num()); break;
      case '--seed': o.seed = Math.floor(num()); break;
      case '--time': o.time = num(); break;
      case '--hang': o.hang = num(); break;
      case '--shrink-time': o.shrink = num(); break;
      case '--max-failures': o.maxFailures = Math.floor(num()); break;
      case '--out': o.out = value; break;
      case '--kind':
        if (value === 'all') o.kinds = [...KINDS];
        else if ((KINDS as readonly string[]).includes(value)) o.kinds = [value as Kind];
        else usage(`unknown kind '${value}'`);
        break;
      default:
        usage(`unknown option '${a}'`);
    }
  }
  return o;
}

// ================================================================ worker: runs the cases

/** Messages from the worker. */
type Message =
  | { t: 'start'; regression: Regression }
  | { t: 'progress'; cases: number }
  | { t: 'failure'; regression: Regression; name: string }
  | { t: 'batch-done'; cases: number; nextSeed: number }
  | { t: 'done'; cases: number };

interface WorkerJob {
  kind: Kind;
  seed: number;
  runs: number;
  deadline: number;
  maxFailures: number;
  shrinkSeconds: number;
}

/** A bytes-kind input: a program, an ELF object or assembly text. */
type BytesInput = { input: 'program'; bytes: Uint8Array } | { input: 'elf'; bytes: Uint8Array } | { input: 'asm'; text: string };

/** The ELF objects of test-programs/elf and test-programs/c, to damage. */
function elfFixtures(): Uint8Array[] {
  return ['elf', 'c'].flatMap((sub) => {
    const dir = join(ROOT, 'test-programs', sub);
    if (!existsSync(dir)) return [];
    return readdirSync(dir).filter((f) => f.endsWith('.o')).sort().map((f) => new Uint8Array(readFileSync(join(dir, f))));
  });
}

function regressionOf(kind: Kind, x: FuzzGroup | BytesInput, notes: string[]): Regression {
  if (kind === 'differential') {
    const set = groupToSet(x as FuzzGroup);
    return {
      kind: 'differential', bytes: set.bytes, entries: set.entries, mems: set.mems,
      ...(set.stack ? { stack: set.stack } : {}), ...(set.checked ? { checked: true } : {}),
      ...(set.budget !== undefined ? { budget: set.budget } : {}), ...(set.calleeEntries ? { calleeEntries: true } : {}), notes,
    };
  }
  const b = x as BytesInput;
  if (b.input === 'asm') return { kind: 'asm', text: b.text, notes };
  return { kind: b.input === 'elf' ? 'elf' : 'bytes', bytes: b.bytes, notes };
}

async function check(kind: Kind, x: FuzzGroup | BytesInput): Promise<string[]> {
  if (kind === 'differential') return checkDifferential(groupToSet(x as FuzzGroup), { generated: true });
  const b = x as BytesInput;
  if (b.input === 'asm') return checkAsm(b.text);
  if (b.input === 'elf') return checkElf(b.bytes);
  return checkBytes(b.bytes);
}

async function workerMain(job: WorkerJob): Promise<void> {
  const post = (m: Message): void => parentPort!.postMessage(m);
  const arb: fc.Arbitrary<FuzzGroup | BytesInput> = job.kind === 'differential'
    // Mostly groups of small programs; sometimes a few larger, more deeply nested ones.
    ? fc.oneof(
      { weight: 3, arbitrary: arbFuzzGroup(GROUP) },
      { weight: 1, arbitrary: arbFuzzGroup(4, { size: 'medium', maxStmts: 40, maxDepth: 3 }) },
    )
    : fc.oneof(
      { weight: 6, arbitrary: arbProgramBytes.map((bytes): BytesInput => ({ input: 'program', bytes })) },
      { weight: 2, arbitrary: arbElfBytes(elfFixtures()).map((bytes): BytesInput => ({ input: 'elf', bytes })) },
      { weight: 2, arbitrary: arbAsmText.map((text): BytesInput => ({ input: 'asm', text })) },
    );
  const size = (x: FuzzGroup | BytesInput): number => ('cases' in x ? x.cases.length : 1);
  let cases = 0;
  let failures = 0;
  let lastProgress = 0;
  for (let seed = job.seed; cases < job.runs && Date.now() < job.deadline && failures < job.maxFailures; seed++) {
    let shrinking = false;
    let shrinkStart = 0;
    let inBatch = 0;
    const numRuns = job.kind === 'differential'
      ? Math.max(1, Math.min(BATCH, Math.ceil((job.runs - cases) / (GROUP / 2))))
      : Math.min(BATCH, job.runs - cases);
    const result = await fc.check(
      fc.asyncProperty(arb, async (x) => {
        // Past the shrinking time, every candidate "passes": fast-check keeps the smallest failure so far.
        if (shrinking && Date.now() - shrinkStart > job.shrinkSeconds * 1000) return true;
        post({ t: 'start', regression: regressionOf(job.kind, x, [`seed ${seed}, in batch: ${shrinking ? 'shrinking' : inBatch}`]) });
        if (!shrinking) {
          inBatch++;
          cases += size(x);
        }
        const problems = await check(job.kind, x);
        if (problems.length > 0 && !shrinking) {
          shrinking = true;
          shrinkStart = Date.now();
        }
        if (Date.now() - lastProgress > 5000) {
          lastProgress = Date.now();
          post({ t: 'progress', cases });
        }
        return problems.length === 0;
      }),
      {
        seed, numRuns, markInterruptAsFailure: false,
        ...(Number.isFinite(job.deadline) ? { interruptAfterTimeLimit: Math.max(1000, job.deadline - Date.now()) } : {}),
      },
    );
    if (result.failed && result.counterexample) {
      failures++;
      let x = result.counterexample[0];
      if (!('cases' in x) && x.input === 'program') x = { input: 'program', bytes: await nopOut(x.bytes, job.shrinkSeconds) };
      const problems = await check(job.kind, x);
      const notes = [
        `found by: node dist/scripts/fuzz.js --kind ${job.kind} --seed ${seed} (case ${inBatch}, shrunk ${result.numShrinks} times)`,
        ...(problems.length > 0 ? problems : ['(the shrunk case passed when checked again: flaky?)']),
      ];
      post({ t: 'failure', regression: regressionOf(job.kind, x, notes), name: `${job.kind}-${seed}-${inBatch}` });
    }
    post({ t: 'batch-done', cases, nextSeed: seed + 1 });
  }
  post({ t: 'done', cases });
}

/** A problem list's first entry with numbers blanked out: what kind of failure it is. */
function problemKind(problems: readonly string[]): string {
  return (problems[0] ?? '').replace(/0x[0-9a-f]+|\d+/gi, 'N');
}

/**
 * Shrinks a failing program further than fast-check can (it sees bytes, not instructions):
 * replaces instructions by `ja +0` (which keeps every offset valid) while the same kind of
 * failure remains, for at most `seconds`.
 */
async function nopOut(bytes: Uint8Array, seconds: number): Promise<Uint8Array> {
  const NOP = new Uint8Array([Op.JA, 0, 0, 0, 0, 0, 0, 0]);
  const kind = problemKind(await checkBytes(bytes));
  if (kind === '' || bytes.length % 8 !== 0) return bytes;
  const until = Date.now() + seconds * 1000;
  let best = bytes;
  for (let changed = true; changed && Date.now() < until;) {
    changed = false;
    for (let at = 0; at < best.length && Date.now() < until; at += 8) {
      if (best.subarray(at, at + 8).every((b, i) => b === NOP[i])) continue;
      // A lddw's two slots go together.
      const len = best[at] === Op.LDDW && at + 16 <= best.length ? 16 : 8;
      const trial = best.slice();
      for (let k = 0; k < len; k += 8) trial.set(NOP, at + k);
      if (problemKind(await checkBytes(trial)) === kind) {
        best = trial;
        changed = true;
      }
      if (len === 16) at += 8;
    }
  }
  return best;
}

// ================================================================ main: watchdog and files

function writeRegression(dir: string, name: string, r: Regression): string {
  mkdirSync(dir, { recursive: true });
  let file = join(dir, `${name}.data`);
  for (let i = 2; existsSync(file); i++) file = join(dir, `${name}-${i}.data`);
  writeFileSync(file, formatRegression(r));
  return file;
}

interface KindResult {
  cases: number;
  /** Files written. */
  failures: string[];
  /** Failures like one already kept (same first problem up to numbers): counted, not written. */
  duplicates: number;
}

/** A failure's first problem with numbers blanked out, to keep one file per kind of failure. */
function signature(r: Regression): string {
  const notes = r.notes ?? [];
  return (notes[1] ?? notes[0] ?? '').replace(/0x[0-9a-f]+|\d+/gi, 'N');
}

/** Runs one kind in worker threads, restarting after a hang, until done. */
async function runKind(kind: Kind, o: Options, deadline: number): Promise<KindResult> {
  const result: KindResult = { cases: 0, failures: [], duplicates: 0 };
  const seen = new Map<string, string>();
  let seed = o.seed;
  const started = Date.now();
  for (;;) {
    const before = result.cases;
    const job: WorkerJob = {
      kind, seed, runs: o.runs - result.cases, deadline, maxFailures: o.maxFailures - result.failures.length - result.duplicates,
      shrinkSeconds: o.shrink,
    };
    const outcome = await new Promise<'done' | 'hang' | 'crash'>((resolve) => {
      const worker = new Worker(new URL(import.meta.url), { workerData: job });
      let current: Regression | null = null;
      let lastStart = Date.now();
      let settled = false;
      const finish = (how: 'done' | 'hang' | 'crash'): void => {
        if (settled) return;
        settled = true;
        clearInterval(watchdog);
        if (how !== 'done') void worker.terminate();
        resolve(how);
      };
      const watchdog = setInterval(() => {
        if (current && Date.now() - lastStart > o.hang * 1000) {
          const file = writeRegression(o.out, `${kind}-${seed}-hang`, {
            ...current,
            notes: [...(current.notes ?? []), `HANG: no result after ${o.hang} s`],
          });
          result.failures.push(file);
          process.stdout.write(`\n[${kind}] HANG, kept ${file}\n`);
          finish('hang');
        }
      }, 1000);
      worker.on('message', (m: Message) => {
        switch (m.t) {
          case 'start':
            current = m.regression;
            lastStart = Date.now();
            break;
          case 'progress':
            result.cases = before + m.cases;
            printProgress(kind, result, started);
            break;
          case 'failure': {
            const sig = signature(m.regression);
            const like = seen.get(sig);
            const notes = (m.regression.notes ?? []).map((n) => `    ${n}`).join('\n');
            if (like !== undefined) {
              result.duplicates++;
              process.stdout.write(`\n[${kind}] FAILURE like ${like} (not kept)\n${notes}\n`);
              break;
            }
            const file = writeRegression(o.out, m.name, m.regression);
            seen.set(sig, file);
            result.failures.push(file);
            process.stdout.write(`\n[${kind}] FAILURE, kept ${file}\n${notes}\n`);
            break;
          }
          case 'batch-done':
            result.cases = before + m.cases;
            seed = m.nextSeed;
            printProgress(kind, result, started);
            break;
          case 'done':
            result.cases = before + m.cases;
            finish('done');
            break;
        }
      });
      worker.on('error', (e) => {
        const file = current ? writeRegression(o.out, `${kind}-${seed}-crash`, { ...current, notes: [...(current.notes ?? []), `CRASH: ${e.stack ?? String(e)}`] }) : '(no case)';
        result.failures.push(file);
        process.stdout.write(`\n[${kind}] worker crashed: ${e.stack ?? String(e)}\nkept ${file}\n`);
        finish('crash');
      });
      worker.on('exit', () => finish('crash'));
    });
    if (outcome === 'done') break;
    // After a hang or a crash, go on with the next batch.
    seed++;
    if (result.cases >= o.runs || Date.now() >= deadline || result.failures.length + result.duplicates >= o.maxFailures) break;
  }
  if (process.stdout.isTTY) process.stdout.write('\n');
  process.stdout.write(`[${kind}] ${result.cases} cases, ${result.failures.length + result.duplicates} failures, ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  return result;
}

let lastLine = 0;

/** Progress on one updated line on a terminal, every 30 s otherwise (logs). */
function printProgress(kind: Kind, r: KindResult, started: number): void {
  const s = ((Date.now() - started) / 1000).toFixed(0);
  const text = `[${kind}] ${r.cases} cases, ${r.failures.length + r.duplicates} failures, ${s} s`;
  if (process.stdout.isTTY) {
    process.stdout.write(`\r${text}   `);
  } else if (Date.now() - lastLine > 30_000) {
    lastLine = Date.now();
    process.stdout.write(`${text}\n`);
  }
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  process.stdout.write(`fuzz: kinds ${o.kinds.join(', ')}, ${o.runs} cases each, seed ${o.seed}${o.time === null ? '' : `, at most ${o.time} s`}\n`);
  const t0 = Date.now();
  const results = new Map<Kind, KindResult>();
  for (const [i, kind] of o.kinds.entries()) {
    // Each remaining kind gets an equal share of the remaining time.
    const deadline = o.time === null
      ? Number.POSITIVE_INFINITY
      : Date.now() + ((t0 + o.time * 1000 - Date.now()) / (o.kinds.length - i));
    results.set(kind, await runKind(kind, o, deadline));
  }
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  let failed = 0;
  process.stdout.write(`\nsummary (${secs} s, seed ${o.seed}):\n`);
  for (const [kind, r] of results) {
    failed += r.failures.length + r.duplicates;
    const dup = r.duplicates > 0 ? ` (${r.duplicates} more like the kept ones)` : '';
    process.stdout.write(`  ${kind}: ${r.cases} cases, ${r.failures.length + r.duplicates} failures${dup}\n`);
    for (const f of r.failures) process.stdout.write(`    ${f}\n`);
  }
  process.exitCode = failed > 0 ? 1 : 0;
}

if (isMainThread) {
  main().catch((e: unknown) => {
    process.stderr.write(`fuzz: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    process.exit(2);
  });
} else {
  workerMain(workerData as WorkerJob).catch((e: unknown) => {
    // Surface as the worker's 'error' event.
    throw e;
  });
}
