/**
 * Standalone modules (`compileStandalone`, `bpf2wasm compile --standalone`): the test programs
 * compiled to modules that import only WASI, run by hosts that know nothing of bpf2wasm but the
 * module's documented interface, and compared with the JS runtime (`instantiateObject`) on the
 * same object and inputs: r0 of every run, trace output, every map's entries and every ring
 * buffer's records.
 *
 * Hosts: Node's own WASI (`node:wasi`, V8), Python's Wasmtime through the README's example
 * host (examples/standalone/host.py; skipped with a notice where the `wasmtime` wheel is
 * missing), and wabt's `wasm-interp` (the npm package's, which runs a named export with
 * arguments; neither it nor Debian's 1.0.32 build has WASI compiled in, so its WASI imports are
 * its logging dummies and only r0 and the number of trace writes are compared there).
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WASI } from 'node:wasi';
import { afterAll, describe, expect, it } from 'vitest';
import { instantiateObject } from '../load.js';
import { compileStandalone, compileStandaloneBytecode, STANDALONE_SECTION, type StandaloneDescription } from '../standalone/standalone.js';
import { Bpf2WasmError, CompileError, ErrorCode } from '../../runtime/errors.js';
import { assemble } from '../asm/assemble.js';
import { supportWasmBytes } from '../standalone/support-wasm.js';
import { CONFORMANCE_FILES, HAVE_CONFORMANCE, NO_CONFORMANCE, readConformance } from '../../test/support/conformance.js';
import { cObject, objectFiles, repoPath } from '../../test/support/fixtures.js';
import { main } from '../cli/main.js';
import type { CliIO } from '../cli/io.js';
import { ether, ipv4, udp } from '../../runtime/test/frames.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const TMP = mkdtempSync(join(tmpdir(), 'bpf2wasm-standalone-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

/** What a host observed: the same shape from every host. */
interface Observed {
  runs: Array<{ r0: string | null; status: number }>;
  trace: string[];
  maps: Record<string, string[][]>;
  ringbufs: Record<string, string[]>;
}

/** A scenario: a program, map updates before the runs, the inputs (one run each). */
interface Scenario {
  object: string;
  program: string;
  updates?: Array<[map: string, key: Uint8Array, value: Uint8Array]>;
  inputs: Uint8Array[];
  /** The host consumes ring buffer records after every run (else once, after the last). */
  consumeEach?: boolean;
  /** Compile options besides -O0 (checked mode, a budget, ...), for both sides. */
  options?: { checked?: boolean; budget?: number; optLevel?: 0 | 1 | 2 };
  /** Global variables set before the first run (compileStandalone's and instantiate's `globals`). */
  globals?: Record<string, unknown>;
  /** What the C source says the runs give (so that agreement is not agreement on nothing). */
  expect: (o: Observed) => void;
}

/** Maps the hosts dump (prog arrays and perf arrays hold no data a host reads). */
const DUMPED = (type: string): boolean => ![
  'BPF_MAP_TYPE_PROG_ARRAY', 'BPF_MAP_TYPE_PERF_EVENT_ARRAY', 'BPF_MAP_TYPE_RINGBUF',
  // No keys to walk (queues and stacks pop, bloom filters only answer membership).
  'BPF_MAP_TYPE_QUEUE', 'BPF_MAP_TYPE_STACK', 'BPF_MAP_TYPE_BLOOM_FILTER',
].includes(type);

/** The JS runtime's view. */
async function runJs(s: Scenario, description: StandaloneDescription): Promise<Observed> {
  const trace: string[] = [];
  const inst = await instantiateObject(cObject(s.object), { optLevel: 0, ...s.options, trace: (l) => trace.push(l), ...(s.globals ? { globals: s.globals } : {}) });
  for (const [m, k, v] of s.updates ?? []) inst.map(m).updateRaw(k, v);
  const runs: Observed['runs'] = [];
  const ringbufs: Observed['ringbufs'] = {};
  for (const m of description.maps) {
    if (m.type !== 'BPF_MAP_TYPE_RINGBUF') continue;
    const records: string[] = [];
    ringbufs[m.name] = records;
    inst.ringbuf(m.name).onRecord((r) => records.push(hex(r)));
  }
  const consumeAll = (): void => {
    for (const m of description.maps) if (m.type === 'BPF_MAP_TYPE_RINGBUF') inst.ringbuf(m.name).consume();
  };
  for (const input of s.inputs) {
    if (s.consumeEach) consumeAll();
    try {
      runs.push({ r0: inst.program(s.program).run(input).toString(), status: 0 });
    } catch (e) {
      // The standalone status of each error (README "Standalone modules").
      const status = { [ErrorCode.MemoryFault]: 4, [ErrorCode.Budget]: 5, [ErrorCode.CallDepth]: 2, [ErrorCode.CoreRelo]: 7 }[(e as { code: string }).code];
      if (status === undefined) throw e;
      runs.push({ r0: null, status });
    }
  }
  consumeAll();
  const maps: Observed['maps'] = {};
  for (const m of description.maps) {
    if (DUMPED(m.type)) {
      const map = inst.map(m.name);
      maps[m.name] = [...map.keysRaw()].flatMap((k) => {
        const v = map.lookupRaw(k);
        return v ? [[hex(k), hex(v)]] : [];
      });
    }
  }
  return { runs, trace, maps, ringbufs };
}

/** A host over Node's WASI: the module's interface only. */
class NodeHost {
  private constructor(
    private readonly exports: WebAssembly.Exports,
    private readonly stdoutPath: string,
    private readonly fd: number,
    readonly description: StandaloneDescription,
  ) {}

  static async open(wasm: Uint8Array): Promise<NodeHost> {
    const module = await WebAssembly.compile(new Uint8Array(wasm));
    const [section] = WebAssembly.Module.customSections(module, STANDALONE_SECTION);
    const description = JSON.parse(new TextDecoder().decode(section)) as StandaloneDescription;
    const stdoutPath = join(TMP, `stdout-${Math.random().toString(36).slice(2)}`);
    const fd = openSync(stdoutPath, 'w+');
    const wasi = new WASI({ version: 'preview1', stdout: fd, returnOnExit: true });
    const instance = await WebAssembly.instantiate(module, wasi.getImportObject() as WebAssembly.Imports);
    wasi.initialize(instance);
    return new NodeHost(instance.exports, stdoutPath, fd, description);
  }

  fn(name: string): (...a: number[]) => number & bigint {
    return this.exports[name] as (...a: number[]) => number & bigint;
  }

  bytes(): Uint8Array {
    return new Uint8Array((this.exports.memory as WebAssembly.Memory).buffer);
  }

  write(data: Uint8Array): number {
    const addr = this.fn('bpf2wasm_input')(data.length);
    this.bytes().set(data, addr);
    return addr;
  }

  run(program: string, input: Uint8Array): { r0: string | null; status: number } {
    const exp = this.description.programs.find((p) => p.name === program)!.export;
    const addr = this.write(input);
    let r0: string | null;
    try {
      r0 = BigInt.asUintN(64, this.fn(exp)(addr, input.length)).toString();
    } catch (e) {
      if (!(e instanceof WebAssembly.RuntimeError)) throw e;
      r0 = null;
    }
    return { r0, status: this.fn('bpf2wasm_status')() };
  }

  update(name: string, key: Uint8Array, value: Uint8Array): number {
    const m = this.description.maps.find((x) => x.name === name)!;
    const addr = this.write(new Uint8Array([...key, ...value]));
    return this.fn('bpf2wasm_map_update')(m.index, addr, addr + key.length, 0);
  }

  entries(m: StandaloneDescription['maps'][number]): string[][] {
    const ks = Math.max(m.keySize, 1);
    const base = this.fn('bpf2wasm_input')(2 * ks + Math.max(m.valueSize, 4));
    const out: string[][] = [];
    let prev = 0;
    while (this.fn('bpf2wasm_map_next_key')(m.index, prev, base + ks) === 0) {
      const k = this.bytes().slice(base + ks, base + 2 * ks);
      this.bytes().set(k, base);
      const r = this.fn('bpf2wasm_map_lookup')(m.index, base, base + 2 * ks);
      // An empty slot of a map of maps has a key and no value.
      if (r === 0) out.push([hex(k), hex(this.bytes().slice(base + 2 * ks, base + 2 * ks + m.valueSize))]);
      else expect(r).toBe(-2);
      prev = base;
    }
    return out;
  }

  records(m: StandaloneDescription['maps'][number]): string[] {
    const out: string[] = [];
    const addr = this.fn('bpf2wasm_input')(m.maxEntries);
    for (;;) {
      const n = this.fn('bpf2wasm_ringbuf_consume')(m.index, addr, m.maxEntries);
      if (n < 0) {
        expect(n).toBe(-2); // ENOENT: nothing more
        return out;
      }
      out.push(hex(this.bytes().slice(addr, addr + n)));
    }
  }

  trace(): string[] {
    closeSync(this.fd);
    const text = readFileSync(this.stdoutPath, 'utf8');
    return text === '' ? [] : text.replace(/\n$/, '').split('\n');
  }
}

async function runNode(s: Scenario, wasm: Uint8Array): Promise<Observed> {
  const host = await NodeHost.open(wasm);
  for (const [m, k, v] of s.updates ?? []) expect(host.update(m, k, v)).toBe(0);
  const ringbufs: Observed['ringbufs'] = {};
  const rings = host.description.maps.filter((m) => m.type === 'BPF_MAP_TYPE_RINGBUF');
  for (const m of rings) ringbufs[m.name] = [];
  const consumeAll = (): void => {
    for (const m of rings) ringbufs[m.name]!.push(...host.records(m));
  };
  const runs = s.inputs.map((input) => {
    if (s.consumeEach) consumeAll();
    return host.run(s.program, input);
  });
  consumeAll();
  const maps: Observed['maps'] = {};
  for (const m of host.description.maps) if (DUMPED(m.type)) maps[m.name] = host.entries(m);
  return { runs, trace: host.trace(), maps, ringbufs };
}

const HOST_PY = repoPath('examples/standalone/host.py');
const wasmtimeMissing = ((): string | undefined => {
  const r = spawnSync('python3', ['-c', 'import wasmtime'], { encoding: 'utf8' });
  if (r.error) return `python3 is not installed (${r.error.message})`;
  return r.status === 0 ? undefined : 'the Python wasmtime wheel is not installed (pip install wasmtime)';
})();

function runPython(s: Scenario, wasmPath: string): Observed {
  const args = [HOST_PY, wasmPath, s.program];
  for (const [m, k, v] of s.updates ?? []) args.push('--update', m, hex(k), hex(v));
  for (const input of s.inputs) args.push('--input', hex(input));
  if (s.consumeEach) args.push('--consume-each');
  const r = spawnSync('python3', args, { encoding: 'utf8', timeout: 60_000 });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const out = JSON.parse(r.stdout) as Observed & { updates: number[]; runs: Array<{ r0: string | null; status: number; insn: number }> };
  expect(out.updates.every((u) => u === 0)).toBe(true);
  const maps: Observed['maps'] = {};
  for (const [k, v] of Object.entries(out.maps)) {
    const m = JSON.parse(readFileSync(wasmPath + '.json', 'utf8')) as StandaloneDescription;
    if (DUMPED(m.maps.find((x) => x.name === k)!.type)) maps[k] = v;
  }
  return { runs: out.runs.map(({ r0, status }) => ({ r0, status })), trace: out.trace, maps, ringbufs: out.ringbufs };
}

const NPM_WASM_INTERP = repoPath('node_modules/.bin/wasm-interp');

/** wabt's interpreter: one run of `program` on a fresh instance; WASI calls are logged dummies. */
function runWasmInterp(wasmPath: string, exportName: string, addr: number, len: number): { r0: string; writes: number } {
  const r = spawnSync(NPM_WASM_INTERP, ['--dummy-import-func', wasmPath, '-r', exportName, '-a', `i32:${addr}`, '-a', `i32:${len}`], { encoding: 'utf8', timeout: 60_000 });
  expect(r.status).toBe(0);
  const m = new RegExp(`^${exportName}\\(i32:${addr}, i32:${len}\\) => i64:(\\d+)$`, 'm').exec(r.stdout);
  expect(m, r.stdout + r.stderr).not.toBeNull();
  return { r0: BigInt.asUintN(64, BigInt(m![1]!)).toString(), writes: r.stdout.split('\n').filter((l) => l.startsWith('called host wasi_snapshot_preview1.fd_write(i32:1,')).length };
}

// ---- the scenarios ----

/** The XDP context the input starts with (struct xdp_md: data, data_end, data_meta, ...), then the frame. */
function xdpInput(frame: Uint8Array, dataBase: number): Uint8Array {
  const ctx = new Uint8Array(24 + frame.length);
  const v = new DataView(ctx.buffer);
  v.setUint32(0, dataBase + 24, true);
  v.setUint32(4, dataBase + 24 + frame.length, true);
  v.setUint32(8, dataBase + 24, true);
  ctx.set(frame, 24);
  return ctx;
}

/** bpf_raw_tracepoint_args with args[1] = `nr`. */
function syscallArgs(nr: bigint): Uint8Array {
  const b = new Uint8Array(48);
  new DataView(b.buffer).setBigUint64(8, BigInt.asUintN(64, nr), true);
  return b;
}

const lpmKey = (addr: [number, number, number, number], len: number): Uint8Array => {
  const k = new Uint8Array(8);
  new DataView(k.buffer).setUint32(0, len, true);
  k.set(addr, 4);
  return k;
};
const from = (src: string): Uint8Array => ether(0x0800, ipv4({ proto: 17, src, payload: udp({ dport: 53 }) }));

/** Scenarios by name; `inputs` may depend on the data address (the same in every engine: layout.dataBase). */
const r0s = (o: Observed): Array<string | null> => o.runs.map((r) => r.r0);
const le64 = (n: bigint): string => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, n, true);
  return hex(b);
};

const SCENARIOS: Record<string, (dataBase: number) => Scenario> = {
  'globals and printk': () => ({
    object: 'printk', program: 'hello', inputs: [new Uint8Array(64), new Uint8Array(64), new Uint8Array(64)],
    expect: (o) => {
      expect(r0s(o)).toEqual(['2', '2', '2']);
      expect(o.trace.slice(0, 3)).toEqual(['Helloworld 1', 'no arguments', 'args 1 2 3 4']);
      expect(o.trace[8]).toBe('args 3 4 5 6');
    },
  }),
  'global data': (d) => ({
    object: 'global_data', program: 'track', inputs: [100, 60, 1500, 0, 8].map((n) => xdpInput(new Uint8Array(n).fill(7), d)),
    expect: (o) => expect(r0s(o)).toEqual(['2', '2', '2', '1', '1']),
  }),
  'global data with globals set at compile time': (d) => ({
    object: 'global_data', program: 'track', globals: { config: { step: 5, limit: 12 } },
    inputs: [1, 2, 3, 4].map((n) => xdpInput(new Uint8Array(n), d)),
    expect: (o) => expect(o.maps['.bss']![0]![1]!.slice(0, 16)).toBe(le64(15n)),
  }),
  'tail calls': () => ({
    object: 'tail_calls', program: 'hello', inputs: [59n, 222n, 226n, 1n, 21n, -1n, 300n].map(syscallArgs),
    expect: (o) => {
      expect(o.trace).toContain('Create a timer');
      expect(o.trace).toContain('Another syscall: 1');
      expect(o.trace.length).toBeGreaterThanOrEqual(6);
    },
  }),
  'LPM trie': (d) => ({
    object: 'lpm_blocklist', program: 'xdp_blocklist',
    updates: [
      ['blocklist', lpmKey([10, 0, 0, 0], 8), new Uint8Array(8)],
      ['blocklist', lpmKey([192, 168, 1, 7], 32), new Uint8Array(8)],
      ['blocklist', lpmKey([10, 1, 0, 0], 16), new Uint8Array(8)],
    ],
    inputs: ['10.1.2.3', '192.168.1.7', '192.168.1.8', '11.0.0.1', '10.2.0.1', '10.1.9.9'].map((a) => xdpInput(from(a), d))
      .concat([xdpInput(new Uint8Array(10), d)]),
    expect: (o) => {
      expect(r0s(o)).toEqual(['1', '1', '2', '2', '1', '1', '2']);
      expect(o.maps.blocklist!.map(([, v]) => v).sort()).toEqual([le64(1n), le64(2n), le64(1n)].sort());
    },
  }),
  'bpf_loop': (d) => ({
    object: 'loop_callback', program: 'sum_squares', inputs: [10, 1000, 0, 3].map((n) => xdpInput(new Uint8Array(n), d)),
    expect: (o) => {
      expect(r0s(o)).toEqual(['2', '2', '2', '2']);
      // After n = 3: iterations 3, result 0 + 1 + 4 = 5.
      expect(o.maps['.bss']![0]![1]).toBe(le64(3n) + le64(5n)); // iterations, result (.bss order)
    },
  }),
  'bpf_loop at -O1 (Binaryen) with a budget some runs exceed': (d) => ({
    object: 'loop_callback', program: 'sum_squares', options: { optLevel: 1, budget: 300 },
    inputs: [10, 1000, 0, 3, 500].map((n) => xdpInput(new Uint8Array(n), d)),
    expect: (o) => expect(o.runs.map((r) => r.status)).toEqual([0, 5, 0, 0, 5]),
  }),
  'tail calls at -O2': () => ({
    object: 'tail_calls', program: 'hello', options: { optLevel: 2 }, inputs: [59n, 222n, 1n].map(syscallArgs),
    expect: (o) => expect(o.trace).toContain('Create a timer'),
  }),
  'checked mode: a memory fault between good runs': () => ({
    object: 'fault', program: 'read_past_end', options: { checked: true }, inputs: [new Uint8Array(64), new Uint8Array(8000), new Uint8Array(64)],
    expect: (o) => expect(o.runs.map((r) => r.status)).toEqual([4, 0, 4]),
  }),
  'for_each, snprintf, strtol, ring buffer output/reserve/discard/query until full, queue': () => ({
    object: 'standalone_helpers', program: 'helpers', inputs: Array.from({ length: 10 }, (_, k) => syscallArgs(BigInt(k))),
    expect: (o) => {
      expect(r0s(o)).toEqual(Array.from({ length: 10 }, (_, k) => String(k + 1))); // args[0] is 0
      expect(o.ringbufs.events!.map((r) => r.length / 2)).toEqual([64, 1500, ...new Array(9).fill(64)]); // no room for another 1500
      expect(o.trace[9]).toBe('run 10: 5 visited, sum 55, ok');
    },
  }),
  'ring buffer consumed between runs: wraps around with padding records': () => ({
    object: 'standalone_helpers', program: 'helpers', consumeEach: true, inputs: Array.from({ length: 12 }, () => syscallArgs(0n)),
    expect: (o) => {
      // Every run's 64-byte record, and a 1500-byte one of each odd run.
      expect(o.ringbufs.events!.map((r) => r.length / 2)).toEqual(Array.from({ length: 12 }, (_, k) => (k % 2 === 0 ? [64, 1500] : [64])).flat());
      expect(o.ringbufs.events!.filter((r) => r.length === 3000).map((r) => r.slice(0, 2))).toEqual(['01', '03', '05', '07', '09', '0b']);
    },
  }),
  'ring buffer': () => ({
    object: 'ringbuf_hello', program: 'hello', inputs: [new Uint8Array(64), new Uint8Array(64), new Uint8Array(64)],
    expect: (o) => {
      expect(o.ringbufs.output).toHaveLength(3);
      expect(Buffer.from(o.ringbufs.output![0]!, 'hex').includes(Buffer.from('bpf2wasm'))).toBe(true);
    },
  }),
};

describe('standalone modules', () => {
  for (const [name, make] of Object.entries(SCENARIOS)) {
    describe(name, () => {
      let compiled: { wasm: Uint8Array; description: StandaloneDescription; path: string; scenario: Scenario; js: Observed } | undefined;
      const get = async (): Promise<NonNullable<typeof compiled>> => {
        if (compiled) return compiled;
        const probe = make(0);
        const { wasm, description } = await compileStandalone(cObject(probe.object), { optLevel: 0, ...probe.options, ...(probe.globals ? { globals: probe.globals } : {}) });
        const scenario = make(description.input);
        const path = join(TMP, `${probe.object}.wasm`);
        writeFileSync(path, wasm);
        writeFileSync(path + '.json', JSON.stringify(description));
        compiled = { wasm, description, path, scenario, js: await runJs(scenario, description) };
        scenario.expect(compiled.js);
        return compiled;
      };

      it('imports only WASI and validates', async () => {
        const { wasm } = await get();
        const module = await WebAssembly.compile(new Uint8Array(wasm));
        const imports = WebAssembly.Module.imports(module);
        expect(imports.every((i) => i.module === 'wasi_snapshot_preview1')).toBe(true);
        expect(WebAssembly.Module.exports(module).map((e) => e.name)).toContain('memory');
      });

      it('Node WASI (V8): the same runs, trace, maps and records as the JS runtime', async () => {
        const c = await get();
        const got = await runNode(c.scenario, c.wasm);
        expect(got).toEqual(c.js);
      });

      it.skipIf(!!wasmtimeMissing)(`Wasmtime (examples/standalone/host.py)${wasmtimeMissing ? ` skipped: ${wasmtimeMissing}` : ''}: the same as the JS runtime`, async () => {
        const c = await get();
        expect(runPython(c.scenario, c.path)).toEqual(c.js);
      });
    });
  }
});

describe('standalone modules under wabt wasm-interp (WASI imports as logging dummies)', () => {
  const cases: Array<[object: string, program: string, len: number]> = [
    ['printk', 'hello', 64], ['tail_calls', 'hello', 48], ['loop_callback', 'sum_squares', 24], ['ringbuf_hello', 'hello', 64],
    ['global_data', 'track', 24],
  ];
  for (const [object, program, len] of cases) {
    it(`${object}: r0 and the number of trace writes of a first run on ${len} zero bytes, as the JS runtime`, async () => {
      const { wasm, description } = await compileStandalone(cObject(object), { optLevel: 0 });
      const path = join(TMP, `interp-${object}.wasm`);
      writeFileSync(path, wasm);
      const trace: string[] = [];
      const inst = await instantiateObject(cObject(object), { optLevel: 0, trace: (l) => trace.push(l) });
      const r0 = inst.program(program).run(new Uint8Array(len)).toString();
      const exp = description.programs.find((p) => p.name === program)!.export;
      expect(runWasmInterp(path, exp, description.input, len)).toEqual({ r0, writes: trace.length });
    });
  }
});

describe('Debian\'s wabt 1.0.32 wasm-interp (no WASI, no arguments: only exports without parameters run)', () => {
  const DEBIAN = '/usr/bin/wasm-interp';
  const missing = spawnSync(DEBIAN, ['--version'], { encoding: 'utf8' }).error ? `${DEBIAN} is not installed (apt-get install wabt)` : undefined;
  it.skipIf(!!missing)(`instantiates a standalone module (data and element segments) and runs its status exports${missing ? ` skipped: ${missing}` : ''}`, async () => {
    const { wasm } = await compileStandalone(cObject('loop_callback'), { optLevel: 0 });
    const path = join(TMP, 'debian-interp.wasm');
    writeFileSync(path, wasm);
    const r = spawnSync(DEBIAN, ['--dummy-import-func', path, '--run-all-exports'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^bpf2wasm_status\(\) => i32:0$/m);
    expect(r.stdout).toMatch(/^bpf2wasm_status_insn\(\) => i32:0$/m);
  });
});

describe('what a standalone module carries: the support functions and WASI imports its programs reach', () => {
  const imports = async (object: string): Promise<string[]> => {
    const { wasm } = await compileStandalone(cObject(object), { optLevel: 0 });
    return WebAssembly.Module.imports(await WebAssembly.compile(new Uint8Array(wasm))).map((i) => `${i.module}.${i.name}`);
  };
  it('printk imports fd_write only; maps-only programs import nothing; ringbuf_hello nothing (its task helpers are constants)', async () => {
    expect(await imports('printk')).toEqual(['wasi_snapshot_preview1.fd_write']);
    expect(await imports('xdp_counter')).toEqual([]);
    expect(await imports('loop_callback')).toEqual([]);
    expect(await imports('ringbuf_hello')).toEqual([]);
    expect(await imports('http_filter')).toEqual(['wasi_snapshot_preview1.clock_time_get']);
  });
  it('a program using no printf-like helper carries no formatter: the module is smaller than the support module', async () => {
    const { wasm } = await compileStandalone(cObject('xdp_counter'), { optLevel: 0 });
    expect(wasm.length).toBeLessThan(supportWasmBytes().length * 0.7);
  });
});

describe('faults: the run traps and bpf2wasm_status says why', () => {
  it('checked mode: status 4 (E_MEMORY_FAULT) with the instruction and address the JS runtime reports', async () => {
    const object = cObject('fault');
    const { wasm, description } = await compileStandalone(object, { optLevel: 0, checked: true });
    const inst = await instantiateObject(object, { optLevel: 0, checked: true });
    const err = (() => {
      try {
        inst.program('read_past_end').run(new Uint8Array(64));
      } catch (e) {
        return e as { code: string; location: { insn: number; address: number } };
      }
      throw new Error('the JS run did not fault');
    })();
    expect(err.code).toBe(ErrorCode.MemoryFault);
    const host = await NodeHost.open(wasm);
    expect(host.run('read_past_end', new Uint8Array(64))).toEqual({ r0: null, status: 4 });
    expect(host.fn('bpf2wasm_status_insn')()).toBe(err.location.insn);
    expect(host.fn('bpf2wasm_status_detail')() >>> 0).toBe(err.location.address);
    expect(description.status['4']).toMatch(/E_MEMORY_FAULT/);
  });

  it('an access outside linear memory: status 1 (trap); the next run works', async () => {
    const { wasm } = await compileStandalone(cObject('fault'), { optLevel: 0 });
    const host = await NodeHost.open(wasm);
    const size = host.bytes().length;
    expect(() => host.fn('read_past_end')(size - 16, 16)).toThrow(WebAssembly.RuntimeError);
    expect(host.fn('bpf2wasm_status')()).toBe(1);
    expect(host.run('read_past_end', new Uint8Array(64))).toEqual({ r0: '2', status: 0 });
  });

  it('budget: status 5 (E_BUDGET) at the instruction the JS runtime names; the next run works', async () => {
    const object = cObject('loop_callback');
    const { wasm, description } = await compileStandalone(object, { optLevel: 0, budget: 200 });
    const inst = await instantiateObject(object, { optLevel: 0, budget: 200 });
    const input = (n: number): Uint8Array => xdpInput(new Uint8Array(n), description.input);
    let insn = -1;
    try {
      inst.program('sum_squares').run(input(1000));
      throw new Error('the JS run did not exceed its budget');
    } catch (e) {
      expect((e as { code: string }).code).toBe(ErrorCode.Budget);
      insn = (e as { location: { insn: number } }).location.insn;
    }
    const host = await NodeHost.open(wasm);
    expect(host.run('sum_squares', input(1000))).toEqual({ r0: null, status: 5 });
    expect(host.fn('bpf2wasm_status_insn')()).toBe(insn);
    expect(host.run('sum_squares', input(3))).toEqual({ r0: '2', status: 0 });
  });
});

describe('programs that need a host: E_STANDALONE_HELPER', () => {
  const refused = async (object: string, options: Parameters<typeof compileStandalone>[1] = {}): Promise<CompileError> => {
    try {
      await compileStandalone(cObject(object), { optLevel: 0, ...options });
    } catch (e) {
      expect(e).toBeInstanceOf(CompileError);
      return e as CompileError;
    }
    throw new Error(`${object} compiled as a standalone module`);
  };

  it('a packet helper of the JS test run (bpf_xdp_adjust_meta) names helper and program', async () => {
    const e = await refused('xdp_meta_trim');
    expect(e.code).toBe(ErrorCode.StandaloneHelper);
    expect(e.message).toMatch(/program meta_trim calls helper bpf_xdp_adjust_meta \(id 54\), which needs a host/);
    expect(e.location).toMatchObject({ helper: 'bpf_xdp_adjust_meta', program: 'meta_trim' });
    expect(typeof e.location.insn).toBe('number');
  });

  it('a custom helper by id', async () => {
    const e = await refused('custom_helpers');
    expect(e.code).toBe(ErrorCode.StandaloneHelper);
    expect(e.location.helper).toMatch(/^helper_\d+$/);
    expect(e.message).toContain(`program ${e.location.program} calls helper ${e.location.helper}`);
  });

  it('a kfunc', async () => {
    const e = await refused('kfuncs');
    expect(e.code).toBe(ErrorCode.StandaloneHelper);
    expect(e.message).toMatch(/calls kfunc \w+/);
  });

  it('a tc program\'s skb helper', async () => {
    const e = await refused('tc_port_rewrite');
    expect(e.code).toBe(ErrorCode.StandaloneHelper);
    expect(e.location.helper).toMatch(/^bpf_(skb|l4|l3)_/);
  });
});

describe('bpf2wasm compile --standalone', () => {
  const fakeIO = (files: Record<string, Uint8Array | string>): CliIO & { out: string; err: string; files: Record<string, Uint8Array | string> } => {
    const io = {
      out: '', err: '', files: { ...files } as Record<string, Uint8Array | string>,
      readFile: async (path: string): Promise<Uint8Array> => {
        const f = io.files[path];
        if (f === undefined) throw Object.assign(new Error(`ENOENT: no such file ${path}`), { code: 'ENOENT' });
        return typeof f === 'string' ? new TextEncoder().encode(f) : f;
      },
      writeFile: async (path: string, data: Uint8Array | string): Promise<void> => {
        io.files[path] = data;
      },
      stdout: (t: string): void => {
        io.out += t;
      },
      stderr: (t: string): void => {
        io.err += t;
      },
      now: (): number => 0,
    };
    return io;
  };

  it('writes the module and, with --manifest, its description; the module runs', async () => {
    const io = fakeIO({ 'p.o': cObject('printk') });
    expect(await main(['compile', 'p.o', '-O0', '--standalone', '-o', 'p.wasm', '--manifest', 'p.json'], io)).toBe(0);
    expect(io.err).toBe('');
    expect(io.out).toMatch(/^wrote p\.wasm \(\d+ bytes, standalone: imports WASI only\)\n$/);
    const wasm = io.files['p.wasm'] as Uint8Array;
    const description = JSON.parse(io.files['p.json'] as string) as StandaloneDescription;
    expect(description.programs.map((p) => p.name)).toEqual(['hello']);
    const host = await NodeHost.open(wasm);
    expect(host.run('hello', new Uint8Array(8))).toEqual({ r0: '2', status: 0 });
    expect(host.trace()).toEqual(['Helloworld 1', 'no arguments', 'args 1 2 3 4']);
  });

  it('a host-only helper: exit 1 with E_STANDALONE_HELPER naming helper and program, nothing written', async () => {
    const io = fakeIO({ 'm.o': cObject('xdp_meta_trim') });
    expect(await main(['compile', 'm.o', '--standalone', '-o', 'm.wasm'], io)).toBe(1);
    expect(io.err).toMatch(/E_STANDALONE_HELPER.*bpf_xdp_adjust_meta/);
    expect(io.err).toMatch(/meta_trim/);
    expect(io.files['m.wasm']).toBeUndefined();
  });

  it('bytecode: one program main, no maps', async () => {
    const io = fakeIO({ 'p.s': 'mov %r0, 6\nmul %r0, 7\nexit\n' });
    expect(await main(['compile', 'p.s', '--standalone', '-o', 'p.wasm'], io), io.err).toBe(0);
    const host = await NodeHost.open(io.files['p.wasm'] as Uint8Array);
    expect(host.run('main', new Uint8Array(0))).toEqual({ r0: '42', status: 0 });
    host.trace();
  });

  it('run --standalone is a usage error (exit 2)', async () => {
    const io = fakeIO({ 'p.o': cObject('printk') });
    expect(await main(['run', 'p.o', '--standalone'], io)).toBe(2);
    expect(io.err).toMatch(/--standalone goes with compile/);
  });
});

describe('every test program that needs no host: each program run three times on zero bytes, as the JS runtime', () => {
  const objects = objectFiles('test-programs/c').map((f) => f.replace(/^.*\//, '').replace(/\.o$/, ''));
  it('at least the objects of the scenarios above are among them', () => {
    expect(objects).toEqual(expect.arrayContaining(['printk', 'tail_calls', 'lpm_blocklist', 'loop_callback', 'ringbuf_hello', 'soak', 'typed_maps']));
  });
  for (const object of objects) {
    it(object, async () => {
      let sa: Awaited<ReturnType<typeof compileStandalone>>;
      try {
        sa = await compileStandalone(cObject(object), { optLevel: 0 });
      } catch (e) {
        // Programs that need a host are refused by name (the tests above check the message).
        expect((e as { code: string }).code).toBe(ErrorCode.StandaloneHelper);
        return;
      }
      for (const p of sa.description.programs) {
        const s: Scenario = { object, program: p.name, inputs: [new Uint8Array(64), new Uint8Array(64), new Uint8Array(64)], expect: () => {} };
        expect(await runNode(s, sa.wasm), `${object}: ${p.name}`).toEqual(await runJs(s, sa.description));
      }
    });
  }
});

describe('the conformance suite as standalone modules (raw bytecode, compileStandaloneBytecode)', () => {
  if (!HAVE_CONFORMANCE) {
    it.skipIf(true)(NO_CONFORMANCE, () => {});
    return;
  }
  for (const optLevel of [0, 2] as const) {
    it(`-O${optLevel}: every file gives its -- result under Node's WASI (or fails: status, or a typed error)`, async () => {
      let ran = 0;
      for (const name of CONFORMANCE_FILES) {
        const data = readConformance(name);
        const bytes = data.asm !== undefined ? assemble(data.asm) : data.raw!;
        let sa: Awaited<ReturnType<typeof compileStandaloneBytecode>>;
        try {
          sa = await compileStandaloneBytecode(bytes, { optLevel });
        } catch (e) {
          expect(e, name).toBeInstanceOf(Bpf2WasmError);
          expect((e as Bpf2WasmError).code, name).not.toBe(ErrorCode.Internal);
          continue;
        }
        const host = await NodeHost.open(sa.wasm);
        const got = host.run('main', data.mem ?? new Uint8Array(0));
        host.trace();
        if (data.error !== undefined) {
          expect(got.r0, `${name} should fail`).toBeNull();
          continue;
        }
        expect(got, name).toEqual({ r0: data.result!.toString(), status: 0 });
        ran++;
      }
      expect(ran).toBeGreaterThan(150);
    }, 600_000);
  }
});
