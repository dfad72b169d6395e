/**
 * The functions every compile runs, which the bundle gives V8's eager-compile hint
 * (scripts/build-bundle.ts `hintEagerFunctions`): top-level functions of the chunks the runtime
 * entry does not load at start that a fresh process first runs while it compiles a
 * 100-instruction filter at -O0 (the cold start bench's program). Names are as they appear in the bundle. Regenerate after changing the
 * compile path:
 *
 *   npm run build && node dist/scripts/eager-functions.js   (prints the list; paste it below)
 *
 * A name found in no chunk only loses its hint (the build says which).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const EAGER_FUNCTIONS: readonly string[] = [
  'addNarrowDivisions', 'addressInto', 'appendCustomSections', 'appendedTypes', 'branchLabel', 'copyForLoop',
  'decodeForCompile', 'emitModule', 'faultFunction', 'findCopyLoops', 'findSwitches', 'finish',
  'finishWritten', 'get32', 'get64', 'i64c', 'isBr', 'isLatch', 'labelOf', 'leb128', 'load2', 'loopEntry',
  'loopFunctions', 'loopParts', 'lowerAlu', 'lowerAlu32', 'lowerAlu64', 'lowerCond', 'lowerExtendPair',
  'movedBefore', 'noPhase', 'patchSize', 'planCallFixups', 'planModule', 'prescan', 'repeatBody', 'sameBr',
  'selectArms', 'selectable', 'selectableArm', 'set32', 'set64', 'setKnown', 'shiftInsnMap', 'step',
  'store2', 'structureFunction', 'tagPc', 'update', 'utf8', 'withoutRepeatedMoves', 'writeInto',
  'writeModuleWith', 'zeroOf',
];

/** The bundle files `file` imports statically (`from "./chunk-X.js"`), transitively, itself included. */
export function staticClosure(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  for (const m of readFileSync(file, 'utf8').matchAll(/^(?:import|export)\s[^;]*?from\s*"(\.[^"]+)"/gm)) {
    staticClosure(path.resolve(path.dirname(file), m[1]!), seen);
  }
  return seen;
}

/** Run in a fresh process: imports the bundle, then compiles the program at argv[2] between two marks. */
const PROBE = `
const [bundle, input] = process.argv.slice(1);
const { readFileSync } = await import('node:fs');
const bytes = new Uint8Array(readFileSync(input));
const { compile } = await import(bundle + 'compiler/index.js');
function EAGER_PROBE_START() {} EAGER_PROBE_START();
await compile(bytes);
function EAGER_PROBE_END() {} EAGER_PROBE_END();
`;

/** The top-level functions of the bundle's chunks first run by a fresh process's first compile. */
export async function collectEagerFunctions(distRoot: string): Promise<string[]> {
  const { generateProgram } = await import('./bench/genprog.js');
  const bundle = path.join(distRoot, 'bundle');
  const tmp = mkdtempSync(path.join(tmpdir(), 'bpf2wasm-eager-'));
  try {
    const input = path.join(tmp, 'filter.bin');
    const log = path.join(tmp, 'v8.log');
    writeFileSync(input, generateProgram(100));
    execFileSync(process.execPath, ['--log-function-events', `--logfile=${log}`, '--no-logfile-per-isolate', '--input-type=module', '-e', PROBE, pathToFileURL(bundle).href + '/', input]);
    // The runtime entry's chunks stay as they are (a host that only runs modules compiles none of it).
    const runtimeAtStart = staticClosure(path.join(bundle, 'runtime', 'index.js'));
    const scripts = new Map<string, string>();
    const texts = new Map<string, string>();
    const ran = new Set<string>();
    let on = false;
    for (const line of readFileSync(log, 'utf8').split('\n')) {
      const f = line.split(',');
      if (f[0] === 'script-details') scripts.set(f[1]!, f[2]!);
      if (f[0] !== 'function' || f[1] !== 'first-execution') continue;
      const name = f.slice(7).join(',');
      if (name === 'EAGER_PROBE_START') on = true;
      else if (name === 'EAGER_PROBE_END') on = false;
      else if (on && /^\w+$/.test(name)) {
        const url = scripts.get(f[2]!) ?? '';
        if (!url.includes('/bundle/')) continue;
        const file = fileURLToPath(url);
        if (runtimeAtStart.has(file)) continue;
        if (!texts.has(file)) texts.set(file, readFileSync(file, 'utf8'));
        // A top-level declaration: its line reads `function NAME(` (or already hinted), and V8's
        // start position is its parameter list.
        const text = texts.get(file)!;
        const start = Number(f[3]);
        const head = text.slice(text.lastIndexOf('\n', start) + 1, start);
        if (head === `function ${name}` || head === `var ${name} = (function ${name}`) ran.add(name);
      }
    }
    return [...ran].sort();
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const distRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const names = await collectEagerFunctions(distRoot);
  process.stdout.write(`${names.map((n) => `'${n}'`).join(', ')}\n(${names.length} functions)\n`);
}
