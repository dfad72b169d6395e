/**
 * How `run --packet` prints what the run asked of the outside world (the test-run result's
 * effects, runtime/packet/state.ts): the redirect, bpf_clone_redirect's clones, the tunnel key
 * and its options, the ECN mark, the flow hash and the checksum level, as text lines and as
 * JSON fields (addresses as text, bytes as hex).
 */
import type { TestRunResult } from '../../runtime/program.js';
import type { TunnelKey } from '../../runtime/packet/state.js';
import { formatIp } from '../../runtime/packet/net.js';
import { hexBytes } from './print.js';

type Effects = Pick<TestRunResult, 'redirect' | 'clones' | 'tunnelKey' | 'ecnMarked' | 'hash' | 'csumLevel'>;

/** An address of a tunnel key: an IPv4 u32 in host order, or the 16 bytes of an IPv6 one. */
function address(a: number | Uint8Array): string {
  return typeof a === 'number' ? [a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff].join('.') : formatIp(a);
}

function tunnelKeyJson(k: TunnelKey): Record<string, unknown> {
  return {
    tunnelId: k.tunnelId, remote: address(k.remote), local: address(k.local), tos: k.tos, ttl: k.ttl, label: k.label, flags: k.flags,
    ...(k.options ? { options: k.options } : {}),
  };
}

/** The text lines of a run's effects, in the order above (none when it asked for nothing). */
export function effectLines(r: Effects): string[] {
  const lines: string[] = [];
  const redirect = r.redirect;
  if (redirect) {
    const via = redirect.nexthop ? ` via ${redirect.nexthop}${redirect.mac ? ` (${redirect.mac})` : ''}` : '';
    lines.push(`redirect: ${redirect.helper} to ${redirect.map ? `${redirect.map}[${redirect.index}]` : `ifindex ${redirect.index}`}${via}${redirect.flags ? ` flags 0x${redirect.flags.toString(16)}` : ''}`);
  }
  for (const [i, c] of (r.clones ?? []).entries()) {
    lines.push(`clone ${i}: bpf_clone_redirect to ifindex ${c.index}${c.flags & 1 ? ' (ingress)' : ''}, ${c.data.length} bytes: ${hexBytes(c.data)}`);
  }
  const k = r.tunnelKey;
  if (k) {
    lines.push(`tunnel key: id ${k.tunnelId} remote ${address(k.remote)} local ${address(k.local)} tos ${k.tos} ttl ${k.ttl} label ${k.label}${k.flags ? ` flags 0x${k.flags.toString(16)}` : ''}`);
    if (k.options) lines.push(`tunnel options: ${hexBytes(k.options)}`);
  }
  if (r.ecnMarked) lines.push('ecn: marked Congestion Experienced');
  if (r.hash !== undefined) lines.push(`hash: 0x${(r.hash >>> 0).toString(16)}`);
  if (r.csumLevel !== undefined) lines.push(`csum level: ${r.csumLevel}`);
  return lines;
}

/** The JSON fields of a run's effects (only those present). */
export function effectsJson(r: Effects): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (r.redirect) out.redirect = r.redirect;
  if (r.clones) out.clones = r.clones.map((c) => ({ index: c.index, flags: c.flags, data: c.data }));
  if (r.tunnelKey) out.tunnelKey = tunnelKeyJson(r.tunnelKey);
  if (r.ecnMarked) out.ecnMarked = true;
  if (r.hash !== undefined) out.hash = r.hash >>> 0;
  if (r.csumLevel !== undefined) out.csumLevel = r.csumLevel;
  return out;
}
