/**
 * The `bpf2wasm` command line, as a function of its arguments and an I/O interface so that it can
 * run (and be tested) without a process: `main(argv, io)` returns the exit status. The Node
 * adapter is compiler/cli/bin.ts.
 */
import { Bpf2WasmError, ErrorCode, formatLocation, InternalError } from '../../runtime/errors.js';
import { disassemble } from '../asm/disasm.js';
import { compile } from '../compile.js';
import { compileObject } from '../object/compile-object.js';
import { parseHostBtf } from '../btf/host-btf.js';
import { parseKconfig } from '../elf/kconfig.js';
import { compileStandalone, compileStandaloneBytecode } from '../standalone/standalone.js';
import { formatInspect, inspectObject } from '../object/inspect.js';
import type { CliIO } from './io.js';
import { compileOptions, parseArgs, UsageError, USAGE, type Parsed } from './args.js';
import { loadInput } from './sniff.js';
import { jsonReplacer, objectAnnotations, toWat } from './print.js';
import { runCommand, runObject } from './run.js';
import { runPcap } from './pcap.js';
import { genCommand } from './gen.js';

export type { CliIO } from './io.js';

/**
 * A module about to be written to a file goes to other engines (Wasmtime, a browser, workerd), so
 * the CLI validates it first; the library's -O0 `compile` leaves that to the engine's own
 * compile at `instantiate` (see writeDirect in compiler/compile.ts).
 */
function validateWritten(wasm: Uint8Array): void {
  if (!WebAssembly.validate(wasm as Uint8Array<ArrayBuffer>)) {
    throw new InternalError(ErrorCode.Internal, 'the generated module is not valid WebAssembly (a bpf2wasm bug); nothing was written');
  }
}

/** Runs the CLI. Returns the process exit status. */
export async function main(argv: string[], io: CliIO): Promise<number> {
  if (argv[0] === 'gen') return genCommand(argv.slice(1), io);
  let p: Parsed;
  try {
    p = parseArgs(argv);
  } catch (e) {
    io.stderr(`bpf2wasm: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (p.help || p.command === 'help' || p.command === '') {
    io.stdout(USAGE);
    return p.command === '' && !p.help ? 2 : 0;
  }
  if (!['compile', 'run', 'disasm', 'inspect'].includes(p.command)) {
    io.stderr(`bpf2wasm: unknown command ${p.command}\n${USAGE}`);
    return 2;
  }
  if (p.input === undefined) {
    io.stderr(`bpf2wasm: ${p.command} needs an input file\n${USAGE}`);
    return 2;
  }
  try {
    if (p.command === 'inspect') {
      const report = inspectObject(await io.readFile(p.input));
      io.stdout(p.json ? JSON.stringify(report, jsonReplacer, 2) + '\n' : formatInspect(report));
      return 0;
    }
    if (p.pcap !== undefined && p.command !== 'run') throw new UsageError('--pcap goes with run');
    if (p.pcap === undefined && (p.pcapOut !== undefined || p.keep !== undefined)) throw new UsageError('--out and --keep go with --pcap');
    if (p.standalone && p.command !== 'compile') throw new UsageError('--standalone goes with compile');
    const input = await loadInput(io, p.input, p.symbol, p.program);
    if (p.btf !== undefined) {
      if (!input.object || p.command === 'disasm') throw new UsageError('--btf goes with compile or run of an ELF object');
      p.btfBytes = await io.readFile(p.btf);
      parseHostBtf(p.btfBytes, p.btf); // a malformed file is reported by its name
    }
    if (p.kconfig !== undefined) {
      if (!input.object || p.command === 'disasm') throw new UsageError('--kconfig goes with compile or run of an ELF object');
      p.kconfigValues = parseKconfig(await kconfigText(await io.readFile(p.kconfig), p.kconfig), p.kconfig);
    }
    if (p.pcap !== undefined) {
      if (p.net !== undefined && !input.object) throw new UsageError('--net goes with run of an ELF object');
      if (!input.object && input.classic === undefined) throw new UsageError('--pcap runs an ELF object\'s packet program or a classic filter (tcpdump -dd / -ddd text)');
      return await runPcap(p, input, io);
    }
    if (p.net !== undefined && !(input.object && p.command === 'run')) throw new UsageError('--net goes with run of an ELF object');
    if (input.object && p.command === 'run') return await runObject(p, input.object, io);
    switch (p.command) {
      case 'disasm':
        io.stdout(disassemble(input.bytecode, {
          syntax: p.syntax, addresses: p.syntax === 'llvm',
          ...(input.program && !p.noSource ? { annotate: objectAnnotations(input.program, input.source ?? []) } : {}),
        }));
        return 0;
      case 'compile': {
        if (p.out === undefined) throw new UsageError('compile needs -o OUT.wasm');
        if (p.standalone) {
          const sa = input.object
            ? await compileStandalone(input.object, { ...compileOptions(p), ...(p.program !== undefined ? { programs: [p.program] } : {}) })
            : await compileStandaloneBytecode(input.bytecode, compileOptions(p));
          validateWritten(sa.wasm);
          await io.writeFile(p.out, sa.wasm);
          if (p.wat) await io.writeFile(p.out.replace(/\.wasm$/, '') + '.wat', await toWat(sa.wasm));
          if (p.manifest !== undefined) await io.writeFile(p.manifest, JSON.stringify(sa.description, null, 2) + '\n');
          io.stdout(`wrote ${p.out} (${sa.wasm.length} bytes, standalone: imports WASI only)\n`);
          return 0;
        }
        const compiled = input.object
          ? await compileObject(input.object, { ...compileOptions(p), ...(p.program !== undefined ? { programs: [p.program] } : {}) })
          : await compile(input.bytecode, compileOptions(p));
        validateWritten(compiled.wasm);
        await io.writeFile(p.out, compiled.wasm);
        if (p.wat) await io.writeFile(p.out.replace(/\.wasm$/, '') + '.wat', await toWat(compiled.wasm));
        if (p.manifest !== undefined) await io.writeFile(p.manifest, JSON.stringify(compiled.manifest, null, 2) + '\n');
        io.stdout(`wrote ${p.out} (${compiled.wasm.length} bytes, ${compiled.manifest.insnCount} instructions)\n`);
        return 0;
      }
      default:
        return await runCommand(p, input, io);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`bpf2wasm: ${e.message}\n`);
      return 2;
    }
    if (e instanceof Bpf2WasmError) {
      io.stderr(`bpf2wasm: ${p.input}: ${e.message}\n`);
      return 1;
    }
    const err = e as NodeJS.ErrnoException;
    if (err && typeof err.code === 'string' && typeof err.message === 'string' && err.code.startsWith('E')) {
      io.stderr(`bpf2wasm: ${err.message}\n`);
      return 1;
    }
    io.stderr(`bpf2wasm: internal error (a bug in bpf2wasm, please report it): ${(e as Error)?.message ?? String(e)}\n`);
    return 70;
  }
}


export { formatLocation };

/** The text of a --kconfig file, gunzipped when it is gzip (as /proc/config.gz). */
async function kconfigText(bytes: Uint8Array, file: string): Promise<string> {
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return new TextDecoder().decode(bytes);
  try {
    const stream = new Blob([Uint8Array.from(bytes)]).stream().pipeThrough(new DecompressionStream('gzip'));
    return new TextDecoder().decode(await new Response(stream).arrayBuffer());
  } catch (e) {
    throw new Bpf2WasmError(ErrorCode.BadArgument, `${file} starts as gzip but does not decompress (${e instanceof Error ? e.message : String(e)})`, { file });
  }
}
