/**
 * `--net FILE.json`: the host network state (interfaces, routes, neighbours, sockets, cgroups)
 * the packet helpers of an object's programs see, read as JSON in the shape of
 * `InstantiateOptions.net` (runtime/packet/net.ts checks it; a malformed file is E_HOST_STATE
 * naming the field), plus one CLI-only entry: `cgroupArrays`, the contents of the object's
 * BPF_MAP_TYPE_CGROUP_ARRAY maps, `{ "<map>": { "<index>": "<cgroup path>" } }`, which userspace
 * fills with cgroup fds in the kernel and the CLI fills by path once the instance exists
 * (`map.set(index, path)`, as the library does).
 */
import { Bpf2WasmError, BpfRuntimeError, ErrorCode } from '../../runtime/errors.js';
import type { HostNetwork } from '../../runtime/packet/net.js';
import type { BpfInstance } from '../../runtime/program.js';
import { MapType } from '../../runtime/uapi/index.js';
import type { CliIO } from './io.js';
import type { Parsed } from './args.js';

/** What `--net` gives a run: the instantiate options, and the cgroup arrays to fill in each instance made with them. */
export interface NetState {
  options: { net?: HostNetwork };
  /** Fills the object's cgroup arrays as `cgroupArrays` asks (E_HOST_STATE naming map and index otherwise). */
  fill(inst: BpfInstance): void;
}

const bad = (field: string, why: string): BpfRuntimeError => new BpfRuntimeError(ErrorCode.HostState, why, { field });
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads `--net` (nothing without it). */
export async function netState(p: Parsed, io: CliIO): Promise<NetState> {
  if (p.net === undefined) return { options: {}, fill: () => {} };
  const text = new TextDecoder().decode(await io.readFile(p.net));
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new BpfRuntimeError(ErrorCode.HostState, `${p.net} is not JSON: ${(e as Error).message}`, { field: 'net' });
  }
  if (!isObject(json) || json.cgroupArrays === undefined) return { options: { net: json as HostNetwork }, fill: () => {} };
  const { cgroupArrays: arrays, ...net } = json;
  if (!isObject(arrays)) throw bad('net.cgroupArrays', 'expected an object of cgroup array maps by name: { "<map>": { "<index>": "<cgroup path>" } }');
  return { options: { net: net as HostNetwork }, fill: (inst) => fillCgroupArrays(inst, arrays) };
}

function fillCgroupArrays(inst: BpfInstance, arrays: Record<string, unknown>): void {
  for (const [name, slots] of Object.entries(arrays)) {
    const field = `net.cgroupArrays.${name}`;
    const m = inst.maps.get(name);
    if (!m) throw bad(field, `the object has no map ${name} (its maps: ${[...inst.maps.keys()].join(', ') || 'none'})`);
    if (m.type !== MapType.CGROUP_ARRAY) throw bad(field, `map ${name} is not a BPF_MAP_TYPE_CGROUP_ARRAY (type ${m.type})`);
    if (!isObject(slots)) throw bad(field, 'expected an object of cgroup paths by index: { "0": "/system.slice/app.service" }');
    for (const [index, path] of Object.entries(slots)) {
      const at = `${field}.${index}`;
      if (!/^(0|[1-9][0-9]*)$/.test(index) || Number(index) >= m.maxEntries) throw bad(at, `index "${index}" is not an integer from 0 to ${m.maxEntries - 1} (the map's max_entries is ${m.maxEntries})`);
      if (typeof path !== 'string') throw bad(at, `expected a cgroup path ("/" or one of net.cgroups), got ${JSON.stringify(path)}`);
      try {
        m.set(Number(index), path);
      } catch (e) {
        if (e instanceof Bpf2WasmError) throw bad(at, e.detail);
        throw e;
      }
    }
  }
}
