/**
 * The host's cgroup v2 hierarchy as the cgroup helpers see it, supplied in the host network state
 * (`net.cgroups`, `net.cgroup`; runtime/packet/net.ts), and the helpers that ask about it:
 * bpf_skb_under_cgroup over a BPF_MAP_TYPE_CGROUP_ARRAY, bpf_skb_cgroup_id and
 * bpf_skb_ancestor_cgroup_id, and the current task's: bpf_current_task_under_cgroup,
 * bpf_get_current_cgroup_id and bpf_get_current_ancestor_cgroup_id (the current task is the
 * process running the programs, in `net.cgroup`). helpers.ts binds them to the run.
 *
 * The kernel's BPF_PROG_TEST_RUN gives an skb a dummy socket allocated by the calling process
 * (net/bpf/test_run.c: sk_alloc, whose cgroup_sk_alloc takes the caller's cgroup v2), so these
 * helpers answer for the cgroup the test runs in: `net.cgroup` here, the root ("/", id 1) by
 * default. Userspace fills a cgroup array with cgroup directory fds; here a slot holds the
 * cgroup's number + 1 (0 the root, then `net.cgroups` in order; 0 is the empty slot), and the map
 * API takes and gives cgroup paths (runtime/maps/api.ts).
 */
import { BpfRuntimeError, ErrorCode } from '../errors.js';
import { Errno } from '../uapi/index.js';

/** A cgroup of the host (below the root "/", which is always there with id 1). */
export interface HostCgroup {
  /** Its path from the cgroup2 mount: `/system.slice/app.service`. Its parent must be listed before it (or be "/"). */
  path: string;
  /**
   * Its id, what bpf_skb_cgroup_id reports (the kernel's cgroup id: the directory's inode number
   * on cgroup2, as `stat -c %i` prints it). Default: one above the largest id given so far.
   */
  id?: number | bigint;
}

/** A checked cgroup. */
export interface NetCgroup {
  path: string;
  id: bigint;
  /** Depth below the root (the root is level 0). */
  level: number;
  /** The numbers of its ancestors by level, itself last (`ancestors[level]` is itself). */
  ancestors: number[];
}

/** The checked hierarchy: cgroup 0 is the root. */
export interface NetCgroups {
  list: NetCgroup[];
  /** The cgroup of the process running the test (the test run's socket's cgroup). */
  caller: number;
}

/** The cgroup v2 root's id. */
export const ROOT_CGROUP_ID = 1n;

function bad(path: string, why: string): BpfRuntimeError {
  return new BpfRuntimeError(ErrorCode.HostState, why, { field: path });
}

/** The hierarchy without host state: the root only, the test running in it. */
export function rootOnly(): NetCgroups {
  return { list: [{ path: '/', id: ROOT_CGROUP_ID, level: 0, ancestors: [0] }], caller: 0 };
}

/**
 * Checks `net.cgroups` (a list of {@link HostCgroup}) and `net.cgroup` (the caller's path).
 * Errors are E_HOST_STATE naming the field (`net.cgroups[1].path`).
 */
export function checkCgroups(list: unknown, caller: unknown, path = 'net'): NetCgroups {
  const out = rootOnly();
  const byPath = new Map<string, number>([['/', 0]]);
  const ids = new Set<bigint>([ROOT_CGROUP_ID]);
  let maxId = ROOT_CGROUP_ID;
  if (list !== undefined && !Array.isArray(list)) throw bad(`${path}.cgroups`, 'expected an array of { path, id? }');
  ((list ?? []) as unknown[]).forEach((raw, i) => {
    const p = `${path}.cgroups[${i}]`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad(p, 'expected an object { path, id? }');
    const o = raw as Record<string, unknown>;
    for (const k of Object.keys(o)) if (k !== 'path' && k !== 'id') throw bad(`${p}.${k}`, `unknown field "${k}" (known: path, id)`);
    const cg = checkPath(o.path, `${p}.path`);
    if (cg === '/') throw bad(`${p}.path`, 'the root "/" is always there (id 1); list the cgroups below it');
    if (byPath.has(cg)) throw bad(`${p}.path`, `cgroup ${cg} is listed twice`);
    const parent = cg.slice(0, cg.lastIndexOf('/')) || '/';
    const up = byPath.get(parent);
    if (up === undefined) throw bad(`${p}.path`, `the parent ${parent} of ${cg} is not listed before it`);
    let id: bigint;
    if (o.id === undefined) id = maxId + 1n;
    else if ((typeof o.id === 'number' && Number.isSafeInteger(o.id)) || typeof o.id === 'bigint') id = BigInt(o.id);
    else throw bad(`${p}.id`, `expected an integer id, got ${JSON.stringify(typeof o.id === 'bigint' ? String(o.id) : o.id)}`);
    if (id < 2n || id > 0xffffffffffffffffn) throw bad(`${p}.id`, `the id ${id} is not from 2 to 2^64-1 (1 is the root's)`);
    if (ids.has(id)) throw bad(`${p}.id`, `the id ${id} is already another cgroup's`);
    ids.add(id);
    if (id > maxId) maxId = id;
    const n = out.list.length;
    const parentCg = out.list[up]!;
    out.list.push({ path: cg, id, level: parentCg.level + 1, ancestors: [...parentCg.ancestors, n] });
    byPath.set(cg, n);
  });
  if (caller !== undefined) {
    const cg = checkPath(caller, `${path}.cgroup`);
    const n = byPath.get(cg);
    if (n === undefined) throw bad(`${path}.cgroup`, `no cgroup ${cg} (list it in ${path}.cgroups)`);
    out.caller = n;
  }
  return out;
}

/** A cgroup path: "/" or "/a/b", components without "/", ".", "..". */
function checkPath(v: unknown, field: string): string {
  if (typeof v !== 'string' || !v.startsWith('/')) throw bad(field, `expected a cgroup path from the cgroup2 mount ("/a/b"), got ${JSON.stringify(v)}`);
  if (v === '/') return v;
  const parts = v.slice(1).split('/');
  if (parts.some((c) => c === '' || c === '.' || c === '..')) throw bad(field, `"${v}" has an empty, "." or ".." component, or ends in "/"`);
  return v;
}

/** The number of the cgroup at `path`, or undefined. */
export function cgroupNumber(cgroups: NetCgroups, path: string): number | undefined {
  const n = cgroups.list.findIndex((c) => c.path === path);
  return n < 0 ? undefined : n;
}

/**
 * bpf_skb_under_cgroup's answer once the slot is read (net/core/filter.c), and
 * bpf_current_task_under_cgroup's (kernel/trace/bpf_trace.c, `inRun` true): -ENOENT without a
 * full socket (outside a test run: `inRun` false), -E2BIG for an index past max_entries, -EAGAIN
 * for an empty slot (`slot` 0), else 1 when the socket's cgroup is the slot's cgroup or below
 * it (sk_under_cgroup_hierarchy), 0 when not. A slot naming a cgroup the host state lacks (a map
 * shared with an instance of another host) is E_HELPER_FAILED.
 */
export function underCgroup(cgroups: NetCgroups, inRun: boolean, index: number, maxEntries: number, slot: number | undefined, helper = 'bpf_skb_under_cgroup'): number {
  if (!inRun) return -Errno.ENOENT;
  if (index >>> 0 >= maxEntries || slot === undefined) return -Errno.E2BIG;
  if (slot === 0) return -Errno.EAGAIN;
  const target = cgroups.list[slot - 1];
  if (!target) {
    throw new BpfRuntimeError(ErrorCode.HelperFailed, `the cgroup array slot ${index} holds cgroup number ${slot - 1}, which the host state does not have`, { helper });
  }
  const own = cgroups.list[cgroups.caller]!;
  return own.ancestors[target.level] === slot - 1 ? 1 : 0;
}

/** bpf_skb_ancestor_cgroup_id: the id of the socket's cgroup's ancestor at `level` (an int), 0 past its own level or below 0. */
export function ancestorCgroupId(cgroups: NetCgroups, level: number): bigint {
  const own = cgroups.list[cgroups.caller]!;
  const l = level | 0;
  if (l < 0 || l > own.level) return 0n;
  return cgroups.list[own.ancestors[l]!]!.id;
}


/** bpf_skb_cgroup_id and bpf_get_current_cgroup_id: the id of the caller's cgroup. */
export function callerCgroupId(cgroups: NetCgroups): bigint {
  return cgroups.list[cgroups.caller]!.id;
}
