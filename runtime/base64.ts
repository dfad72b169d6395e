/** Base64 without node:* (atob/btoa exist in browsers, workers and Node >= 16). */

/** Standard base64 of `bytes`. */
export function toBase64(bytes: Uint8Array): string {
  let s = '';
  const CHUNK = 0x8000;
  for (let i = 0; i < bytes.length; i += CHUNK) {
    s += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  }
  return btoa(s);
}

/** What a host may offer to decode base64 natively (feature-detected, never imported). */
interface NativeBase64 {
  /** Node's and Bun's global Buffer: `Buffer.from(text, 'base64')` decodes in C++. */
  Buffer?: { from(text: string, encoding: 'base64'): Uint8Array };
}
interface Uint8ArrayFromBase64 {
  /** The TC39 proposal, in recent browsers. */
  fromBase64?: (text: string) => Uint8Array<ArrayBuffer>;
}

/**
 * The bytes of standard base64 `text`. Uses the host's native decoder where there is one
 * (`Uint8Array.fromBase64`, Node's global `Buffer`; in Node 20 `atob` is written in JS and a
 * 14 KB string costs ~1-2 ms cold, `Buffer` ~0.15 ms), else `atob`.
 */
export function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  // The native decoders are used on canonical base64 only: Buffer skips characters it does not
  // know, so anything else goes to atob, which accepts or refuses it as it always has.
  return CANONICAL.test(text) ? fromCanonicalBase64(text) : viaAtob(text);
}

/**
 * The bytes of `text`, which must be canonical base64 (groups of four, `=` padding only at the
 * end): base64 this project wrote itself, such as the embedded Wasm modules (runtime/maps/maps-wasm.ts,
 * their tests check the form). Skips {@link fromBase64}'s check, whose first use in a process costs
 * ~0.3 ms on the maps module's 14 KB (the regular expression is compiled and runs in V8's regexp
 * interpreter at first). Given anything else, Node's decoder skips characters it does not know.
 */
export function fromCanonicalBase64(text: string): Uint8Array<ArrayBuffer> {
  const fromB64 = (Uint8Array as Uint8ArrayFromBase64).fromBase64;
  if (typeof fromB64 === 'function') return fromB64(text);
  const buffer = (globalThis as NativeBase64).Buffer;
  if (typeof buffer?.from === 'function') {
    const b = buffer.from(text, 'base64');
    // A copy of its own: Buffers may share a pooled ArrayBuffer.
    return new Uint8Array(b);
  }
  return viaAtob(text);
}

/** Base64 in its canonical form: groups of four, `=` padding only at the end. */
export const CANONICAL = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function viaAtob(text: string): Uint8Array<ArrayBuffer> {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
