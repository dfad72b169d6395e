/**
 * Lowering of memory access: loads, stores, atomics and the legacy packet loads (ldabs/ldind).
 * Checked mode's bounds check on an address is a rewrite (compiler/rewrite/checked.ts).
 */
import type { AtomicInsn, LegacyLoadInsn, MemSize, Reg } from '../../runtime/isa/insn.js';
import { tagPc, w, type CodeSink, type Node } from '../wir.js';
import type { EmitOptions } from '../emit.js';
import { checkedAddress } from '../rewrite/checked.js';
import { bswap16, bswap32 } from './alu.js';
import { get32, get64, L_ADDR, L_FB, L_R0, L_TMP64, PKT_BASE, PKT_HEAD, PKT_LEN, PKT_MAC, PKT_NET, set32, set64, type ModuleCtx } from './state.js';
import { SKF_LL_OFF, SKF_NET_OFF } from '../../runtime/packet/layout.js';

/**
 * The Wasm address of `reg + off`: the low 32 bits of the eBPF pointer. A non-negative offset
 * goes into the memarg (which adds without wrapping, so an address past 4 GiB traps); a negative
 * one is added first. Either way an access outside linear memory traps. In checked mode, an
 * access outside the own frame is checked first (see checkedAddress), unless `hoisted`: a test at
 * its loop's entry found every address it takes inside the allowed span (rewrite/loop-versions.ts).
 */
export function address(options: EmitOptions, reg: Reg, off: number, size: MemSize, pc: number, out: CodeSink, hoisted = false): [Node, number] {
  const a = addressInto(options, reg, off, size, pc, out, { ptr: w.nop(), off: 0 }, hoisted);
  return [a.ptr, a.off];
}

/** A Wasm address: the pointer operand and the memarg offset. */
export interface MemAddress {
  ptr: Node;
  off: number;
}

/** `address`, written into `at` (which it returns): the lowering of every load and store allocates no pair. */
export function addressInto(options: EmitOptions, reg: Reg, off: number, size: MemSize, pc: number, out: CodeSink, at: MemAddress, hoisted = false): MemAddress {
  const m = w;
  const { layout } = options;
  const checked = options.checked && !hoisted;
  // An access through r10 that stays inside the own frame needs no check, even in checked mode.
  const inOwnFrame = reg === 10 && off >= -layout.frameSize && off + size <= 0;
  if (!checked || inOwnFrame) {
    // Inside the own frame: from its lowest address (L_FB), the offset fits the memarg.
    if (inOwnFrame) {
      at.ptr = m.local.get(L_FB, 'i32');
      at.off = layout.frameSize + off;
    } else if (off >= 0) {
      at.ptr = get32(reg);
      at.off = off;
    } else {
      at.ptr = m.i32.add(get32(reg), m.i32.const(off));
      at.off = 0;
    }
    return at;
  }
  const [ptr, o] = checkedAddress(layout, reg, off, size, pc, out);
  at.ptr = ptr;
  at.off = o;
  return at;
}

/** A load of `size` bytes at `ptr + off`, extended to i64. */
export function load(size: MemSize, signed: boolean, off: number, ptr: Node): Node {
  const m = w;
  switch (size) {
    case 1:
      return signed ? m.i64.load8_s(off, 1, ptr) : m.i64.load8_u(off, 1, ptr);
    case 2:
      return signed ? m.i64.load16_s(off, 1, ptr) : m.i64.load16_u(off, 1, ptr);
    case 4:
      return signed ? m.i64.load32_s(off, 1, ptr) : m.i64.load32_u(off, 1, ptr);
    default:
      return m.i64.load(off, 1, ptr);
  }
}

/** A store of the low `size` bytes of an i64 at `ptr + off`. */
export function store(size: MemSize, off: number, ptr: Node, value: Node): Node {
  const m = w;
  switch (size) {
    case 1:
      return m.i64.store8(off, 1, ptr, value);
    case 2:
      return m.i64.store16(off, 1, ptr, value);
    case 4:
      return m.i64.store32(off, 1, ptr, value);
    default:
      return m.i64.store(off, 1, ptr, value);
  }
}

/**
 * Atomics as plain read-modify-write: a program instance runs on one thread, so the sequence is
 * indivisible, and unlike Wasm's atomic instructions it has no alignment requirement.
 */
export function lowerAtomic(options: EmitOptions, insn: AtomicInsn, out: CodeSink): void {
  const m = w;
  const [ptr, off] = address(options, insn.dst, insn.off, insn.size, insn.pc, out);
  out.push(m.local.set(L_ADDR, ptr));
  const addr = (): Node => m.local.get(L_ADDR, 'i32');
  const old = tagPc(load(insn.size, false, off, addr()), insn.pc);
  out.push(m.local.set(L_TMP64, old));
  const oldV = (): Node => m.local.get(L_TMP64, 'i64');
  const src = (): Node => get64(insn.src);
  switch (insn.op) {
    case 'add':
    case 'or':
    case 'and':
    case 'xor': {
      const op = insn.op === 'add' ? m.i64.add : insn.op === 'or' ? m.i64.or : insn.op === 'and' ? m.i64.and : m.i64.xor;
      out.push(store(insn.size, off, addr(), op(oldV(), src())));
      if (insn.fetch) out.push(set64(insn.src, oldV()));
      return;
    }
    case 'xchg':
      out.push(store(insn.size, off, addr(), src()));
      out.push(set64(insn.src, oldV()));
      return;
    case 'cmpxchg': {
      const r0 = insn.size === 4 ? m.i64.extend_u(get32(0)) : get64(0);
      out.push(m.if(m.i64.eq(oldV(), r0), store(insn.size, off, addr(), src())));
      out.push(set64(0, oldV()));
      return;
    }
  }
}

/**
 * Legacy packet loads (RFC 9669 5.5): the packet is the input memory the program was started
 * with (where the entry finds it: compiler/rewrite/packet-context.ts); an access outside it ends
 * the program with r0 = 0, as in the kernel. The value is in network byte order. A negative
 * offset is the kernel's bpf_internal_load_pointer_neg_helper: from SKF_NET_OFF the network
 * header, from SKF_LL_OFF the link-layer header, within [skb->head, the packet's end).
 */
export function lowerLegacyLoad(ctx: ModuleCtx, insn: LegacyLoadInsn, out: CodeSink): void {
  const m = w;
  ctx.usesPacket = true;
  let off = m.i32.const(insn.imm);
  if (insn.kind === 'ldind') off = m.i32.add(get32(insn.src), off);
  out.push(m.local.set(L_ADDR, off));
  const o = (): Node => m.local.get(L_ADDR, 'i32');
  const reject = (): Node => m.block(null, [m.local.set(L_R0, m.i64.const(0n)), m.return(m.local.get(L_R0, 'i64'))], 'none');
  const size = m.i32.const(insn.size);
  // Non-negative: out of bounds if off + size > len (in 64 bits to avoid wrap-around).
  const oob = m.i64.gt_u(
    m.i64.add(m.i64.extend_u(o()), m.i64.const(BigInt(insn.size))),
    m.i64.extend_u(m.global.get(PKT_LEN, 'i32')),
  );
  const positive = m.block(null, [m.if(oob, reject()), m.local.set(L_ADDR, m.i32.add(m.global.get(PKT_BASE, 'i32'), o()))], 'none');
  // Negative: the header it counts from, then [head, end of packet).
  const fromNet = m.i32.ge_s(o(), m.i32.const(SKF_NET_OFF));
  const header = m.if(fromNet,
    m.local.set(L_ADDR, m.i32.add(m.global.get(PKT_NET, 'i32'), m.i32.sub(o(), m.i32.const(SKF_NET_OFF)))),
    m.local.set(L_ADDR, m.i32.add(m.global.get(PKT_MAC, 'i32'), m.i32.sub(o(), m.i32.const(SKF_LL_OFF)))));
  const end = m.i32.add(m.global.get(PKT_BASE, 'i32'), m.global.get(PKT_LEN, 'i32'));
  const negative = m.block(null, [
    m.if(m.i32.or(m.i32.eqz(m.global.get(PKT_HEAD, 'i32')), m.i32.lt_s(o(), m.i32.const(SKF_LL_OFF))), reject()),
    header,
    m.if(m.i32.or(m.i32.lt_u(o(), m.global.get(PKT_HEAD, 'i32')), m.i32.gt_u(m.i32.add(o(), size), end)), reject()),
  ], 'none');
  out.push(m.if(m.i32.lt_s(o(), m.i32.const(0)), negative, positive));
  const ptr = o();
  const ld = insn.size === 1 ? m.i32.load8_u(0, 1, ptr) : insn.size === 2 ? m.i32.load16_u(0, 1, ptr) : m.i32.load(0, 1, ptr);
  out.push(m.local.set(L_ADDR, tagPc(ld, insn.pc)));
  const v = (): Node => m.local.get(L_ADDR, 'i32');
  out.push(set32(0, insn.size === 1 ? v() : insn.size === 2 ? bswap16(m, v()) : bswap32(m, v(), v)));
}
