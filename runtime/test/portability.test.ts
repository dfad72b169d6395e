/**
 * Library entry points must run in browsers, workers and edge functions: no `node:*` (or bare
 * Node built-in) imports outside the Node-only adapters (the CLI, `runtime/node/`: the loader of
 * the package's Node entries) and scripts, and the runtime never reaches the compiler or Binaryen. A static check over the import graph, so a stray import fails here.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT as root } from '../../test/support/fixtures.js';

const NODE_BUILTINS = new Set(['fs', 'path', 'url', 'os', 'child_process', 'worker_threads', 'crypto', 'util', 'process', 'module', 'buffer', 'stream']);

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (name !== 'test' && name !== 'cli' && name !== 'node') out.push(...sources(p));
    } else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) {
      out.push(p);
    }
  }
  return out;
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/g)) specs.push(m[1]!);
  for (const m of text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)) specs.push(m[1]!);
  return specs;
}

/** Files reachable from `entry` through relative imports. */
function closure(entry: string): Set<string> {
  const seen = new Set<string>();
  const work = [entry];
  while (work.length > 0) {
    const f = work.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    for (const spec of imports(f)) {
      if (spec.startsWith('.')) work.push(resolve(dirname(f), spec.replace(/\.js$/, '.ts')));
    }
  }
  return seen;
}

describe('portability', () => {
  const libraryFiles = [...sources(join(root, 'compiler')), ...sources(join(root, 'runtime')), ...sources(join(root, 'internal'))];

  it('finds the library sources', () => {
    expect(libraryFiles.length).toBeGreaterThan(10);
  });

  it('library code imports no Node built-ins', () => {
    const bad: string[] = [];
    for (const f of libraryFiles) {
      for (const spec of imports(f)) {
        if (spec.startsWith('node:') || NODE_BUILTINS.has(spec)) bad.push(`${relative(root, f)} imports ${spec}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('no library code imports a Node-only adapter', () => {
    const bad = libraryFiles.flatMap((f) => imports(f).filter((s) => /(?:^|\/)(?:node|cli)\//.test(s)).map((s) => `${relative(root, f)} imports ${s}`));
    expect(bad).toEqual([]);
  });

  it('the runtime never reaches the compiler or binaryen', () => {
    const reached = closure(join(root, 'runtime/index.ts'));
    const bad: string[] = [];
    for (const f of reached) {
      const rel = relative(root, f);
      if (rel.startsWith('compiler/')) bad.push(rel);
      for (const spec of imports(f)) if (spec === 'binaryen' || spec === 'wabt') bad.push(`${rel} imports ${spec}`);
    }
    expect(reached.size).toBeGreaterThan(5);
    expect(bad).toEqual([]);
  });

  it('only compiler/optional.ts imports binaryen and wabt (compiler/binaryen.ts its types)', () => {
    const importers = (name: string) => libraryFiles.filter((f) => imports(f).includes(name)).map((f) => relative(root, f)).sort();
    expect(importers('binaryen')).toEqual(['compiler/binaryen.ts', 'compiler/optional.ts']);
    expect(importers('wabt')).toEqual(['compiler/optional.ts']);
    expect(readFileSync(join(root, 'compiler/binaryen.ts'), 'utf8')).not.toMatch(/import\(\s*'binaryen'/);
  });
});
