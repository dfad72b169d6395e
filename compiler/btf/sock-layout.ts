/**
 * The layout facts the `bpf_skc_to_*` helpers need (runtime/packet/sock-cast.ts): the kernel
 * socket structs those helpers return, as the host BTF (`--btf`, `/sys/kernel/btf/vmlinux`)
 * describes them, flattened to their scalar members so the runtime can fill a zeroed region of
 * linear memory at the offsets the programs' CO-RE relocations resolve to against the same BTF.
 * The runtime never sees the BTF itself: these facts go into the manifest (`sockCasts`).
 */
import type { SockCastManifest, SockLayout } from '../../runtime/abi.js';
import { helperById } from '../../runtime/helper-table.js';
import type { Btf, BtfComposite } from './types.js';

/** The seven casts (helper ids), by kernel helper name. */
export const SOCK_CAST_HELPERS: readonly number[] = [136, 137, 138, 139, 140, 178, 196];

/**
 * The structs a host socket can be cast to (unix_sock and mptcp_sock never are: the host has no
 * AF_UNIX sockets and no MPTCP subflows, so those casts are always NULL).
 */
export const SOCK_CAST_TYPES = ['tcp_sock', 'tcp6_sock', 'tcp_timewait_sock', 'tcp_request_sock', 'udp6_sock'] as const;

/** Sockets one run may cast (each gets a slot of the largest struct's size). */
export const SOCK_CAST_SLOTS = 8;
/** A slot's size without host BTF (the structs' layouts are unknown; CO-RE reads of them are poisoned). */
const BARE_SLOT = 8;
/** Arrays of structs longer than this are left out of the flattened members. */
const MAX_STRUCT_ARRAY = 16;
/** Nesting deeper than this is left out (no socket struct nests this deep; a guard against cycles through arrays). */
const MAX_DEPTH = 24;

/** True when any of `helperIds` is one of the `bpf_skc_to_*` casts. */
export function callsSockCasts(helperIds: Iterable<number>): boolean {
  for (const id of helperIds) if (SOCK_CAST_HELPERS.includes(id) && helperById(id)?.name.startsWith('bpf_skc_to_')) return true;
  return false;
}

/** Flattens the scalar members of `t` into `out` (paths under `prefix`, offsets from `bitBase`). */
function flatten(btf: Btf, t: BtfComposite, prefix: string, bitBase: number, out: SockLayout['fields'], depth: number): void {
  if (depth > MAX_DEPTH) return;
  for (const m of t.members) {
    const path = m.name === '' ? prefix : prefix === '' ? m.name : `${prefix}.${m.name}`;
    const bit = bitBase + m.bitOffset;
    member(btf, m.type, path, bit, m.bitfieldSize, out, depth);
  }
}

function member(btf: Btf, typeId: number, path: string, bit: number, bitfield: number, out: SockLayout['fields'], depth: number): void {
  const r = btf.resolve(typeId);
  switch (r.kind) {
    case 'int':
      if (path !== '') out.push([path, bit, bitfield || r.size * 8, r.signed ? 1 : 0, 1]);
      return;
    case 'enum':
    case 'enum64':
      if (path !== '') out.push([path, bit, bitfield || r.size * 8, r.signed ? 1 : 0, 1]);
      return;
    case 'struct':
    case 'union':
      flatten(btf, r, path, bit, out, depth + 1);
      return;
    case 'array': {
      if (r.nelems === 0 || path === '') return;
      const el = btf.resolve(r.type);
      if (el.kind === 'int' || el.kind === 'enum' || el.kind === 'enum64') {
        out.push([path, bit, el.size * 8, el.kind === 'int' ? (el.signed ? 1 : 0) : el.signed ? 1 : 0, r.nelems]);
        return;
      }
      if ((el.kind === 'struct' || el.kind === 'union' || el.kind === 'array') && r.nelems <= MAX_STRUCT_ARRAY) {
        const size = elementSize(btf, r.type);
        if (size === undefined) return;
        for (let i = 0; i < r.nelems; i++) member(btf, r.type, `${path}[${i}]`, bit + i * size * 8, 0, out, depth + 1);
      }
      return;
    }
    default:
      // Pointers (kernel addresses: NULL here), floats, function pointers: not host-settable.
      return;
  }
}

function elementSize(btf: Btf, typeId: number): number | undefined {
  const r = btf.resolve(typeId);
  if (r.kind === 'struct' || r.kind === 'union' || r.kind === 'int' || r.kind === 'enum' || r.kind === 'enum64') return r.size;
  if (r.kind === 'array') {
    const e = elementSize(btf, r.type);
    return e === undefined ? undefined : e * r.nelems;
  }
  return undefined;
}

/** The layout of struct `name` in `btf`, or undefined when the BTF has no such struct. */
export function sockLayout(btf: Btf, name: string): SockLayout | undefined {
  const t = btf.typeByName(name, 'struct');
  if (!t || t.size === 0) return undefined;
  const fields: SockLayout['fields'] = [];
  flatten(btf, t, '', 0, fields, 0);
  return { size: t.size, fields };
}

/**
 * The `sockCasts` manifest entry of a module whose programs call a `bpf_skc_to_*` helper: the
 * slots' region at `address` and the structs' layouts from `host` (none without host BTF).
 */
export function sockCastManifest(address: number, host: Btf | undefined): SockCastManifest {
  const types: Record<string, SockLayout> = {};
  let slotSize = BARE_SLOT;
  if (host) {
    for (const name of SOCK_CAST_TYPES) {
      const l = sockLayout(host, name);
      if (!l) continue;
      types[name] = l;
      slotSize = Math.max(slotSize, Math.ceil(l.size / 8) * 8);
    }
  }
  return { address, slotSize, slots: SOCK_CAST_SLOTS, types };
}
