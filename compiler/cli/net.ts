/**
 * `--net FILE.json`: the host network state (interfaces, routes, neighbours) the packet helpers
 * of an object's programs see, read as JSON in the shape of `InstantiateOptions.net`
 * (runtime/packet/net.ts checks it; a malformed file is E_HOST_STATE naming the field).
 */
import { BpfRuntimeError, ErrorCode } from '../../runtime/errors.js';
import type { HostNetwork } from '../../runtime/packet/net.js';
import type { CliIO } from './io.js';
import type { Parsed } from './args.js';

/** The instantiate options `--net` asks for (none without it). */
export async function netOptions(p: Parsed, io: CliIO): Promise<{ net?: HostNetwork }> {
  if (p.net === undefined) return {};
  const text = new TextDecoder().decode(await io.readFile(p.net));
  try {
    return { net: JSON.parse(text) as HostNetwork };
  } catch (e) {
    throw new BpfRuntimeError(ErrorCode.HostState, `${p.net} is not JSON: ${(e as Error).message}`, { field: 'net' });
  }
}
