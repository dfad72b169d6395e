/**
 * Host-supplied BTF: a raw BTF blob (such as `/sys/kernel/btf/vmlinux`) whose types extend the
 * target of CO-RE relocations beyond the contexts the runtime presents (context-btf.ts). A
 * relocation whose root type the context BTF has (by essential name and kind) resolves there,
 * whatever the host BTF says: the runtime lays those contexts out itself. Any other resolves
 * against the host BTF by libbpf's rules, as libbpf resolves it against the kernel's
 * (`struct task_struct` read through `bpf_probe_read_kernel`, whose memory the host serves with
 * `env.probeRead` in the layout its BTF describes). Split BTF (kernel modules, whose type ids
 * continue vmlinux's) is not supported: it fails to parse as a reference to a missing type.
 */
import { CompileError, ErrorCode } from '../../runtime/errors.js';
import { ElfError } from '../elf/elf64.js';
import { contextBtf } from './context-btf.js';
import { parseBtf, type Btf } from './types.js';

const parsed = new WeakMap<Uint8Array, Btf>();

/**
 * Parses a host BTF blob (cached per blob: linking several objects parses it once).
 *
 * @param name what errors call the blob: the file name, or the option that passed it.
 * @throws ElfError `E_BAD_ELF` for a malformed blob, with `section` = `name` and `offset` = the
 *   byte offset of the offending field in the blob; CompileError `E_BAD_ARGUMENT` for a value
 *   that is not a Uint8Array.
 */
export function parseHostBtf(bytes: Uint8Array, name = 'the btf option'): Btf {
  if (!(bytes instanceof Uint8Array)) {
    throw new CompileError(ErrorCode.BadArgument, `${name} must be a Uint8Array holding raw BTF, not ${bytes === null ? 'null' : typeof bytes}`);
  }
  let btf = parsed.get(bytes);
  if (btf) return btf;
  try {
    btf = parseBtf(bytes, {});
  } catch (e) {
    if (!(e instanceof ElfError)) throw e;
    const offset = e.location.offset ?? 0;
    throw new ElfError(e.code, `host BTF (${name}) at offset ${offset}: ${e.detail}`, { section: name, offset }, offset);
  }
  parsed.set(bytes, btf);
  return btf;
}

/** The targets of CO-RE relocations, in the order they are searched: the context BTF, then the host's. */
export function coreTargets(host?: Btf): readonly Btf[] {
  return host ? [contextBtf(), host] : [contextBtf()];
}
