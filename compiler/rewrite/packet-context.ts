/**
 * Where legacy packet loads (ldabs/ldind) find the packet, set at a program's entry from its
 * context kind: for a `struct __sk_buff` the packet is at skb->data and skb->len bytes long
 * (field offsets from the UAPI struct, runtime/context.ts); for any other context r1 is the
 * packet itself and r2 its length, as for raw programs.
 */
import { SkBuff } from '../../runtime/context.js';
import type { ContextKind } from '../../runtime/uapi/index.js';
import { w, type Node } from '../wir.js';
import { PKT_BASE, PKT_LEN } from '../lower/state.js';

/** The entry wrapper's setup of the packet globals (r1, r2 are its locals 0 and 1). */
export function packetAtEntry(context: ContextKind): Node[] {
  if (context === '__sk_buff') {
    return [
      w.global.set(PKT_BASE, w.i32.load(SkBuff.data, 4, w.local.get(0, 'i32'))),
      w.global.set(PKT_LEN, w.i32.load(SkBuff.len, 4, w.local.get(0, 'i32'))),
    ];
  }
  return [w.global.set(PKT_BASE, w.local.get(0, 'i32')), w.global.set(PKT_LEN, w.local.get(1, 'i32'))];
}
