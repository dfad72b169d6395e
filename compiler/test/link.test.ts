/**
 * Objects linked into one module (compiler/object/link.ts): maps pinned by name shared, the rest of each
 * object its own (test-programs/c/pin_producer.c and pin_consumer.c).
 */
import { describe, expect, it } from 'vitest';
import { runFrame } from '../../test/support/frames.js';
import { cObject, elfFixture } from '../../test/support/fixtures.js';
import { compileObject } from '../object/compile-object.js';
import { loadObjectSpec } from '../elf/loader.js';
import { linkObjects } from '../object/link.js';
import { Bpf2WasmError, ErrorCode } from '../../runtime/errors.js';
import { instantiate } from '../../runtime/instance.js';
import { PinRegistry } from '../../runtime/pins.js';

const object = cObject;
const producer = object('pin_producer');
const consumer = object('pin_consumer');

describe('linking objects', () => {
  // Running the pair is in programs.test.ts (pin_producer, pin_consumer).
  it('refuses pinned maps defined differently (E_BAD_MAP naming the map)', () => {
    const a = loadObjectSpec(producer);
    const b = loadObjectSpec(consumer);
    const other = { ...b, maps: b.maps.map((m) => (m.name === 'events' ? { ...m, maxEntries: 128 } : m)) };
    const e = (() => { try { linkObjects([a, other]); return undefined; } catch (x) { return x as Bpf2WasmError; } })();
    expect(e?.code).toBe(ErrorCode.BadMap);
    expect(e?.location.map).toBe('events');
    expect(e?.message).toContain('maxEntries 128 vs 64');
  });

  it('renames programs and maps whose names another object took', async () => {
    const { manifest } = await compileObject([producer, producer]);
    expect(manifest.programs.map((p) => p.name)).toEqual(['produce', '1:produce']);
    // The pinned map exists once; each copy has its own .bss.
    expect(manifest.maps!.map((m) => m.name)).toEqual(['events', '.bss', '1:.bss']);
  });
});

describe('the pin registry (the runtime\'s bpffs)', () => {
  it('a reloaded object takes over its pinned map; unpinned maps start afresh', async () => {
    const pins = new PinRegistry();
    const first = await instantiate((await compileObject(producer)).wasm, { pins });
    for (const n of [10, 10, 20]) runFrame(first, new Uint8Array(n));
    expect(pins.names()).toEqual(['events']);
    // Another object with the same pinned map (the consumer) sees the producer's events.
    const second = await instantiate((await compileObject(consumer)).wasm, { pins });
    expect(runFrame(second, new Uint8Array(10)).r0).toBe(2n);
    expect(pins.get('events')).toBe(second.map('events'));
    expect(second.getGlobal('consumed')).toBe(1n);
    // Without the registry nothing carries over.
    const alone = await instantiate((await compileObject(consumer)).wasm);
    expect(runFrame(alone, new Uint8Array(10)).r0).toBe(0n);
    pins.unpin('events');
    const third = await instantiate((await compileObject(consumer)).wasm, { pins });
    expect(runFrame(third, new Uint8Array(10)).r0).toBe(0n);
  });

  it('refuses a pinned map whose definition differs', async () => {
    const pins = new PinRegistry();
    await instantiate((await compileObject(producer)).wasm, { pins });
    const b = loadObjectSpec(consumer);
    const other = { ...b, maps: b.maps.map((m) => (m.name === 'events' ? { ...m, maxEntries: 128 } : m)) };
    const e = await instantiate((await compileObject(other)).wasm, { pins }).then(() => undefined, (x: unknown) => x as Bpf2WasmError);
    expect(e?.code).toBe(ErrorCode.BadMap);
    expect(e?.location.map).toBe('events');
  });
});

describe('big-endian objects', () => {
  it('are read (inspect, loadObjectSpec) but not compiled: E_UNSUPPORTED with a sentence saying why', async () => {
    const be = elfFixture('sum.be.o');
    expect(loadObjectSpec(be).bigEndian).toBe(true);
    const e = await compileObject(be).then(() => undefined, (x: unknown) => x as Bpf2WasmError);
    expect(e?.code).toBe(ErrorCode.Unsupported);
    expect(e?.message).toContain('big-endian');
  });
});
