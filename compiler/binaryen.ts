/**
 * The only module that imports `binaryen`. Loading it costs about a second (15 MB of JS with
 * top-level await), so it is loaded lazily, on the first compile, and never by the runtime.
 */
import type BinaryenDefault from 'binaryen';
import { bodyTree, type Node, type ValType, type WModule, type WType } from './wir.js';

/** The binaryen.js namespace. */
export type Binaryen = typeof BinaryenDefault;
/** A Binaryen module. */
export type BModule = InstanceType<Binaryen['Module']>;
/** A Binaryen expression reference. */
export type ExprRef = number;

let loading: Promise<Binaryen> | undefined;

/** Loads binaryen.js once. */
export function loadBinaryen(): Promise<Binaryen> {
  loading ??= import('binaryen').then((m) => m.default);
  return loading;
}

/**
 * Lowers a WIR module into a new Binaryen module (for optimisation), tagging possibly-trapping
 * expressions with their instruction index as debug locations (line = index + 2, see
 * insnMapFromSourceMap) so that the
 * source map Binaryen writes names the instruction behind a trap.
 */
export function lowerToBinaryen(b: Binaryen, mod: WModule): BModule {
  const m = new b.Module();
  const ty = (t: WType): number => (t === 'i32' ? b.i32 : t === 'i64' ? b.i64 : b.none);
  const tys = (ts: ValType[]): number => b.createType(ts.map(ty));
  m.setFeatures(b.Features.SignExt | b.Features.MutableGlobals | b.Features.BulkMemory);
  m.setMemory(mod.memoryImport.initial, mod.memoryImport.maximum, null, [], false, false, '0');
  m.addMemoryImport('0', mod.memoryImport.module, mod.memoryImport.base);
  for (const imp of mod.imports) m.addFunctionImport(imp.name, imp.module, imp.base, tys(imp.params), ty(imp.result));
  for (const g of mod.globals) {
    m.addGlobal(g.name, ty(g.type), true, g.type === 'i32' ? m.i32.const(g.init) : m.i64.const(BigInt(g.init)));
  }
  const file = m.addDebugInfoFileName('bpf');
  let tagged: Array<[ExprRef, number]> = [];
  // Binaryen's builder methods by Wasm operator name, e.g. 'i64.add' -> m.i64.add.
  const opFn = (op: string): ((...args: number[]) => ExprRef) => {
    const [ns, name] = op.split('.') as [string, string];
    const alias: Record<string, string> = { wrap_i64: 'wrap', extend_i32_s: 'extend_s', extend_i32_u: 'extend_u' };
    const group = (m as unknown as Record<string, Record<string, (...a: number[]) => ExprRef>>)[ns]!;
    return group[alias[name] ?? name]!.bind(group);
  };
  const cache = new Map<string, (...args: number[]) => ExprRef>();
  const op = (name: string): ((...args: number[]) => ExprRef) => {
    let f = cache.get(name);
    if (!f) cache.set(name, (f = opFn(name)));
    return f;
  };
  const lower = (n: Node): ExprRef => {
    switch (n.k) {
      case 'i32.const': return m.i32.const(n.value);
      case 'i64.const': return m.i64.const(n.value);
      case 'local.get': return m.local.get(n.index, ty(n.type));
      case 'local.set': return m.local.set(n.index, lower(n.value));
      case 'global.get': return m.global.get(n.name, ty(n.type));
      case 'global.set': return m.global.set(n.name, lower(n.value));
      case 'unary': return op(n.op)(lower(n.a));
      case 'binary': return op(n.op)(lower(n.a), lower(n.b));
      case 'load': {
        const e = op(n.op)(n.offset, 1, lower(n.ptr));
        if (n.pc !== undefined) tagged.push([e, n.pc]);
        return e;
      }
      case 'store': {
        const e = op(n.op)(n.offset, 1, lower(n.ptr), lower(n.value));
        if (n.pc !== undefined) tagged.push([e, n.pc]);
        return e;
      }
      case 'block': return m.block(n.label, n.children.map(lower), ty(n.type));
      case 'loop': return m.loop(n.label, lower(n.body));
      case 'if': return m.if(lower(n.cond), lower(n.then), n.else ? lower(n.else) : undefined);
      case 'br': return m.br(n.label, n.cond ? lower(n.cond) : undefined);
      case 'br_table': return m.switch(n.labels, n.defaultLabel, lower(n.index));
      case 'call': {
        const e = m.call(n.target, n.args.map(lower), ty(n.type));
        if (n.pc !== undefined) tagged.push([e, n.pc]);
        return e;
      }
      case 'return': return m.return(n.value ? lower(n.value) : undefined);
      case 'unreachable': return m.unreachable();
      case 'nop': return m.nop();
    }
  };
  try {
    for (const f of mod.functions) {
      tagged = [];
      const ref = m.addFunction(f.name, tys(f.params), ty(f.result), f.vars.map(ty), lower(bodyTree(f.body)));
      for (const [e, pc] of tagged) m.setDebugLocation(ref, e, file, pc + 2, 0);
    }
    for (const e of mod.exports) m.addFunctionExport(e.function, e.name);
  } catch (e) {
    // A body can fail to generate (an unsupported instruction): free the half-built module.
    m.dispose();
    throw e;
  }
  return m;
}
