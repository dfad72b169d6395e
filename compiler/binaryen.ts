/**
 * The only module that uses `binaryen`. Loading it costs about a second (15 MB of JS with
 * top-level await), so it is loaded lazily (compiler/optional.ts), on the first -O1/-O2
 * compile, and never by the runtime; it is an optional package.
 */
import type BinaryenDefault from 'binaryen';
import { ErrorCode, InternalError } from '../runtime/errors.js';
import { loadOptional } from './optional.js';
import { bodyTree, type Node, type ValType, type WModule, type WType } from './wir.js';

/** The binaryen.js namespace. */
export type Binaryen = typeof BinaryenDefault;
/** A Binaryen module. */
export type BModule = InstanceType<Binaryen['Module']>;
/** A Binaryen expression reference. */
export type ExprRef = number;

/**
 * Loads binaryen.js once (an optional package). `purpose` names the feature needing it for the
 * error when it is absent (`-O1`).
 *
 * @throws MissingDependencyError (E_MISSING_DEPENDENCY) when binaryen is not installed.
 */
export async function loadBinaryen(purpose = 'optimising (-O1/-O2)'): Promise<Binaryen> {
  return (await loadOptional('binaryen', purpose)).default;
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
  m.setFeatures(b.Features.SignExt | b.Features.MutableGlobals | b.Features.BulkMemory | b.Features.BulkMemoryOpt);
  const segments = (mod.data ?? []).map((d) => ({ offset: m.i32.const(d.address), data: d.bytes, passive: false }));
  m.setMemory(mod.memoryImport.initial, mod.memoryImport.maximum, null, segments, false, false, '0');
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
  // Wasm lets a nested block reuse an enclosing block's label (a branch goes to the innermost),
  // but Binaryen IR wants every label of a function unique: each label binding gets a name of its
  // own (`tailfail`, `tailfail$1`, ...) and branches resolve to the innermost binding in scope.
  let used = new Set<string>();
  const bound = new Map<string, string[]>();
  const bind = (label: string): string => {
    let name = label;
    for (let i = 1; used.has(name); i++) name = `${label}$${i}`;
    used.add(name);
    let stack = bound.get(label);
    if (!stack) bound.set(label, (stack = []));
    stack.push(name);
    return name;
  };
  const unbind = (label: string): void => {
    bound.get(label)!.pop();
  };
  const target = (label: string): string => bound.get(label)?.at(-1) ?? label;
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
      case 'block': {
        if (n.label === null) return m.block(null, n.children.map(lower), ty(n.type));
        const name = bind(n.label);
        const children = n.children.map(lower);
        unbind(n.label);
        return m.block(name, children, ty(n.type));
      }
      case 'loop': {
        const name = bind(n.label);
        const body = lower(n.body);
        unbind(n.label);
        return m.loop(name, body);
      }
      case 'if': return m.if(lower(n.cond), lower(n.then), n.else ? lower(n.else) : undefined);
      case 'select': return m.select(lower(n.cond), lower(n.a), lower(n.b));
      case 'br': return m.br(target(n.label), n.cond ? lower(n.cond) : undefined);
      case 'br_table': return m.switch(n.labels.map(target), target(n.defaultLabel), lower(n.index));
      case 'call': {
        const e = m.call(n.target, n.args.map(lower), ty(n.type));
        if (n.pc !== undefined) tagged.push([e, n.pc]);
        return e;
      }
      case 'return': return m.return(n.value ? lower(n.value) : undefined);
      case 'unreachable': return m.unreachable();
      case 'nop': return m.nop();
      case 'memory.copy': return m.memory.copy(lower(n.dst), lower(n.src), lower(n.len), '0', '0');
      case 'memory.fill': return m.memory.fill(lower(n.dst), lower(n.value), lower(n.len), '0');
      case 'memory.size': return m.memory.size('0');
    }
  };
  try {
    for (const f of mod.functions) {
      tagged = [];
      used = new Set();
      bound.clear();
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

/**
 * Runs Binaryen's validator without letting it print: binaryen.js writes the validator's report
 * to the console (stderr under Node), which a library must not do. The report is captured and
 * carried by the E_INTERNAL error instead.
 *
 * @throws InternalError (E_INTERNAL) when the module is invalid (a bpf2wasm bug).
 */
export function validateQuietly(m: BModule): void {
  let report = '';
  const valid = captureOutput((text) => { report += text; }, () => m.validate());
  if (!valid) {
    const text = report.trim().replace(/\s*\n\s*/g, ' | ');
    throw new InternalError(
      ErrorCode.Internal,
      `the generated module failed Binaryen validation (a bpf2wasm bug)${text ? `: ${text.slice(0, 2000)}` : ''}`,
    );
  }
}

/** What captureOutput needs of a Node-style process (looked up at run time: no node:* import). */
interface WritableLike { write: (...args: unknown[]) => boolean }

/**
 * Runs `fn` (synchronous Binaryen work) with console output diverted to `sink`: binaryen.js
 * binds console.log / console.error when it loads, and under Node those write to
 * process.stdout / process.stderr, which are diverted for the duration of the call; the console
 * methods are diverted too for hosts without a process.
 */
export function captureOutput<T>(sink: (text: string) => void, fn: () => T): T {
  const proc = (globalThis as { process?: { stdout?: WritableLike; stderr?: WritableLike } }).process;
  const streams = [proc?.stdout, proc?.stderr].filter((s): s is WritableLike => s !== undefined && typeof s.write === 'function');
  const saved = streams.map((s) => Object.getOwnPropertyDescriptor(s, 'write'));
  const cons = globalThis.console as unknown as Record<string, unknown>;
  const names = ['log', 'error', 'warn', 'info'] as const;
  const savedConsole = names.map((k) => cons[k]);
  const write = (chunk: unknown): boolean => {
    sink(typeof chunk === 'string' ? chunk : new TextDecoder().decode(chunk as Uint8Array));
    return true;
  };
  for (const s of streams) s.write = write;
  for (const k of names) cons[k] = (...args: unknown[]) => { sink(args.map(String).join(' ') + '\n'); };
  try {
    return fn();
  } finally {
    streams.forEach((s, i) => {
      const d = saved[i];
      if (d) Object.defineProperty(s, 'write', d);
      else delete (s as Partial<WritableLike>).write;
    });
    names.forEach((k, i) => { cons[k] = savedConsole[i]; });
  }
}
