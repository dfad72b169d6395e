/**
 * runtime/base64.ts: every decoding path (the host's Buffer, atob) gives the same bytes as Node's
 * own decoder, for random bytes of every length modulo 3, and the embedded modules (decoded without
 * the canonical-form check) are canonical base64 and decode to their recorded sizes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CANONICAL, fromBase64, fromCanonicalBase64, toBase64 } from '../base64.js';
import { MAPS_WASM_BASE64, MAPS_WASM_SIZE, mapsWasmBytes } from '../maps/maps-wasm.js';
import { SUPPORT_WASM_BASE64, SUPPORT_WASM_SIZE, supportWasmBytes } from '../../compiler/standalone/support-wasm.js';

const g = globalThis as { Buffer?: unknown };
const savedBuffer = g.Buffer;
afterEach(() => {
  g.Buffer = savedBuffer;
});

function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

describe('base64', () => {
  const cases = [0, 1, 2, 3, 4, 5, 255, 256, 257, 70_000].map((n) => randomBytes(n, n + 1));

  it('round-trips through the Buffer path, as Node decodes', () => {
    for (const bytes of cases) {
      const text = toBase64(bytes);
      expect(text).toBe(Buffer.from(bytes).toString('base64'));
      const back = fromBase64(text);
      expect(back).toEqual(bytes);
      expect(back.byteOffset).toBe(0);
      expect(back.buffer.byteLength).toBe(bytes.length);
    }
  });

  it('round-trips through atob where there is no Buffer', () => {
    g.Buffer = undefined;
    for (const bytes of cases) expect(fromBase64(toBase64(bytes))).toEqual(bytes);
  });

  it('refuses what atob refuses, on every path (Buffer would skip unknown characters)', () => {
    for (const bad of ['not base64!', 'AAA*', 'A', 'AB=C']) {
      expect(() => fromBase64(bad), bad).toThrow();
      g.Buffer = undefined;
      expect(() => fromBase64(bad), bad).toThrow();
      g.Buffer = savedBuffer;
    }
    // Forms atob accepts besides the canonical one still decode (no padding, whitespace).
    expect(fromBase64('AQI')).toEqual(new Uint8Array([1, 2]));
    expect(fromBase64('AQ I=')).toEqual(new Uint8Array([1, 2]));
  });

  it('the embedded maps module decodes to its size, the same on both paths', () => {
    const viaBuffer = mapsWasmBytes();
    expect(viaBuffer.length).toBe(MAPS_WASM_SIZE);
    g.Buffer = undefined;
    expect(fromBase64(MAPS_WASM_BASE64)).toEqual(viaBuffer);
  });

  it('the embedded modules are canonical base64, so fromCanonicalBase64 may skip the check', () => {
    expect(CANONICAL.test(MAPS_WASM_BASE64)).toBe(true);
    expect(CANONICAL.test(SUPPORT_WASM_BASE64)).toBe(true);
    expect(CANONICAL.test('AQ I=')).toBe(false);
    expect(supportWasmBytes().length).toBe(SUPPORT_WASM_SIZE);
    for (const text of [MAPS_WASM_BASE64, SUPPORT_WASM_BASE64]) {
      const viaBuffer = fromCanonicalBase64(text);
      expect(toBase64(viaBuffer)).toBe(text);
      g.Buffer = undefined;
      expect(fromCanonicalBase64(text)).toEqual(viaBuffer);
      g.Buffer = savedBuffer;
    }
  });
});
