/**
 * The UAPI facts of runtime/uapi and the generated BpfFunc ids: checked against the kernel headers
 * when they are installed, and against the compiler's use of them (the manifest's context kinds).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cObject, ROOT as root } from '../../test/support/fixtures.js';
import { compileObject } from '../../compiler/object/compile-object.js';
import { BpfFunc, allHelpers, helperByName } from '../helper-table.js';
import { instantiate } from '../instance.js';
import * as uapi from '../uapi/index.js';
import { CONTEXT_KINDS, contextKindOf, Errno, MapType, mapTypeName, XdpAction } from '../uapi/index.js';

const header = (p: string): string | undefined => (existsSync(p) ? readFileSync(p, 'utf8') : undefined);

describe('BpfFunc', () => {
  it('names every helper of the table by its id, as BPF_FUNC_* does', () => {
    expect(Object.keys(BpfFunc)).toHaveLength(allHelpers().length);
    for (const h of allHelpers()) expect((BpfFunc as Record<string, number>)[h.name.slice(4)]).toBe(h.id);
    expect(BpfFunc.map_lookup_elem).toBe(1);
    expect(BpfFunc.tail_call).toBe(12);
    expect(helperByName('map_peek_elem')?.id).toBe(BpfFunc.map_peek_elem);
  });
});

describe('errno', () => {
  const text = [header('/usr/include/asm-generic/errno-base.h'), header('/usr/include/asm-generic/errno.h')].join('\n');
  it.skipIf(!text.includes('#define'))('matches asm-generic/errno*.h', () => {
    for (const [name, value] of Object.entries(Errno)) {
      const m = new RegExp(`#define\\s+${name}\\s+(\\d+)`).exec(text);
      expect(m, name).not.toBeNull();
      expect(Number(m![1]), name).toBe(value);
    }
  });
});

describe('XdpAction', () => {
  const text = header('/usr/include/linux/bpf.h');
  it.skipIf(text === undefined)('matches enum xdp_action of linux/bpf.h', () => {
    const body = /enum xdp_action \{([^}]*)\}/.exec(text!)![1]!;
    const names = [...body.matchAll(/XDP_(\w+)/g)].map((m) => m[1]);
    expect(names).toEqual(Object.keys(XdpAction));
    for (const [i, n] of names.entries()) expect((XdpAction as Record<string, number>)[n!]).toBe(i);
  });
});

describe('BPF_* constants', () => {
  const text = header('/usr/include/linux/bpf.h');
  it.skipIf(text === undefined)('match their enum entries in linux/bpf.h', () => {
    const value = (name: string): bigint => {
      const m = new RegExp(`^\\s+${name}\\s*=\\s*([^,]+),`, 'm').exec(text!);
      expect(m, name).not.toBeNull();
      const expr = m![1]!.trim();
      const shift = /^\((0x[0-9a-f]+|\d+)U?L?L? << (\d+)\)$/i.exec(expr);
      if (shift) return BigInt(shift[1]!) << BigInt(shift[2]!);
      if (/^(0x[0-9a-f]+|\d+)U?L?L?$/i.test(expr)) return BigInt(expr.replace(/U?L?L?$/i, ''));
      return value(expr);
    };
    const constants = Object.entries(uapi).filter(([k, v]) => k.startsWith('BPF_') && (typeof v === 'number' || typeof v === 'bigint'));
    expect(constants.length).toBeGreaterThanOrEqual(19);
    for (const [name, v] of constants) expect(BigInt(v as number | bigint), name).toBe(value(name));
  });
});

describe('map types', () => {
  it('are named as the kernel names them', () => {
    expect(mapTypeName(MapType.LRU_PERCPU_HASH)).toBe('BPF_MAP_TYPE_LRU_PERCPU_HASH');
    expect(mapTypeName(1234)).toBe('map type 1234');
  });
});

describe('context kinds', () => {
  it('follow the kernel pairing of program types and context structs', () => {
    expect(contextKindOf('xdp')).toBe('xdp_md');
    for (const t of ['socket', 'tc', 'tc_action', 'cgroup_skb', 'sk_skb', 'lwt', 'flow_dissector']) expect(contextKindOf(t)).toBe('__sk_buff');
    expect(contextKindOf('kprobe')).toBe('pt_regs');
    expect(contextKindOf('raw')).toBe('raw');
    expect(contextKindOf('toString')).toBe('raw');
    expect(contextKindOf('tracepoint')).toBe('raw');
    for (const t of ['xdp', 'socket', 'kprobe', 'sk_msg', 'perf_event', 'raw']) expect(CONTEXT_KINDS).toContain(contextKindOf(t));
  });

  it('are decided by the compiler and carried in the manifest', async () => {
    const kinds = async (n: string): Promise<string[]> => (await compileObject(cObject(n), { optLevel: 0 })).manifest.programs.map((p) => p.context);
    expect(await kinds('xdp_counter')).toEqual(['xdp_md']);
    expect(await kinds('socket_filter')).toEqual(['__sk_buff']);
    expect(await kinds('uid_counter')).toEqual(['pt_regs']);
  });

  it('choose the packet context the runtime builds', async () => {
    // The socket filter returns skb->len for TCP to port 22, read through its __sk_buff (an
    // xdp_md would put the data pointer where skb->len is).
    const { wasm } = await compileObject(cObject('socket_filter'), { optLevel: 0 });
    const inst = await instantiate(wasm);
    const tcp = new Uint8Array(54);
    tcp.set([0x08, 0x00], 12);
    tcp.set([0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6], 14);
    tcp.set([0, 80, 0, 22], 34);
    // The filter parses from the Ethernet header, as an AF_PACKET SOCK_RAW socket gives it; from
    // the network header (the kernel's test run) it sees no Ethernet header and keeps nothing.
    expect(inst.program().test({ dataIn: tcp, skbData: 'mac' }).r0).toBe(54n);
    expect(inst.program().test({ dataIn: tcp }).r0).toBe(0n);
  });
});

describe('one home', () => {
  it('no other source file defines the UAPI tables', () => {
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) {
          if (!['node_modules', 'dist', 'uapi', 'test', '.git', 'wasm'].includes(e.name)) walk(p);
        } else if (e.name.endsWith('.ts') && /export const (MapType|BpfMapType|Errno|XdpAction|BPF_F_RDONLY_PROG|MapPinning)\b/.test(readFileSync(p, 'utf8'))) {
          offenders.push(path.relative(root, p));
        }
      }
    };
    for (const d of ['runtime', 'compiler', 'scripts']) walk(path.join(root, d));
    expect(offenders).toEqual([]);
  });
});
