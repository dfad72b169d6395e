/**
 * compiler/batch-loop-code.ts is what scripts/gen-batch-loop.ts makes of the runtime's loop encoder
 * (runtime/packet/batch-loop.ts `loopParts`), and a loop function is its head, the call of the
 * program and its tail, in the compiler's modules and the runtime's loop modules alike.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LOOP_CODE_FILE, renderLoopCode } from '../../scripts/gen-batch-loop.js';
import { LOOP_PARTS } from '../batch-loop-code.js';
import { classicLoopModule, loopBodyFrom, uleb, type LoopKind } from '../../runtime/packet/batch-loop.js';
import { loopBody, loopModuleOf, loopParts } from '../../runtime/packet/batch-loop-frames.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const KINDS: readonly LoopKind[] = ['xdp', 'skb', 'classic'];

describe('the batch loops, generated', () => {
  it(`${LOOP_CODE_FILE} is what the encoder gives (else: npm run build && node dist/scripts/gen-batch-loop.js)`, () => {
    expect(readFileSync(path.join(root, LOOP_CODE_FILE), 'utf8') === renderLoopCode(), 'stale or hand-edited').toBe(true);
    for (const kind of KINDS) expect(LOOP_PARTS[kind]).toEqual(loopParts(kind));
  });

  it('a loop function is the head, the call of the program (any function index) and the tail', () => {
    for (const kind of KINDS) {
      const { head, tail } = loopParts(kind);
      expect(head.slice(0, 3)).toEqual([1, 9, 0x7f]); // nine i32 locals
      expect(tail[tail.length - 1]).toBe(0x0b);
      for (const program of [0, 1, 127, 128, 300, 2 ** 31 - 1]) {
        expect(loopBody(kind, program)).toEqual([...head, 0x10, ...uleb(program), ...tail]);
        expect(loopBodyFrom(LOOP_PARTS[kind], program)).toEqual(loopBody(kind, program));
      }
      // The loop module of the kind (calling its import 0) is a valid module.
      expect(loopModuleOf(kind)).toBeInstanceOf(WebAssembly.Module);
    }
    // The runtime's own loop module is the classic filters'.
    expect(classicLoopModule()).toBeInstanceOf(WebAssembly.Module);
  });
});
