/** Test support: raw eBPF instruction slots, built byte by byte (RFC 9669 encoding). */

/** One 8-byte instruction slot: opcode, dst and src registers (4 bits each), offset, immediate. */
export function slot(opcode: number, dst = 0, src = 0, off = 0, imm = 0): Uint8Array {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint8(0, opcode);
  v.setUint8(1, (dst & 0xf) | ((src & 0xf) << 4));
  v.setInt16(2, off, true);
  v.setInt32(4, imm | 0, true);
  return b;
}

/** One slot as a number array, with the register byte given whole (`dst | src << 4`). */
export function slotBytes(opcode: number, regs: number, off: number, imm: number): number[] {
  return [...slot(opcode, regs & 0xf, regs >> 4, off, imm)];
}

/** The slots (or any byte arrays) one after the other. */
export function concatBytes(...parts: ArrayLike<number>[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
