/**
 * `bpf2wasm gen types OBJ [-o OUT.ts] [--name NAME] [--runtime MODULE]`: writes the TypeScript
 * module of an ELF object's programs, maps and globals (compiler/gen/types.ts), to OUT.ts or
 * standard output. Like the rest of the CLI, it runs on a `CliIO` and returns the exit status.
 */
import { Bpf2WasmError } from '../../runtime/errors.js';
import { generateTypes } from '../gen/types.js';
import type { CliIO } from './io.js';

/** Usage of the `gen` command. */
export const GEN_USAGE = `usage:
  bpf2wasm gen types OBJ [-o OUT.ts] [--name NAME] [--runtime MODULE]

Writes a TypeScript module with the object's program names, its maps' key and
value types (from BTF), its global variables and instantiateNAME(), a typed
wrapper around instantiate() (to OUT.ts, or to standard output). NAME defaults to
the object's file name (uid_counter.o -> UidCounter); MODULE is where the module
imports the runtime from (default bpf2wasm/runtime).
`;

/** Runs `bpf2wasm gen ...` (`argv` without the leading `gen`); returns the exit status. */
export async function genCommand(argv: readonly string[], io: CliIO): Promise<number> {
  const usage = (why: string): number => {
    io.stderr(`bpf2wasm: ${why}\n${GEN_USAGE}`);
    return 2;
  };
  if (argv[0] === '-h' || argv[0] === '--help') {
    io.stdout(GEN_USAGE);
    return 0;
  }
  if (argv[0] !== 'types') return usage(argv[0] === undefined ? 'gen needs a kind of output (types)' : `gen has no kind ${argv[0]} (it has types)`);
  let input: string | undefined;
  let out: string | undefined;
  let name: string | undefined;
  let runtime: string | undefined;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string | undefined => argv[++i];
    if (a === '-o' || a === '--name' || a === '--runtime') {
      const v = value();
      if (v === undefined) return usage(`${a} needs a value`);
      if (a === '-o') out = v;
      else if (a === '--name') name = v;
      else runtime = v;
    } else if (a === '-h' || a === '--help') {
      io.stdout(GEN_USAGE);
      return 0;
    } else if (a.startsWith('-') && a !== '-') {
      return usage(`unknown option ${a}`);
    } else if (input === undefined) {
      input = a;
    } else {
      return usage(`gen types takes one object, got ${input} and ${a}`);
    }
  }
  if (input === undefined) return usage('gen types needs an ELF object');
  const base = input.replace(/^.*[\\/]/, '').replace(/\.(o|elf|bpf\.o)$/, '');
  try {
    const source = generateTypes(await io.readFile(input), {
      name: name ?? base,
      source: base === '' ? input : `${base}.o`,
      ...(runtime !== undefined ? { runtimeModule: runtime } : {}),
    });
    if (out === undefined) io.stdout(source);
    else {
      await io.writeFile(out, source);
      io.stdout(`wrote ${out}\n`);
    }
    return 0;
  } catch (e) {
    if (e instanceof Bpf2WasmError) {
      io.stderr(`bpf2wasm: ${input}: ${e.message}\n`);
      return 1;
    }
    const err = e as { code?: unknown; message?: unknown } | null;
    if (err && typeof err.code === 'string' && typeof err.message === 'string' && err.code.startsWith('E')) {
      io.stderr(`bpf2wasm: ${err.message}\n`);
      return 1;
    }
    throw e;
  }
}
