/**
 * Applies an object's CO-RE relocations (`.BTF.ext`) to the instructions of one code section, as
 * libbpf's `bpf_core_patch_insn` does, with the values compiler/btf/core.ts computes against the
 * runtime's context BTF (compiler/btf/context-btf.ts), then a host-supplied BTF (compiler/btf/host-btf.ts):
 *
 * - ALU/ALU64 with an immediate: imm = the new value;
 * - LDX/ST/STX: off = the new value (at most 32767), and the access size follows a field whose
 *   size changed when that is safe (pointers, unsigned integers), else the instruction is poisoned;
 * - LD_IMM64: the 64-bit immediate = the new value;
 * - before patching, the instruction must hold the value clang computed from the local BTF
 *   (except where libbpf does not check: bitfields, type ids).
 *
 * A relocation nothing in the target satisfies poisons its instruction (both halves of an lddw):
 * it becomes `call 0xbad2310`, libbpf's poison, which compiled code and the interpreter turn into
 * the run-time error E_CORE_RELO when (and only when) it runs. Malformed records (an access string
 * that does not walk its type, an instruction the relocation cannot apply to, a value that does not
 * match) are E_BAD_ELF at the record.
 */
import { CORE_POISON_HELPER } from '../../runtime/abi.js';
import { E_BAD_ELF, ElfError } from './elf64.js';
import type { Btf } from '../btf/types.js';
import type { BtfCoreRelo } from '../btf/ext.js';
import { coreReloKindName, CoreReloSpecError, resolveCoreRelo, type CoreReloResult } from '../btf/core.js';

/** One relocation applied to a code section. */
export interface AppliedCoreRelo {
  /** Its instruction slot in the section. */
  readonly insn: number;
  /** The record. */
  readonly relo: BtfCoreRelo;
  /** `byte_off`, `field_exists`, ... */
  readonly kindName: string;
  /** What it refers to, e.g. `struct __sk_buff___local.mark`. */
  readonly what: string;
  /** The value before and after (undefined after when poisoned). */
  readonly from: bigint;
  readonly to?: bigint;
  /** Why the instruction was poisoned, when it was. */
  readonly poisoned?: string;
}

const OP_LDDW = 0x18;
const OP_CALL = 0x85;

function fail(relo: BtfCoreRelo, section: string, detail: string): never {
  throw new ElfError(E_BAD_ELF, `CO-RE relocation (${coreReloKindName(relo.kind)}, access "${relo.accessString}") of instruction ${relo.insn} of ${section}: ${detail}`, {
    section: '.BTF.ext', offset: relo.recordOffset,
  });
}

function poisonSlot(view: DataView, slot: number): void {
  const o = slot * 8;
  view.setUint8(o, OP_CALL);
  view.setUint8(o + 1, 0);
  view.setInt16(o + 2, 0, true);
  view.setInt32(o + 4, CORE_POISON_HELPER, true);
}

/** BPF_SIZE bits and their byte sizes. */
const SIZE_BYTES: Readonly<Record<number, number>> = { 0x00: 4, 0x08: 2, 0x10: 1, 0x18: 8 };
const BYTES_SIZE: Readonly<Record<number, number>> = { 4: 0x00, 2: 0x08, 1: 0x10, 8: 0x18 };

/**
 * Applies `relos` (the records of code section `section`) to `insns` (that section's
 * instructions, little-endian, modified in place) against `target`.
 *
 * @throws ElfError E_BAD_ELF (section `.BTF.ext`, offset of the record) for a malformed record.
 */
export function applyCoreRelos(insns: Uint8Array, section: string, relos: readonly BtfCoreRelo[], local: Btf, target: Btf | readonly Btf[]): AppliedCoreRelo[] {
  const view = new DataView(insns.buffer, insns.byteOffset, insns.byteLength);
  const slots = insns.length / 8;
  const out: AppliedCoreRelo[] = [];
  for (const relo of relos) {
    const slot = relo.insn;
    if (slot >= slots) fail(relo, section, `the instruction is past the ${slots} instructions of the section`);
    let res: CoreReloResult;
    try {
      res = resolveCoreRelo(local, target, relo);
    } catch (e) {
      if (e instanceof CoreReloSpecError) fail(relo, section, e.message);
      throw e;
    }
    const o = slot * 8;
    const opcode = insns[o]!;
    const cls = opcode & 7;
    const isLddw = opcode === OP_LDDW;
    if (isLddw && slot + 1 >= slots) fail(relo, section, 'the lddw has no second half');
    const base = { insn: slot, relo, kindName: coreReloKindName(relo.kind), what: res.what, from: res.origVal };
    const poison = (why: string): void => {
      if (isLddw) poisonSlot(view, slot + 1);
      poisonSlot(view, slot);
      out.push({ ...base, poisoned: why });
    };
    if (res.poison) {
      // libbpf poisons whatever instruction carries the relocation.
      poison(res.missing ?? 'the target has no match');
      continue;
    }
    const lo32 = (v: bigint): number => Number(BigInt.asIntN(32, v));
    if (cls === 4 || cls === 7) {
      // ALU / ALU64
      if ((opcode & 0x08) !== 0) fail(relo, section, `the instruction (opcode 0x${opcode.toString(16)}) takes a register, not an immediate`);
      const imm = view.getInt32(o + 4, true);
      if (res.validate && imm !== lo32(res.origVal)) fail(relo, section, `the instruction holds ${imm}, expected ${res.origVal}`);
      view.setInt32(o + 4, lo32(res.newVal), true);
    } else if (cls === 1 || cls === 2 || cls === 3) {
      // LDX / ST / STX
      const off = view.getInt16(o + 2, true);
      if (res.validate && BigInt(off) !== res.origVal) fail(relo, section, `the instruction's offset is ${off}, expected ${res.origVal}`);
      if (res.newVal > 0x7fffn) fail(relo, section, `the new offset ${res.newVal} does not fit the instruction`);
      if (res.failMemszAdjust) {
        poison(`${res.what} is ${res.newSize} bytes in the target and ${res.origSize} locally, and a load or store cannot follow that change (only pointers and unsigned integers can)`);
        continue;
      }
      view.setInt16(o + 2, Number(res.newVal), true);
      if (res.newSize !== res.origSize) {
        if (SIZE_BYTES[opcode & 0x18] !== res.origSize) fail(relo, section, `the access is ${SIZE_BYTES[opcode & 0x18]} bytes, expected the field's ${res.origSize}`);
        const bits = BYTES_SIZE[res.newSize];
        if (bits === undefined) fail(relo, section, `the target field is ${res.newSize} bytes, which no load or store has`);
        insns[o] = (opcode & ~0x18) | bits;
      }
    } else if (isLddw) {
      const src = insns[o + 1]! >> 4;
      if (src !== 0 || view.getInt16(o + 2, true) !== 0 || insns[o + 8] !== 0 || insns[o + 9] !== 0 || view.getInt16(o + 10, true) !== 0) {
        fail(relo, section, 'the lddw has an unexpected form');
      }
      const imm = BigInt(view.getUint32(o + 4, true)) | (BigInt(view.getUint32(o + 12, true)) << 32n);
      if (res.validate && imm !== res.origVal) fail(relo, section, `the lddw holds ${imm}, expected ${res.origVal}`);
      view.setUint32(o + 4, Number(res.newVal & 0xffffffffn), true);
      view.setUint32(o + 12, Number(res.newVal >> 32n), true);
    } else {
      fail(relo, section, `the instruction (opcode 0x${opcode.toString(16)}) cannot be relocated`);
    }
    out.push({ ...base, to: res.newVal });
  }
  return out;
}
