#!/usr/bin/env python3
"""A host for bpf2wasm standalone modules, in Python with Wasmtime (pip install wasmtime).

    bpf2wasm compile prog.o --standalone -o prog.wasm
    python3 host.py prog.wasm PROGRAM [--input HEX]... [--runs N] [--update MAP KEYHEX VALUEHEX]...

Runs PROGRAM (an eBPF program of the object) on each input in turn, N times over (the
updates are made first), and prints one JSON
object: r0 and status of each run, the trace output (bpf_printk, which the module writes to
stdout through WASI), every map's entries and every ring buffer's records (hex). It uses only
the module's documented interface (README, "Standalone modules"):

    memory                                   the module's linear memory
    bpf2wasm_input(len) -> addr              where to write the input (memory grows as needed)
    NAME(addr, len) -> i64                   runs program NAME, returns r0 (traps on a fault)
    bpf2wasm_status() -> i32                 0 ok, 1 trap, 2.. a fault (see the custom section)
    bpf2wasm_map_lookup / _update / _delete / _next_key(index, ...) -> 0 or -errno
    bpf2wasm_ringbuf_consume(index, out, cap) -> length or -errno
    custom section bpf2wasm.standalone       JSON: programs, maps (names, sizes, BTF types)
"""
import argparse
import json
import os
import sys
import tempfile

import wasmtime

SECTION = 'bpf2wasm.standalone'
ENOENT = 2


def custom_section(data: bytes, name: str) -> bytes:
    """The payload of the custom section `name` of a Wasm module."""
    pos = 8

    def leb():
        nonlocal pos
        result = shift = 0
        while True:
            b = data[pos]
            pos += 1
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return result

    while pos < len(data):
        sid = data[pos]
        pos += 1
        size = leb()
        end = pos + size
        if sid == 0:
            n = leb()
            if data[pos:pos + n].decode() == name:
                return data[pos + n:end]
        pos = end
    raise SystemExit(f'no {name} section: not a bpf2wasm standalone module')


class Standalone:
    """One instance of a standalone module."""

    def __init__(self, path: str, stdout_path: str):
        data = open(path, 'rb').read()
        self.desc = json.loads(custom_section(data, SECTION))
        engine = wasmtime.Engine()
        self.store = wasmtime.Store(engine)
        wasi = wasmtime.WasiConfig()
        wasi.stdout_file = stdout_path
        self.store.set_wasi(wasi)
        linker = wasmtime.Linker(engine)
        linker.define_wasi()
        module = wasmtime.Module(engine, data)
        self.inst = linker.instantiate(self.store, module)
        self.exports = self.inst.exports(self.store)
        self.memory = self.exports['memory']

    def call(self, name, *args):
        return self.exports[name](self.store, *args)

    def write(self, addr: int, data: bytes):
        self.memory.write(self.store, data, addr)

    def read(self, addr: int, n: int) -> bytes:
        return bytes(self.memory.read(self.store, addr, addr + n))

    def run(self, program: str, data: bytes):
        """Runs `program` on `data`: (r0 as unsigned 64-bit or None after a trap, status)."""
        export = next(p['export'] for p in self.desc['programs'] if p['name'] == program)
        addr = self.call('bpf2wasm_input', len(data))
        if addr < 0:
            raise SystemExit('the module cannot grow its memory for the input')
        self.write(addr, data)
        try:
            r0 = self.call(export, addr, len(data)) & 0xFFFFFFFFFFFFFFFF
        except wasmtime.Trap:
            r0 = None
        return r0, self.call('bpf2wasm_status')

    def scratch(self, n: int) -> int:
        """An address for `n` bytes of the host's own use (the input area, between runs)."""
        return self.call('bpf2wasm_input', n)

    def entries(self, m):
        """A map's (key, value) pairs, by bpf2wasm_map_next_key and bpf2wasm_map_lookup."""
        ks, vs = max(m['keySize'], 1), max(m['valueSize'], 4)
        base = self.scratch(2 * ks + vs)
        key, nxt, val = base, base + ks, base + 2 * ks
        out, prev = [], 0
        while self.call('bpf2wasm_map_next_key', m['index'], prev, nxt) == 0:
            k = self.read(nxt, ks)
            self.write(key, k)
            if self.call('bpf2wasm_map_lookup', m['index'], key, val) == 0:
                out.append([k.hex(), self.read(val, m['valueSize']).hex()])
            prev = key
            if len(out) > 100000:
                break
        return out

    def records(self, m):
        """A ring buffer's records, by bpf2wasm_ringbuf_consume."""
        cap = m['maxEntries']
        out_addr = self.scratch(cap)
        out = []
        while True:
            n = self.call('bpf2wasm_ringbuf_consume', m['index'], out_addr, cap)
            if n < 0:
                break
            out.append(self.read(out_addr, n).hex())
        return out

    def update(self, name: str, key: bytes, value: bytes):
        m = next(x for x in self.desc['maps'] if x['name'] == name)
        base = self.scratch(len(key) + len(value))
        self.write(base, key)
        self.write(base + len(key), value)
        return self.call('bpf2wasm_map_update', m['index'], base, base + len(key), 0)


def main():
    ap = argparse.ArgumentParser(description='Run a program of a bpf2wasm standalone module with Wasmtime.')
    ap.add_argument('module')
    ap.add_argument('program')
    ap.add_argument('--input', action='append', default=[], help='input bytes (context or packet), hex; one run each')
    ap.add_argument('--runs', type=int, default=1)
    ap.add_argument('--consume-each', action='store_true', help='consume ring buffer records after every run')
    ap.add_argument('--update', nargs=3, action='append', default=[], metavar=('MAP', 'KEYHEX', 'VALUEHEX'),
                    help='update a map before the runs')
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stdout_path = os.path.join(tmp, 'stdout')
        sa = Standalone(args.module, stdout_path)
        updates = [sa.update(m, bytes.fromhex(k), bytes.fromhex(v)) for m, k, v in args.update]
        runs = []
        rings = [m for m in sa.desc['maps'] if m['type'] == 'BPF_MAP_TYPE_RINGBUF']
        ringbufs = {m['name']: [] for m in rings}
        for _ in range(args.runs):
            for data in args.input or ['']:
                if args.consume_each:
                    for m in rings:
                        ringbufs[m['name']] += sa.records(m)
                r0, status = sa.run(args.program, bytes.fromhex(data))
                runs.append({'r0': None if r0 is None else str(r0), 'status': status,
                             'insn': sa.call('bpf2wasm_status_insn')})
        maps = {}
        for m in sa.desc['maps']:
            if m['type'] == 'BPF_MAP_TYPE_RINGBUF':
                ringbufs[m['name']] += sa.records(m)
            elif m['type'] not in ('BPF_MAP_TYPE_PROG_ARRAY', 'BPF_MAP_TYPE_PERF_EVENT_ARRAY', 'BPF_MAP_TYPE_QUEUE',
                                   'BPF_MAP_TYPE_STACK', 'BPF_MAP_TYPE_BLOOM_FILTER'):
                maps[m['name']] = sa.entries(m)
        del sa
        trace = open(stdout_path, encoding='utf-8', errors='replace').read().splitlines()
    json.dump({'updates': updates, 'runs': runs, 'trace': trace, 'maps': maps, 'ringbufs': ringbufs}, sys.stdout)
    print()


if __name__ == '__main__':
    main()
