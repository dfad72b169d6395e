/**
 * Links several objects into one, as if loaded together: programs side by side, and maps pinned by
 * name (`__uint(pinning, LIBBPF_PIN_BY_NAME)`) shared, existing once, as libbpf shares them through
 * bpffs. The objects' other maps stay their own. This is how separately built objects share maps
 * in bpf2wasm: each module has one linear memory, so sharing happens when they are compiled into
 * the same module (compileObject([a, b])).
 *
 * Names stay unique in the linked object: a map or program of a later object whose name is taken
 * gets the prefix `<object index>:` (`1:.bss`, `1:handle_exit`).
 */
import { CompileError, ErrorCode } from '../../runtime/errors.js';
import { MapPinning } from '../../runtime/uapi/index.js';
import type { KfuncSpec, MapSpec, ObjectSpec, ProgramSpec } from '../elf/loader.js';

const OP_LDDW = 0x18;
const OP_CALL = 0x85;
const LDDW_MAP_FD = 1;
const LDDW_MAP_VALUE = 2;
const CALL_KFUNC = 2;

/** Links objects (see the file comment); one object is returned as it is. */
export function linkObjects(specs: readonly ObjectSpec[]): ObjectSpec {
  if (specs.length === 0) throw new CompileError(ErrorCode.BadArgument, 'no objects to link');
  if (specs.length === 1) return specs[0]!;
  const maps: MapSpec[] = [];
  const programs: ProgramSpec[] = [];
  const kfuncs: KfuncSpec[] = [];
  const pinned = new Map<string, MapSpec>();
  const mapNames = new Set<string>();
  const programNames = new Set<string>();
  const unique = (name: string, taken: Set<string>, object: number): string => {
    const n = taken.has(name) ? `${object}:${name}` : name;
    taken.add(n);
    return n;
  };

  specs.forEach((spec, object) => {
    // Map indices of this object -> linked indices; program and map renames for static slots.
    const remap: number[] = [];
    const created = new Set<number>();
    const mapRename = new Map<string, string>();
    const progRename = new Map<string, string>();
    for (const p of spec.programs) progRename.set(p.name, unique(p.name, programNames, object));
    for (const m of spec.maps) {
      if (m.pinning === MapPinning.BY_NAME && !m.internal) {
        const shared = pinned.get(m.name);
        if (shared) {
          checkSameDefinition(shared, m, object);
          remap.push(shared.index);
          mapRename.set(m.name, shared.name);
          continue;
        }
      }
      const name = unique(m.name, mapNames, object);
      mapRename.set(m.name, name);
      const linked: MapSpec = { ...m, name, index: maps.length, ...(spec.btf ? { btf: spec.btf } : {}) };
      maps.push(linked);
      created.add(linked.index);
      remap.push(linked.index);
      if (m.pinning === MapPinning.BY_NAME && !m.internal) pinned.set(m.name, linked);
    }
    // Static slots name programs and maps of their own object (a pinned map keeps the slots of
    // the object that defined it first).
    for (const [i, m] of spec.maps.entries()) {
      const linked = maps[remap[i]!]!;
      if (!created.has(linked.index) || !m.initialValues) continue;
      maps[linked.index] = {
        ...linked,
        initialValues: m.initialValues.map((v) => ({ index: v.index, symbol: progRename.get(v.symbol) ?? mapRename.get(v.symbol) ?? v.symbol })),
      };
    }
    const kfuncRemap = spec.kfuncs.map((k) => {
      let i = kfuncs.findIndex((x) => x.name === k.name);
      if (i < 0) i = kfuncs.push({ ...k, ...(spec.btf ? { btf: spec.btf } : {}) }) - 1;
      return i;
    });
    for (const p of spec.programs) {
      programs.push({ ...p, name: progRename.get(p.name)!, insns: relink(p, remap, kfuncRemap, object) });
    }
  });

  return {
    programs, maps, kfuncs,
    license: specs.map((s) => s.license).find((l) => l !== '') ?? '',
    // Types of maps come from each map's own object (MapSpec.btf); kfunc signatures from the first object's BTF.
    ...(specs[0]!.btf ? { btf: specs[0]!.btf } : {}),
  };
}

function checkSameDefinition(a: MapSpec, b: MapSpec, object: number): void {
  const fields = ['type', 'keySize', 'valueSize', 'maxEntries', 'flags'] as const;
  const diff = fields.filter((f) => a[f] !== b[f]);
  if (diff.length > 0) {
    throw new CompileError(
      ErrorCode.BadMap,
      `pinned map ${b.name} of object ${object} differs from the one already pinned (${diff.map((f) => `${f} ${b[f]} vs ${a[f]}`).join(', ')})`,
      { map: b.name },
    );
  }
}

/** A copy of a program's instructions with map references and kfunc calls renumbered. */
function relink(p: ProgramSpec, remap: readonly number[], kfuncRemap: readonly number[], object: number): Uint8Array {
  const out = p.insns.slice();
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let o = 0; o + 8 <= out.length; o += 8) {
    const op = out[o]!;
    const src = out[o + 1]! >> 4;
    if (op === OP_LDDW && (src === LDDW_MAP_FD || src === LDDW_MAP_VALUE)) {
      const linked = remap[view.getInt32(o + 4, true)];
      if (linked === undefined) {
        throw new CompileError(ErrorCode.BadObject, `program ${p.name} of object ${object} refers to a map it does not have`, { program: p.name, insn: o / 8 });
      }
      view.setInt32(o + 4, linked, true);
      o += 8; // the second half of the lddw
    } else if (op === OP_LDDW) {
      o += 8;
    } else if (op === OP_CALL && src === CALL_KFUNC) {
      const linked = kfuncRemap[view.getInt32(o + 4, true)];
      if (linked !== undefined) view.setInt32(o + 4, linked, true);
    }
  }
  return out;
}
