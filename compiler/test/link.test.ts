/**
 * Objects linked into one module (compiler/link.ts): maps pinned by name shared, the rest of each
 * object its own (test-programs/c/pin_producer.c and pin_consumer.c).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compileObject } from '../object.js';
import { loadObjectSpec } from '../elf/loader.js';
import { linkObjects } from '../link.js';
import { Bpf2WasmError, ErrorCode } from '../../runtime/errors.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const object = (name: string): Uint8Array => new Uint8Array(readFileSync(path.join(root, 'test-programs/c', name + '.o')));
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
