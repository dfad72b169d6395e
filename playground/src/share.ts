/**
 * Share links: the program (assembly text or object bytes) and the settings, as JSON compressed
 * with CompressionStream('deflate-raw') and base64url-encoded into the URL hash (`#s=...`), so
 * that nothing leaves the browser until the link is sent.
 */

/** What a link carries. */
export interface SharedState {
  /** Assembly text, when the program is text. */
  asm?: string;
  /** An object's bytes (base64url) and file name. */
  object?: string;
  name?: string;
  /** Selected program, optimisation level, capture (a sample's name). */
  program?: string;
  opt?: number;
  /** Checked memory mode. */
  checked?: boolean;
  capture?: string;
}

const toB64url = (bytes: Uint8Array): string => {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
};
const fromB64url = (s: string): Uint8Array => {
  const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/'));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
};

async function pipe(bytes: Uint8Array, stream: CompressionStream | DecompressionStream): Promise<Uint8Array> {
  const out = new Response(new Blob([bytes as BlobPart]).stream().pipeThrough(stream));
  return new Uint8Array(await out.arrayBuffer());
}

/** Bytes as base64url (for `SharedState.object`). */
export const bytesToB64url = toB64url;
/** base64url back to bytes. */
export const b64urlToBytes = fromB64url;

/** Encodes a state as the hash fragment (without `#`). */
export async function encodeState(state: SharedState): Promise<string> {
  const json = new TextEncoder().encode(JSON.stringify(state));
  return `s=${toB64url(await pipe(json, new CompressionStream('deflate-raw')))}`;
}

/**
 * Decodes a hash fragment (with or without `#`); undefined when it carries no state.
 * @throws Error when the fragment is damaged (the page says so).
 */
export async function decodeState(hash: string): Promise<SharedState | undefined> {
  const m = /^#?s=([A-Za-z0-9_-]+)$/.exec(hash);
  if (!m) return undefined;
  const json = await pipe(fromB64url(m[1]!), new DecompressionStream('deflate-raw'));
  const v = JSON.parse(new TextDecoder().decode(json)) as unknown;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('the link does not hold a playground state');
  return v as SharedState;
}
