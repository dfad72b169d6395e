/**
 * Where legacy packet loads (ldabs/ldind) find the packet, set at a program's entry from its
 * context kind: for a `struct __sk_buff` the packet is at skb->data and skb->len bytes long
 * (field offsets from the UAPI struct, runtime/context.ts), and negative offsets (SKF_LL_OFF,
 * SKF_NET_OFF) reach the headers the test run records after the struct (runtime/packet/layout.ts
 * SkbPrivate); for any other context r1 is the packet itself and r2 its length, as for raw
 * programs, and negative offsets reach nothing (libpcap's semantics for captures).
 */
import { SkBuff } from '../../runtime/context.js';
import { SkbPrivate } from '../../runtime/packet/layout.js';
import type { ContextKind } from '../../runtime/uapi/index.js';
import { w, type Node } from '../wir.js';
import { PKT_BASE, PKT_HEAD, PKT_LEN, PKT_MAC, PKT_NET } from '../lower/state.js';

/** The entry wrapper's setup of the packet globals (r1, r2 are its locals 0 and 1). */
export function packetAtEntry(context: ContextKind): Node[] {
  if (context === '__sk_buff') {
    return [
      w.global.set(PKT_BASE, w.i32.load(SkBuff.data, 4, w.local.get(0, 'i32'))),
      w.global.set(PKT_LEN, w.i32.load(SkBuff.len, 4, w.local.get(0, 'i32'))),
      w.global.set(PKT_MAC, w.i32.load(SkbPrivate.mac, 4, w.local.get(0, 'i32'))),
      w.global.set(PKT_NET, w.i32.load(SkbPrivate.network, 4, w.local.get(0, 'i32'))),
      w.global.set(PKT_HEAD, w.i32.load(SkbPrivate.head, 4, w.local.get(0, 'i32'))),
    ];
  }
  return [w.global.set(PKT_BASE, w.local.get(0, 'i32')), w.global.set(PKT_LEN, w.local.get(1, 'i32')), w.global.set(PKT_HEAD, w.i32.const(0))];
}
