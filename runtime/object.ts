/**
 * The runtime side of a compiled ELF object: its maps in linear memory (created from the
 * manifest), the standard helpers wired to them, callbacks, global variables, ring and perf
 * buffers, trace output, and the JS API user code sees (`BpfMap`).
 */
import { CALLBACK_EXPORT_PREFIX, type Manifest, type MapManifest } from './abi.js';
import { fromBase64 } from './base64.js';
import { packetHelpers } from './packet/helpers.js';
import { checkHostNetwork, netStateOf, setNetState, type HostNetwork } from './packet/net.js';
import { cgroupNumber, rootOnly, type NetCgroups } from './packet/cgroups.js';
import { BpfRuntimeError, ErrorCode } from './errors.js';
import type { HelperDefinition } from './helper-registry.js';
import { BpfMap, mapInfo } from './maps/api.js';
import { BpfFunc, helperById } from './helper-table.js';
import { Errno, MapPinning, MapType } from './uapi/index.js';

/** LIBBPF_PIN_BY_NAME. */
import { MapStore } from './maps/store.js';
import { checkMapsLayout } from './maps/placement.js';
import { checkKernelValues, prepareSockCasts, type SockCastArea } from './packet/sock-cast.js';
import { PerfEventArray } from './stdlib/perf.js';
import { RingBuffer } from './stdlib/ringbuf.js';
import { createStandardHelpers, type StandardHelpers } from './stdlib/standard.js';
import { HOST_ENV_DEFAULTS, type HostEnv } from './stdlib/host.js';
import type { PinRegistry } from './pins.js';
import { decodeValue, encodeValue, type TypeDesc } from './values.js';
import { objectRuntimeLoaded } from './object-loader.js';

/** Where trace output (bpf_printk) goes. */
export type TraceSink = (line: string) => void;

export interface ObjectOptions {
  /** Values the helpers report for the current task, clocks, randomness, probe-readable memory. */
  env?: HostEnv;
  /** Receives each line of bpf_printk output; by default lines go to console.log. */
  trace?: TraceSink;
  /**
   * Global variables to set before any program runs, by name (`.rodata` configuration as libbpf
   * skeletons set it before load, `.data`, `.bss`).
   */
  globals?: Record<string, unknown>;
  /**
   * The maps module (wasm/maps/), already compiled: for hosts that forbid compiling Wasm from
   * bytes at run time (Cloudflare Workers), which import `dist/runtime/maps/maps.wasm` at deploy
   * time as they import the program's module. By default the runtime compiles its embedded copy.
   */
  mapsModule?: WebAssembly.Module;
  /**
   * The registry of pinned maps (the runtime's bpffs): maps pinned by name take over the contents
   * an earlier instance left there, and are registered as the current holders.
   */
  pins?: PinRegistry;
  /**
   * The host's network state the packet helpers see: interfaces, routes and neighbours for
   * `bpf_fib_lookup` and `bpf_redirect_neigh` (runtime/packet/net.ts). Without it, the test
   * run's host: the loopback device only, no routes, forwarding off. Malformed state is
   * E_HOST_STATE naming the field (`net.routes[2].prefix`).
   */
  net?: HostNetwork;
}

type CallbackFn = (r1: bigint, r2: bigint, r3: bigint, r4: bigint, r5: bigint) => bigint;

/** One trace_pipe reader: lines not yet read, and the `next()` calls waiting for one (FIFO). */
class TraceStream {
  private readonly lines: string[] = [];
  private readonly waiters: Array<(r: IteratorResult<string>) => void> = [];
  private done = false;

  push(line: string): void {
    const w = this.waiters.shift();
    if (w) w({ value: line, done: false });
    else this.lines.push(line);
  }

  next(): Promise<IteratorResult<string>> {
    if (this.lines.length > 0) return Promise.resolve({ value: this.lines.shift()!, done: false });
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  end(): void {
    this.done = true;
    this.lines.length = 0;
    for (const w of this.waiters.splice(0)) w({ value: undefined, done: true });
  }
}

/** The maps, buffers and helpers of one instance of a compiled object. */
export class ObjectRuntime {
  /** The maps by name. */
  readonly maps: ReadonlyMap<string, BpfMap>;
  /** Helpers the object's programs import (the runtime's); the host's own take precedence. */
  readonly helpers: HelperDefinition[];
  private readonly byIndex: BpfMap[];
  private readonly ringbufs = new Map<number, RingBuffer>();
  private readonly perfs = new Map<number, PerfEventArray>();
  private callbacks: CallbackFn[] = [];
  private traceSink: TraceSink;

  private constructor(
    readonly memory: WebAssembly.Memory,
    readonly manifest: Manifest,
    readonly store: MapStore,
    options: ObjectOptions,
  ) {
    this.traceSink = options.trace ?? ((line) => console.log(line));
    const infos = manifest.maps ?? [];
    this.byIndex = infos.map((m) => new BpfMap(this.store, m, {
      programNumber: (name) => this.programNumber(name),
      programName: (n) => manifest.programs[n]?.name,
      mapByName: (name) => this.maps.get(name),
      mapByDesc: (desc) => this.byIndex.find((x) => mapInfo(x).desc === desc),
      cgroupNumber: (path) => cgroupNumber(this.cgroups(), path),
      cgroupPath: (n) => this.cgroups().list[n]?.path,
    }));
    this.maps = new Map(this.byIndex.map((m) => [m.name, m]));
    for (const m of infos) {
      if (m.type === MapType.RINGBUF) this.ringbufs.set(m.desc, new RingBuffer(memory, m.values, m.maxEntries, m.name));
      // max_entries 0 means one slot per CPU (libbpf), and there is one CPU.
      if (m.type === MapType.PERF_EVENT_ARRAY) this.perfs.set(m.desc, new PerfEventArray({ maxEntries: m.maxEntries || 1, name: m.name }));
    }
    const mapStore = this.store;
    const floor = manifest.layout.arenaBase ?? manifest.layout.stackBase;
    const mapHelpers = Object.entries(mapStore.helperImports).map(([id, fn]): HelperDefinition => {
      const f = fn as (map: number, value: number) => bigint;
      // pop and peek write the value through the program's pointer: never into map metadata.
      if (Number(id) === BpfFunc.map_pop_elem || Number(id) === BpfFunc.map_peek_elem) {
        return { id: Number(id), name: helperById(Number(id))?.name, fn: (map: number, value: number) => ((value >>> 0) < floor ? BigInt(-Errno.EFAULT) : f(map, value)) };
      }
      return { id: Number(id), name: helperById(Number(id))?.name, fn: fn as HelperDefinition['fn'], direct: true };
    });
    // The standard and packet helpers (89) are closures over this instance: an object
    // whose programs call only map helpers (and no helper by a computed id, callx) never needs
    // them, and building them is most of a first instantiate's JavaScript (README "Benchmarks").
    const onlyMapHelpers = !manifest.usesCallx && manifest.helpers.every((h) => !h.kfunc && Object.hasOwn(mapStore.helperImports, h.id));
    if (onlyMapHelpers) {
      this.helpers = mapHelpers;
      return;
    }
    const stdlib = this.makeStdlib(memory, options);
    this.stdlib = stdlib;
    const sockCasts = this.sockCastArea();
    this.helpers = [
      ...mapHelpers,
      ...stdlib.helpers,
      ...packetHelpers(memory, {
        mapAt: (desc) => this.byIndex.find((x) => mapInfo(x).desc === desc),
        valueAddress: (index, key) => mapStore.valueAddress(index, key),
        perfOutput: (desc, flags, data) => this.perfs.get(desc)?.output(flags, data, (options.env?.cpu ?? HOST_ENV_DEFAULTS.cpu) >>> 0),
        standardPerfOutput: stdlib.helpers.find((h) => h.id === BpfFunc.perf_event_output)?.fn,
        ...(sockCasts ? { sockCasts } : {}),
      }),
    ];
  }

  /**
   * The bpf_skc_to_* casts' area (manifest `sockCasts`), checked, with the host sockets'
   * `kernel` values checked against its layouts (E_BAD_MODULE, E_HOST_STATE).
   */
  private sockCastArea(): SockCastArea | undefined {
    const m = this.manifest.sockCasts;
    if (m === undefined) return undefined;
    const k = this.manifest.keyScratch;
    const floor = k ? k.address + k.slots * k.slotSize : this.manifest.layout.arenaBase ?? this.manifest.layout.stackBase;
    const area = prepareSockCasts(m, floor, this.manifest.layout.stackBase);
    const net = netStateOf(this.memory);
    if (net) checkKernelValues(net, area);
    return area;
  }

  /** The standard helpers' state; undefined when the programs call only map helpers. */
  private stdlib: StandardHelpers | undefined;

  private makeStdlib(memory: WebAssembly.Memory, options: ObjectOptions): StandardHelpers {
    const mapStore = this.store;
    return createStandardHelpers({
        memory,
        accessFloor: this.manifest.layout.arenaBase ?? this.manifest.layout.stackBase,
        env: options.env ?? {},
        trace: (line) => this.emitTrace(line),
        mapAt: (desc) => {
          const m = this.byIndex.find((x) => mapInfo(x).desc === desc);
          return m ? { index: m.index, name: m.name, type: m.type } : undefined;
        },
        entries: (desc) => this.entriesForCallback(desc),
        callCallback: (n, r1, r2, r3, r4, r5) => {
          const fn = this.callbacks[n];
          if (!fn) throw new BpfRuntimeError(ErrorCode.HelperFailed, `callback ${n} does not exist in this module`);
          return BigInt.asUintN(64, fn(r1, r2, r3, r4, r5));
        },
        ringbufAt: (desc) => this.ringbufs.get(desc),
        perfAt: (desc) => this.perfs.get(desc),
      });
  }

  private forEachDepth = 0;

  /**
   * The entries bpf_for_each_map_elem hands to its callback, with each key copied to the key
   * scratch area of the current nesting level (keys of hash maps live in metadata, which the
   * program may not read).
   */
  private *entriesForCallback(desc: number): Generator<[number, number]> {
    const scratch = this.manifest.keyScratch;
    const map = this.byIndex.find((m) => mapInfo(m).desc === desc);
    if (!scratch || !map || this.forEachDepth >= scratch.slots) {
      throw new BpfRuntimeError(ErrorCode.HelperFailed, 'bpf_for_each_map_elem nests deeper than the call depth limit', { helper: 'bpf_for_each_map_elem' });
    }
    const slot = scratch.address + this.forEachDepth * scratch.slotSize;
    this.forEachDepth++;
    try {
      for (const [keyAddr, valueAddr] of this.store.entries(desc)) {
        const mem = new Uint8Array(this.memory.buffer);
        mem.copyWithin(slot, keyAddr, keyAddr + map.keySize);
        yield [slot, valueAddr];
      }
    } finally {
      this.forEachDepth--;
    }
  }

  /**
   * After a run that faulted: forget spin locks it held and ring buffer records it reserved but
   * never submitted (which would otherwise block the ring), as the kernel's verifier guarantees
   * a program never leaves them.
   */
  afterFault(): void {
    this.stdlib?.reset();
    this.forEachDepth = 0;
  }

  /** Creates the maps of `manifest` in `memory` and their initial contents (before instantiation). */
  static async create(memory: WebAssembly.Memory, manifest: Manifest, options: ObjectOptions = {}): Promise<ObjectRuntime> {
    // The manifest comes with the module, which may be anyone's: its placements must be the
    // layout bpf2wasm computes for its maps, or nothing is written.
    checkMapsLayout(manifest);
    if (options.net !== undefined) setNetState(memory, checkHostNetwork(options.net));
    const maps = manifest.maps ?? [];
    const store = await MapStore.create(memory, maps.map((m) => ({
      index: m.index,
      shape: { name: m.name, type: m.type, keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries, flags: m.flags, mapExtra: m.mapExtra },
      placement: { desc: m.desc, values: m.values, valuesSize: m.valuesSize, meta: m.meta, metaSize: m.metaSize },
      ...(m.innerDef ? { inner: { name: `${m.name}.inner`, mapExtra: 0, ...m.innerDef } } : {}),
    })), options.mapsModule ? { module: options.mapsModule } : {});
    const rt = new ObjectRuntime(memory, manifest, store, options);
    rt.initialContents();
    if (options.globals) for (const [k, v] of Object.entries(options.globals)) rt.setGlobal(k, v);
    if (options.pins) for (const m of rt.byIndex) if (mapInfo(m).pinning === MapPinning.BY_NAME && !mapInfo(m).internal) options.pins.adopt(m);
    return rt;
  }

  /** Binds the instance's exports (callbacks) once the module is instantiated. */
  attach(exports: WebAssembly.Exports): void {
    for (const cb of this.manifest.callbacks ?? []) {
      const fn = exports[cb.exportName] ?? exports[CALLBACK_EXPORT_PREFIX + cb.number];
      if (typeof fn !== 'function') {
        throw new BpfRuntimeError(ErrorCode.BadModule, `the module does not export callback ${cb.number}`);
      }
      this.callbacks[cb.number] = fn as CallbackFn;
    }
  }

  private readonly traceStreams = new Set<TraceStream>();

  private emitTrace(line: string): void {
    this.traceSink(line);
    for (const s of this.traceStreams) s.push(line);
  }

  /**
   * Trace output as a stream: an async iterator over the lines printed from now on (as reading
   * /sys/kernel/tracing/trace_pipe), besides the `trace` sink. Each pending `next()` gets its own
   * line, in order; `return()` (a `break` out of `for await`) ends it and every pending `next()`.
   */
  traceLines(): AsyncIterableIterator<string> {
    const stream = new TraceStream();
    this.traceStreams.add(stream);
    const streams = this.traceStreams;
    const it: AsyncIterableIterator<string> = {
      next: (): Promise<IteratorResult<string>> => stream.next(),
      return: (): Promise<IteratorResult<string>> => {
        streams.delete(stream);
        stream.end();
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return it;
      },
    };
    return it;
  }

  /** Replaces where trace output goes. */
  onTrace(sink: TraceSink): void {
    this.traceSink = sink;
  }

  map(name: string): BpfMap {
    const m = this.maps.get(name);
    if (!m) {
      throw new BpfRuntimeError(ErrorCode.BadArgument, `no map named ${name}; the object has ${[...this.maps.keys()].join(', ') || 'no maps'}`, { map: name });
    }
    return m;
  }

  private readonly handedOut = new Set<string>();

  /**
   * A new inner map for the map of maps `outer`, to store in it (`map(outer).set(key, inner)`),
   * as user code creates inner maps with bpf_map_create: taken from the pool laid out at compile
   * time (compileObject's innerMapPool); E_MAP_OP (ENOSPC) when the pool is used up.
   */
  createInnerMap(outer: string): BpfMap {
    this.map(outer);
    const free = this.byIndex.find((m) => mapInfo(m).poolOf === outer && !this.handedOut.has(m.name));
    if (!free) {
      const size = this.byIndex.filter((m) => mapInfo(m).poolOf === outer).length;
      throw new BpfRuntimeError(
        ErrorCode.MapOp,
        `no inner map left for ${outer} (ENOSPC): its pool of ${size} was laid out at compile time; compile with a larger innerMapPool`,
        { map: outer },
      );
    }
    this.handedOut.add(free.name);
    return free;
  }

  /** The ring buffer of a RINGBUF map: consume records with a callback or `for await`. */
  ringbuf(name: string): RingBuffer {
    const m = this.map(name);
    const rb = this.ringbufs.get(mapInfo(m).desc);
    if (!rb) throw new BpfRuntimeError(ErrorCode.BadArgument, `map ${name} is not a ring buffer`, { map: name });
    return rb;
  }

  /** The perf buffer of a PERF_EVENT_ARRAY map. */
  perf(name: string): PerfEventArray {
    const m = this.map(name);
    const pb = this.perfs.get(mapInfo(m).desc);
    if (!pb) throw new BpfRuntimeError(ErrorCode.BadArgument, `map ${name} is not a perf event array`, { map: name });
    return pb;
  }

  /** Every ring buffer and perf buffer, by map name. */
  buffers(): { ringbufs: Map<string, RingBuffer>; perfs: Map<string, PerfEventArray> } {
    const ringbufs = new Map<string, RingBuffer>();
    const perfs = new Map<string, PerfEventArray>();
    for (const m of this.byIndex) {
      const rb = this.ringbufs.get(mapInfo(m).desc);
      if (rb) ringbufs.set(m.name, rb);
      const pb = this.perfs.get(mapInfo(m).desc);
      if (pb) perfs.set(m.name, pb);
    }
    return { ringbufs, perfs };
  }

  /** Reads a global variable (of `.data`, `.rodata`, `.bss`, ...), decoded with its BTF type. */
  getGlobal(name: string): unknown {
    const { map, v } = this.findGlobal(name);
    const bytes = new Uint8Array(this.memory.buffer, map.values + v.offset, v.size);
    return v.type ? decodeValue(v.type, bytes) : bytes.slice();
  }

  /** Writes a global variable; `.rodata` too, as skeletons do before load. */
  setGlobal(name: string, value: unknown): void {
    const { map, v } = this.findGlobal(name);
    let bytes: Uint8Array;
    if (value instanceof Uint8Array) bytes = value;
    else if (v.type) bytes = encodeValue(v.type, value);
    else throw new BpfRuntimeError(ErrorCode.BadArgument, `global ${name} has no BTF type: pass its bytes as a Uint8Array`, { map: map.name });
    if (bytes.length !== v.size) {
      throw new BpfRuntimeError(ErrorCode.BadArgument, `global ${name} is ${v.size} bytes, not ${bytes.length}`, { map: map.name });
    }
    new Uint8Array(this.memory.buffer, map.values + v.offset, v.size).set(bytes);
  }

  /** Names of the global variables, by data section. */
  globals(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const m of this.manifest.maps ?? []) if (m.internal) out[m.name] = (m.variables ?? []).map((v) => v.name);
    return out;
  }

  private findGlobal(name: string): { map: MapManifest; v: { name: string; offset: number; size: number; type?: TypeDesc } } {
    for (const map of this.manifest.maps ?? []) {
      if (!map.internal) continue;
      const v = map.variables?.find((x) => x.name === name);
      if (v) {
        if (v.offset < 0 || v.offset + v.size > map.valueSize) break;
        return { map, v };
      }
    }
    throw new BpfRuntimeError(ErrorCode.BadArgument, `the object has no global variable ${name}`);
  }

  /** The host's cgroups (`net.cgroups`; the root only without host state). */
  private cgroups(): NetCgroups {
    return netStateOf(this.memory)?.cgroups ?? rootOnly();
  }

  private programNumber(name: string): number {
    const n = this.manifest.programs.findIndex((p) => p.name === name);
    if (n < 0) {
      throw new BpfRuntimeError(ErrorCode.BadArgument, `no program named ${name} in this module; it has ${this.manifest.programs.map((p) => p.name).join(', ')}`, { program: name });
    }
    return n;
  }

  /** Data sections' initial bytes, static PROG_ARRAY slots and maps of maps. */
  private initialContents(): void {
    for (const m of this.manifest.maps ?? []) {
      if (m.initialData) {
        let data: Uint8Array;
        try {
          data = fromBase64(m.initialData);
        } catch {
          throw new BpfRuntimeError(ErrorCode.BadModule, `initial data of map ${m.name} in the manifest is not base64`, { map: m.name });
        }
        if (data.length > m.valueSize || m.values + data.length > this.memory.buffer.byteLength) {
          throw new BpfRuntimeError(ErrorCode.BadModule, `initial data of map ${m.name} does not fit its value`, { map: m.name });
        }
        new Uint8Array(this.memory.buffer, m.values, data.length).set(data);
      }
      for (const slot of m.initialValues ?? []) {
        const map = this.byIndex[m.index]!;
        if (slot.program !== undefined) {
          // A program the module was not compiled with leaves its slot empty.
          if (this.manifest.programs.some((p) => p.name === slot.program)) map.set(slot.index, slot.program);
        } else if (slot.map !== undefined) {
          map.set(slot.index, slot.map);
        }
      }
    }
  }
}

// createObject (object-loader.ts) uses the class directly once this module is loaded.
objectRuntimeLoaded(ObjectRuntime);
