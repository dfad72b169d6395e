/**
 * CO-RE relocations (`.BTF.ext` core_relo records, ext.ts) resolved against a target BTF, by
 * libbpf's rules (tools/lib/bpf/relo_core.c, `bpf_core_calc_relo_insn`):
 *
 * - the local spec: the access string walked from the root type (first number: an index into an
 *   array of the root type; then member indexes of structs/unions and element indexes of arrays),
 *   its named accessors (anonymous members are walked but not named) and bit offset;
 * - candidates: the target types of the same kind whose name equals the local root's name up to
 *   a `___flavor` suffix (`struct __sk_buff___local` matches `struct __sk_buff`);
 * - a candidate matches when every named accessor is found by name in the target (looking inside
 *   anonymous members) with a compatible type, and every array index fits the target array;
 * - values: field byte offset, byte size, existence, signedness, the bitfield left/right shifts,
 *   type id, existence, size and match, enumerator existence and value;
 * - no matching candidate: the `*_EXISTS`/`TYPE_*` kinds give 0, the others poison the instruction.
 *
 * Instructions are patched by compiler/elf/core-patch.ts; this file only computes.
 */
import type { BtfCoreRelo } from './ext.js';
import { BpfCoreReloKind } from './ext.js';
import type { Btf, BtfComposite, BtfType } from './types.js';

/** Most accessors a spec may have (libbpf's BPF_CORE_SPEC_MAX_LEN). */
const SPEC_MAX_LEN = 64;
/** How deep type comparisons recurse. */
const MAX_DEPTH = 32;

/** A relocation libbpf would refuse at load (bad access string, unknown kind, ...). */
export class CoreReloSpecError extends Error {}

/** One step of a spec: the type it indexes into and the index; `name` for struct/union members. */
interface Accessor {
  readonly typeId: number;
  readonly idx: number;
  readonly name?: string;
}

/** A resolved access path in one BTF (libbpf's `struct bpf_core_spec`). */
interface Spec {
  readonly btf: Btf;
  readonly rootTypeId: number;
  readonly accessors: Accessor[];
  readonly raw: number[];
  bitOffset: number;
}

/** What a relocation resolves to (libbpf's `struct bpf_core_relo_res`). */
export interface CoreReloResult {
  /** The value clang put in the instruction (from the local BTF). */
  readonly origVal: bigint;
  /** The value the instruction gets (from the target BTF). */
  readonly newVal: bigint;
  /** Whether the instruction must hold {@link origVal} before patching. */
  readonly validate: boolean;
  /** No target matched and the kind needs one: the instruction is poisoned. */
  readonly poison: boolean;
  /** Field offsets: the field sizes before and after (for load/store size adjustment), 0 if n/a. */
  readonly origSize: number;
  readonly newSize: number;
  /** The field's size changed in a way a load/store cannot follow (poisons loads and stores). */
  readonly failMemszAdjust: boolean;
  /** The target type id the relocation matched, if any. */
  readonly targetTypeId?: number;
  /** `struct __sk_buff.mark`, `enum xdp_action::XDP_PASS`, `struct task_struct`: what it refers to. */
  readonly what: string;
  /** Why nothing in the target matched (set when no candidate matched). */
  readonly missing?: string;
}

/** A kind name as libbpf prints it (`byte_off`, `field_exists`, ...). */
export function coreReloKindName(kind: number): string {
  return [
    'byte_off', 'byte_sz', 'field_exists', 'signed', 'lshift_u64', 'rshift_u64', 'local_type_id', 'target_type_id',
    'type_exists', 'type_size', 'enumval_exists', 'enumval_value', 'type_matches',
  ][kind] ?? `kind ${kind}`;
}

const isFieldKind = (k: number): boolean => k <= BpfCoreReloKind.FIELD_RSHIFT_U64;
const isEnumvalKind = (k: number): boolean => k === BpfCoreReloKind.ENUMVAL_EXISTS || k === BpfCoreReloKind.ENUMVAL_VALUE;

/** The name up to a `___flavor` suffix (libbpf's `bpf_core_essential_name_len`). */
export function essentialName(name: string): string {
  for (let i = name.length - 5; i >= 0; i--) {
    if (name[i] !== '_' && name[i + 1] === '_' && name[i + 2] === '_' && name[i + 3] === '_' && name[i + 4] !== '_') {
      return name.slice(0, i + 1);
    }
  }
  return name;
}

/** Skips typedefs and modifiers; returns the type and its id. */
function skip(btf: Btf, id: number): { t: BtfType; id: number } {
  const t = btf.resolve(id);
  return { t, id: t.id };
}

const isComposite = (t: BtfType): t is BtfComposite => t.kind === 'struct' || t.kind === 'union';
const isEnum = (t: BtfType): boolean => t.kind === 'enum' || t.kind === 'enum64';
/** libbpf's `btf_kind_core_compat`: same kind, or enum and enum64. */
const kindsCompat = (a: BtfType, b: BtfType): boolean => a.kind === b.kind || (isEnum(a) && isEnum(b));

function resolveSize(btf: Btf, id: number): number {
  try {
    return btf.sizeOf(id);
  } catch {
    throw new CoreReloSpecError(`type ${btf.describe(id)} has no size`);
  }
}

/** The local spec of a relocation (libbpf's `bpf_core_parse_spec`). */
function parseSpec(btf: Btf, relo: BtfCoreRelo): Spec {
  const access = relo.access;
  if (access.length === 0) throw new CoreReloSpecError('empty access string');
  const spec: Spec = { btf, rootTypeId: relo.typeId, accessors: [], raw: [...access], bitOffset: 0 };
  const kind = relo.kind;
  if (!isFieldKind(kind) && !isEnumvalKind(kind)) {
    if (access.length !== 1 || access[0] !== 0) throw new CoreReloSpecError(`a type relocation must have access string "0", not "${relo.accessString}"`);
    return spec;
  }
  if (access.length > SPEC_MAX_LEN) throw new CoreReloSpecError(`the access string has more than ${SPEC_MAX_LEN} steps`);
  let { t, id } = skip(btf, relo.typeId);
  if (isEnumvalKind(kind)) {
    if (!isEnum(t) || access.length !== 1) throw new CoreReloSpecError(`an enum value relocation needs an enum and one index, not ${btf.describe(relo.typeId)} "${relo.accessString}"`);
    const values = (t as Extract<BtfType, { kind: 'enum' | 'enum64' }>).values;
    const idx = access[0]!;
    if (idx >= values.length) throw new CoreReloSpecError(`enumerator ${idx} of ${btf.describe(id)} does not exist (it has ${values.length})`);
    spec.accessors.push({ typeId: id, idx, name: values[idx]!.name });
    return spec;
  }
  const first = access[0]!;
  spec.accessors.push({ typeId: id, idx: first });
  spec.bitOffset = first * resolveSize(btf, id) * 8;
  for (let i = 1; i < access.length; i++) {
    const idx = access[i]!;
    ({ t, id } = skip(btf, id));
    if (isComposite(t)) {
      const member = t.members[idx];
      if (!member) throw new CoreReloSpecError(`member ${idx} of ${btf.describe(id)} does not exist (it has ${t.members.length})`);
      spec.bitOffset += member.bitOffset;
      if (member.name !== '') spec.accessors.push({ typeId: id, idx, name: member.name });
      id = member.type;
    } else if (t.kind === 'array') {
      const elem = skip(btf, t.type);
      if (!isFlexArray(btf, spec.accessors[spec.accessors.length - 1], t.nelems) && idx >= t.nelems) {
        throw new CoreReloSpecError(`index ${idx} is past the ${t.nelems} elements of ${btf.describe(t.id)}`);
      }
      spec.accessors.push({ typeId: elem.id, idx });
      spec.bitOffset += idx * resolveSize(btf, elem.id) * 8;
      id = elem.id;
    } else {
      throw new CoreReloSpecError(`step ${i} of "${relo.accessString}" indexes into ${btf.describe(id)}, which is neither a struct, a union nor an array`);
    }
  }
  return spec;
}

/** A zero-length array that is the last member of its struct (libbpf's `is_flex_arr`). */
function isFlexArray(btf: Btf, parent: Accessor | undefined, nelems: number): boolean {
  if (!parent?.name || nelems > 0) return false;
  const t = btf.types[parent.typeId];
  return !!t && isComposite(t) && parent.idx === t.members.length - 1;
}

/** libbpf's `bpf_core_fields_are_compat`. */
function fieldsCompat(local: Btf, localId: number, target: Btf, targetId: number, depth = 0): boolean {
  if (depth > MAX_DEPTH) return false;
  const l = skip(local, localId).t;
  const r = skip(target, targetId).t;
  if (isComposite(l) && isComposite(r)) return true;
  if (!kindsCompat(l, r)) return false;
  switch (l.kind) {
    case 'ptr': case 'float': return true;
    case 'fwd': case 'enum': case 'enum64': return essentialName(l.name) === essentialName(r.name);
    case 'int': return l.bitOffset === 0 && (r as typeof l).bitOffset === 0;
    case 'array': return fieldsCompat(local, l.type, target, (r as typeof l).type, depth + 1);
    default: return false;
  }
}

/** libbpf's `bpf_core_types_are_compat`. */
function typesCompat(local: Btf, localId: number, target: Btf, targetId: number, depth = 0): boolean {
  if (depth > MAX_DEPTH) return false;
  const l = skip(local, localId).t;
  const r = skip(target, targetId).t;
  if (!kindsCompat(l, r)) return false;
  switch (l.kind) {
    case 'void': case 'struct': case 'union': case 'enum': case 'enum64': case 'fwd': case 'float': return true;
    case 'int': return l.bitOffset === 0 && (r as typeof l).bitOffset === 0;
    case 'ptr': return typesCompat(local, l.type, target, (r as typeof l).type, depth + 1);
    case 'array': return typesCompat(local, l.type, target, (r as typeof l).type, depth + 1);
    case 'func_proto': {
      const rp = r as typeof l;
      if (l.params.length !== rp.params.length || l.variadic !== rp.variadic) return false;
      if (!l.params.every((p, i) => typesCompat(local, p.type, target, rp.params[i]!.type, depth + 1))) return false;
      return typesCompat(local, l.returnType, target, rp.returnType, depth + 1);
    }
    default: return false;
  }
}

/**
 * libbpf's `bpf_core_types_match` (`bpf_core_type_matches`): the local type's members,
 * enumerators, sizes and signedness are all found in the target, by name, recursively.
 */
function typesMatch(local: Btf, localId: number, target: Btf, targetId: number, depth = 0): boolean {
  if (depth > MAX_DEPTH) return false;
  const l = skip(local, localId).t;
  const r = skip(target, targetId).t;
  if (l.kind !== 'void' && l.name !== '' && essentialName(l.name) !== essentialName(r.name)) return false;
  if (!kindsCompat(l, r)) return false;
  switch (l.kind) {
    case 'void': case 'fwd': case 'func': return true;
    case 'int': {
      const ri = r as typeof l;
      return l.size === ri.size && l.signed === ri.signed;
    }
    case 'float': return l.size === (r as typeof l).size;
    case 'enum': case 'enum64': {
      const rv = (r as Extract<BtfType, { kind: 'enum' | 'enum64' }>).values.map((v) => essentialName(v.name));
      return l.size === (r as typeof l).size && l.values.every((v) => rv.includes(essentialName(v.name)));
    }
    case 'struct': case 'union': {
      const rc = r as BtfComposite;
      return l.members.every((lm) => {
        const rm = rc.members.find((x) => x.name === lm.name);
        return !!rm && typesMatch(local, lm.type, target, rm.type, depth + 1);
      });
    }
    case 'ptr': return typesMatch(local, l.type, target, (r as typeof l).type, depth + 1);
    case 'array': {
      const ra = r as typeof l;
      return l.nelems === ra.nelems && typesMatch(local, l.type, target, ra.type, depth + 1);
    }
    case 'func_proto': {
      const rp = r as typeof l;
      return l.params.length === rp.params.length && l.variadic === rp.variadic &&
        l.params.every((p, i) => typesMatch(local, p.type, target, rp.params[i]!.type, depth + 1)) &&
        typesMatch(local, l.returnType, target, rp.returnType, depth + 1);
    }
    default: return false;
  }
}

/**
 * Finds the local member `acc` by name in the target composite `targetId` (inside anonymous
 * members too), extending `spec`; returns the member's type id, or undefined (libbpf's
 * `bpf_core_match_member`).
 */
function matchMember(local: Btf, acc: Accessor, target: Btf, targetId: number, spec: Spec): number | undefined | false {
  const lt = local.types[acc.typeId] as BtfComposite;
  const lm = lt.members[acc.idx]!;
  const { t, id } = skip(target, targetId);
  if (!isComposite(t)) return undefined;
  for (let i = 0; i < t.members.length; i++) {
    const m = t.members[i]!;
    if (spec.raw.length >= SPEC_MAX_LEN) throw new CoreReloSpecError(`the target access path is longer than ${SPEC_MAX_LEN} steps`);
    spec.bitOffset += m.bitOffset;
    spec.raw.push(i);
    if (m.name === '') {
      const found = matchMember(local, acc, target, m.type, spec);
      if (found !== undefined) return found;
    } else if (m.name === lm.name) {
      if (!fieldsCompat(local, lm.type, target, m.type)) return false;
      spec.accessors.push({ typeId: id, idx: i, name: m.name });
      return m.type;
    }
    spec.bitOffset -= m.bitOffset;
    spec.raw.pop();
  }
  return undefined;
}

/** The target spec matching `localSpec` at candidate `candId`, or undefined (`bpf_core_spec_match`). */
function matchSpec(localSpec: Spec, kind: number, target: Btf, candId: number): Spec | undefined {
  const local = localSpec.btf;
  const spec: Spec = { btf: target, rootTypeId: candId, accessors: [], raw: [], bitOffset: 0 };
  if (!isFieldKind(kind) && !isEnumvalKind(kind)) {
    const ok = kind === BpfCoreReloKind.TYPE_MATCHES
      ? typesMatch(local, localSpec.rootTypeId, target, candId)
      : typesCompat(local, localSpec.rootTypeId, target, candId);
    return ok ? spec : undefined;
  }
  if (isEnumvalKind(kind)) {
    const { t, id } = skip(target, candId);
    if (!isEnum(t)) return undefined;
    const want = essentialName(localSpec.accessors[0]!.name!);
    const values = (t as Extract<BtfType, { kind: 'enum' | 'enum64' }>).values;
    const i = values.findIndex((v) => essentialName(v.name) === want);
    if (i < 0) return undefined;
    spec.accessors.push({ typeId: id, idx: i, name: values[i]!.name });
    spec.raw.push(i);
    return spec;
  }
  let targetId = candId;
  for (let i = 0; i < localSpec.accessors.length; i++) {
    const acc = localSpec.accessors[i]!;
    if (acc.name !== undefined) {
      const next = matchMember(local, acc, target, targetId, spec);
      if (next === undefined || next === false) return undefined;
      targetId = next;
      continue;
    }
    if (i > 0) {
      const { t } = skip(target, targetId);
      if (t.kind !== 'array') return undefined;
      if (!isFlexArray(target, spec.accessors[spec.accessors.length - 1], t.nelems) && acc.idx >= t.nelems) return undefined;
      targetId = skip(target, t.type).id;
    }
    if (spec.raw.length >= SPEC_MAX_LEN) throw new CoreReloSpecError(`the target access path is longer than ${SPEC_MAX_LEN} steps`);
    spec.accessors.push({ typeId: targetId, idx: acc.idx });
    spec.raw.push(acc.idx);
    spec.bitOffset += acc.idx * resolveSize(target, targetId) * 8;
  }
  return spec;
}

interface FieldValue {
  val: bigint;
  size: number;
  typeId: number;
  validate: boolean;
  poison: boolean;
}

/** libbpf's `bpf_core_calc_field_relo` for one side (`spec` undefined: no target). */
function fieldValue(kind: number, spec: Spec | undefined): FieldValue {
  const out: FieldValue = { val: 0n, size: 0, typeId: 0, validate: true, poison: false };
  if (kind === BpfCoreReloKind.FIELD_EXISTS) {
    out.val = spec ? 1n : 0n;
    return out;
  }
  if (!spec) {
    out.poison = true;
    return out;
  }
  const { btf } = spec;
  const acc = spec.accessors[spec.accessors.length - 1]!;
  if (acc.name === undefined) {
    // An array element (or the root itself).
    const sz = resolveSize(btf, acc.typeId);
    if (kind === BpfCoreReloKind.FIELD_BYTE_OFFSET) {
      out.val = BigInt(spec.bitOffset / 8);
      out.size = sz;
      out.typeId = acc.typeId;
    } else if (kind === BpfCoreReloKind.FIELD_BYTE_SIZE) {
      out.val = BigInt(sz);
    } else {
      throw new CoreReloSpecError(`a ${coreReloKindName(kind)} relocation cannot be applied to an array element`);
    }
    return out;
  }
  const parent = btf.types[acc.typeId] as BtfComposite;
  const member = parent.members[acc.idx]!;
  const { t: mt, id: fieldTypeId } = skip(btf, member.type);
  const bitOff = spec.bitOffset;
  let bitSz = member.bitfieldSize;
  const bitfield = bitSz > 0;
  let byteSz: number;
  let byteOff: number;
  if (bitfield) {
    byteSz = 'size' in mt ? mt.size : 0;
    if (byteSz <= 0) throw new CoreReloSpecError(`bitfield ${member.name} has a type without a size`);
    byteOff = Math.floor(bitOff / 8 / byteSz) * byteSz;
    while (bitOff + bitSz - byteOff * 8 > byteSz * 8) {
      if (byteSz >= 8) throw new CoreReloSpecError(`bitfield ${member.name} cannot be read with a 64-bit load`);
      byteSz *= 2;
      byteOff = Math.floor(bitOff / 8 / byteSz) * byteSz;
    }
  } else {
    byteSz = resolveSize(btf, fieldTypeId);
    byteOff = Math.floor(bitOff / 8);
    bitSz = byteSz * 8;
  }
  // For bitfields the offset, size and left shift are ambiguous (clang may pick another load).
  out.validate = !bitfield;
  switch (kind) {
    case BpfCoreReloKind.FIELD_BYTE_OFFSET:
      out.val = BigInt(byteOff);
      if (!bitfield) {
        out.size = byteSz;
        out.typeId = fieldTypeId;
      }
      break;
    case BpfCoreReloKind.FIELD_BYTE_SIZE:
      out.val = BigInt(byteSz);
      break;
    case BpfCoreReloKind.FIELD_SIGNED:
      out.val = (isEnum(mt) && (mt as { signed: boolean }).signed) || (mt.kind === 'int' && mt.signed) ? 1n : 0n;
      out.validate = true;
      break;
    case BpfCoreReloKind.FIELD_LSHIFT_U64:
      out.val = BigInt(64 - (bitOff + bitSz - byteOff * 8));
      break;
    case BpfCoreReloKind.FIELD_RSHIFT_U64:
      out.val = BigInt(64 - bitSz);
      out.validate = true;
      break;
  }
  return out;
}

/** libbpf's `bpf_core_calc_type_relo` (no target: 0). */
function typeValue(kind: number, spec: Spec | undefined): bigint {
  if (!spec) return 0n;
  switch (kind) {
    case BpfCoreReloKind.TYPE_ID_TARGET: return BigInt(spec.rootTypeId);
    case BpfCoreReloKind.TYPE_EXISTS: case BpfCoreReloKind.TYPE_MATCHES: return 1n;
    case BpfCoreReloKind.TYPE_SIZE: return BigInt(resolveSize(spec.btf, spec.rootTypeId));
    default: throw new CoreReloSpecError(`unknown relocation kind ${kind}`);
  }
}

/** libbpf's `bpf_core_calc_enumval_relo` (value: sign-extended for a signed 32-bit enum, as libbpf's s32). */
function enumValue(kind: number, spec: Spec | undefined): { val: bigint; poison: boolean } {
  if (kind === BpfCoreReloKind.ENUMVAL_EXISTS) return { val: spec ? 1n : 0n, poison: false };
  if (!spec) return { val: 0n, poison: true };
  const acc = spec.accessors[0]!;
  const t = spec.btf.types[acc.typeId]!;
  if (t.kind === 'enum') return { val: BigInt.asUintN(64, BigInt(t.values[acc.idx]!.value | 0)), poison: false };
  if (t.kind === 'enum64') return { val: BigInt.asUintN(64, t.values[acc.idx]!.value), poison: false };
  throw new CoreReloSpecError(`${spec.btf.describe(acc.typeId)} is not an enum`);
}

/** A readable name of what a local spec refers to: `struct __sk_buff___local.mark`, `enum xdp_action::XDP_PASS`. */
function describeSpec(btf: Btf, relo: BtfCoreRelo, spec: Spec): string {
  const root = btf.describe(relo.typeId);
  if (isEnumvalKind(relo.kind)) return `${root}::${spec.accessors[0]!.name!}`;
  if (!isFieldKind(relo.kind)) return root;
  let path = spec.raw[0] === 0 ? '' : `[${spec.raw[0]}]`;
  for (const acc of spec.accessors.slice(1)) path += acc.name !== undefined ? `.${acc.name}` : `[${acc.idx}]`;
  return root + path;
}

function sizeAdjustFails(local: Btf, origTypeId: number, target: Btf, newTypeId: number): boolean {
  const o = local.types[origTypeId];
  const n = target.types[newTypeId];
  if (!o || !n) return true;
  if (o.kind === 'ptr' && n.kind === 'ptr') return false;
  if (o.kind === 'int' && n.kind === 'int' && !o.signed && !n.signed) return false;
  return true;
}

/** Each BTF's named types by essential name, in id order (a scan of vmlinux's ~150k types per relocation cost seconds). */
const essentialIndex = new WeakMap<Btf, Map<string, BtfType[]>>();
function byEssentialName(btf: Btf): Map<string, BtfType[]> {
  let m = essentialIndex.get(btf);
  if (!m) {
    m = new Map();
    for (const x of btf.types) {
      if (x.name === '') continue;
      const k = essentialName(x.name);
      const list = m.get(k);
      if (list) list.push(x);
      else m.set(k, [x]);
    }
    essentialIndex.set(btf, m);
  }
  return m;
}

/**
 * Resolves one relocation of the object's BTF `local` against `targets`: one BTF, or several
 * searched in order, where the first that has a type of the root's name and kind decides (the
 * context BTF before a host BTF, host-btf.ts).
 *
 * @throws CoreReloSpecError for a relocation libbpf refuses at load (an access string that does
 *   not walk the local type, an anonymous root type, a kind that cannot apply to its target).
 */
export function resolveCoreRelo(local: Btf, targets: Btf | readonly Btf[], relo: BtfCoreRelo): CoreReloResult {
  const localSpec = parseSpec(local, relo);
  const what = describeSpec(local, relo, localSpec);
  const kind = relo.kind;
  if (kind === BpfCoreReloKind.TYPE_ID_LOCAL) {
    const v = BigInt(relo.typeId);
    return { origVal: v, newVal: v, validate: false, poison: false, origSize: 0, newSize: 0, failMemszAdjust: false, what };
  }
  const rootName = local.types[relo.typeId]!.name;
  if (rootName === '') throw new CoreReloSpecError(`relocations against anonymous types (${local.describe(relo.typeId)}) are not supported`);
  const localRoot = local.types[relo.typeId]!;
  const want = essentialName(rootName);
  // Several targets (the context BTF, then a host BTF): the first with a candidate decides.
  const list: readonly Btf[] = Array.isArray(targets) ? targets : [targets as Btf];
  let target = list[list.length - 1]!;
  let candidates: BtfType[] = [];
  for (const t of list) {
    candidates = (byEssentialName(t).get(want) ?? []).filter((x) => kindsCompat(x, localRoot));
    target = t;
    if (candidates.length > 0) break;
  }

  const calc = (spec: Spec | undefined): CoreReloResult => {
    const base = { validate: true, poison: false, origSize: 0, newSize: 0, failMemszAdjust: false, what, ...(spec ? { targetTypeId: spec.rootTypeId } : {}) };
    if (isFieldKind(kind)) {
      const o = fieldValue(kind, localSpec);
      const n = fieldValue(kind, spec);
      const failMemszAdjust = !n.poison && o.size !== n.size && kind === BpfCoreReloKind.FIELD_BYTE_OFFSET &&
        sizeAdjustFails(local, o.typeId, target, n.typeId);
      return { ...base, origVal: o.val, newVal: n.val, validate: o.validate, poison: n.poison, origSize: o.size, newSize: n.size, failMemszAdjust };
    }
    if (isEnumvalKind(kind)) {
      const o = enumValue(kind, localSpec);
      const n = enumValue(kind, spec);
      return { ...base, origVal: o.val, newVal: n.val, poison: n.poison };
    }
    const validate = kind !== BpfCoreReloKind.TYPE_ID_TARGET;
    return { ...base, origVal: typeValue(kind, localSpec), newVal: typeValue(kind, spec), validate };
  };

  let found: CoreReloResult | undefined;
  let foundBits = 0;
  for (const cand of candidates) {
    const spec = matchSpec(localSpec, kind, target, cand.id);
    if (!spec) continue;
    const res = calc(spec);
    if (!found) {
      found = res;
      foundBits = spec.bitOffset;
    } else if (spec.bitOffset !== foundBits || res.poison !== found.poison || res.newVal !== found.newVal) {
      throw new CoreReloSpecError(`${what} is ambiguous: target types ${found.targetTypeId} and ${cand.id} give different results`);
    }
  }
  if (found) return found;
  const kindWord = localRoot.kind === 'enum64' ? 'enum' : localRoot.kind;
  const missing = candidates.length === 0
    ? `the target has no ${kindWord} ${want}`
    : `${candidates.map((c) => target.describe(c.id)).join(', ')} ${isEnumvalKind(kind) ? 'has no such enumerator' : isFieldKind(kind) ? 'has no such field (or its type differs)' : 'does not match'}`;
  return { ...calc(undefined), missing };
}
