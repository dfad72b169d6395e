/**
 * The bpf2wasm playground: compiles eBPF (assembly or a clang object) to WebAssembly in the page,
 * shows the eBPF disassembly with its C lines next to the WAT (the instruction under the cursor
 * highlighted in both), and runs a program over a packet capture with a packet list, verdicts,
 * maps decoded with BTF and the trace and ring buffer output. Uses the library's public entry
 * points (compiler and runtime) and the capture reader.
 */
import { assemble, compile, compileObject, disassemble, isBpf2WasmError, type CompiledModule, type OptLevel } from '../../compiler/index.js';
import { instantiate, type BpfInstance, type BpfMap, type BpfProgram } from '../../runtime/index.js';
import { readCaptureSync, LinkType, type CaptureFrame } from '../../runtime/capture/index.js';
import { formatValue } from '../../runtime/values.js';
import { MapType, mapTypeName, TcAction, XdpAction } from '../../runtime/uapi/index.js';
import { dissect, hexDump, type Dissection } from './dissect.js';
import { b64urlToBytes, bytesToB64url, decodeState, encodeState, type SharedState } from './share.js';
import { watView } from './wat.js';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const el = <K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};

// ---- Samples -------------------------------------------------------------------------------

const ETHERTYPE_ASM = `# A raw program: r1 points at the frame, r2 is its length.
# Returns 1 for IPv4 frames, 0 for anything else. Edit and press Run (Ctrl+Enter).
mov %r0, 0
jlt %r2, 14, out
ldxh %r3, [%r1+12]      # the EtherType, read little-endian
jne %r3, 0x0008, out    # 0x0800 in network order
mov %r0, 1
out:
exit
`;

interface Sample { label: string; url?: URL; asm?: string; file: string; checked?: boolean; noCapture?: boolean }
const SAMPLES: Sample[] = [
  { label: 'xdp_drop_icmp.o — drop pings, count them', url: new URL('../../test-programs/c/xdp_drop_icmp.o', import.meta.url), file: 'xdp_drop_icmp.o' },
  { label: 'xdp_counter.o — count packets', url: new URL('../../test-programs/c/xdp_counter.o', import.meta.url), file: 'xdp_counter.o' },
  { label: 'socket_filter.o — keep TCP to a port', url: new URL('../../test-programs/c/socket_filter.o', import.meta.url), file: 'socket_filter.o' },
  { label: 'lpm_blocklist.o — LPM trie block list', url: new URL('../../test-programs/c/lpm_blocklist.o', import.meta.url), file: 'lpm_blocklist.o' },
  { label: 'printk.o — bpf_printk per packet', url: new URL('../../test-programs/c/printk.o', import.meta.url), file: 'printk.o' },
  { label: 'ringbuf_hello.o — ring buffer events', url: new URL('../../test-programs/c/ringbuf_hello.o', import.meta.url), file: 'ringbuf_hello.o' },
  { label: 'fault.o — a fault and its C line', url: new URL('../../test-programs/c/fault.o', import.meta.url), file: 'fault.o', checked: true, noCapture: true },
  { label: 'IPv4 or not — assembly', asm: ETHERTYPE_ASM, file: 'ethertype.s' },
];
const CAPTURES: Record<string, URL> = {
  'frames.pcap': new URL('../../test-programs/captures/frames.pcap', import.meta.url),
  'frames.pcapng': new URL('../../test-programs/captures/frames.pcapng', import.meta.url),
  'frames-ns-be.pcap': new URL('../../test-programs/captures/frames-ns-be.pcap', import.meta.url),
  'frames-be.pcapng': new URL('../../test-programs/captures/frames-be.pcapng', import.meta.url),
};

// ---- State ---------------------------------------------------------------------------------

type Source = { kind: 'asm'; name: string } | { kind: 'object'; name: string; bytes: Uint8Array };
interface Compiled extends CompiledModule {
  /** The module's instructions (programs one after the other), for the disassembly. */
  bytecode: Uint8Array;
  /** Labels and C lines shown before instruction `pc`. */
  annotations: Map<number, string[]>;
}
interface Capture { name: string; frames: CaptureFrame[] }
interface FrameResult { verdict: string; cls: string; retval?: number; modified: boolean; dataOut?: Uint8Array; error?: string; dis: Dissection }

let source: Source = { kind: 'asm', name: 'ethertype.s' };
let compiled: Compiled | undefined;
let capture: Capture | undefined;
let results: FrameResult[] = [];
let compileSeq = 0;

const asmBox = $<HTMLTextAreaElement>('asm');
const status = (text: string): void => {
  $('status').textContent = text;
};

function showError(message: string | undefined, insn?: number): void {
  const box = $('error');
  box.hidden = message === undefined;
  box.textContent = message ?? '';
  document.querySelectorAll('.l.fault').forEach((e) => e.classList.remove('fault'));
  if (insn !== undefined) {
    for (const row of rowsOf(disasmRows, insn)) row.classList.add('fault');
    for (const row of rowsOf(watRows, insn)) row.classList.add('fault');
    for (const rows of [disasmRows, watRows]) {
      const row = rowsOf(rows, insn)[0];
      const pane = row?.closest<HTMLElement>('.code');
      if (row && pane) pane.scrollTop += row.getBoundingClientRect().top - pane.getBoundingClientRect().top - pane.clientHeight / 3;
    }
  }
}

/** An error as the page shows it: code, message (with the instruction and C line when known). */
function describe(e: unknown): { text: string; insn?: number } {
  if (isBpf2WasmError(e)) {
    const insn = e.location.insn;
    return { text: e.message, ...(insn !== undefined ? { insn } : {}) };
  }
  return { text: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
}

// ---- Compiling -----------------------------------------------------------------------------

/** The C line table of a module (`bpf2wasm.lines`: see runtime/source-lines.ts). */
function sourceRows(wasm: WebAssembly.Module): Array<{ pc: number; file: string; line: number; source: string }> {
  const payload = WebAssembly.Module.customSections(wasm, 'bpf2wasm.lines')[0];
  if (!payload) return [];
  try {
    const d = JSON.parse(new TextDecoder().decode(payload)) as { files: string[]; text: string[]; rows: number[] };
    const out = [];
    for (let i = 0; i + 3 < d.rows.length; i += 4) {
      out.push({ pc: d.rows[i]!, file: d.files[d.rows[i + 1]!]!, line: d.rows[i + 2]!, source: d.text[d.rows[i + 3]!]! });
    }
    return out;
  } catch {
    return [];
  }
}

async function compileSource(opt: OptLevel, checked: boolean): Promise<Compiled> {
  if (source.kind === 'asm') {
    const bytecode = assemble(asmBox.value);
    const c = await compile(bytecode, { optLevel: opt, checked, mapAllInstructions: true });
    return { ...c, bytecode, annotations: new Map() };
  }
  const c = await compileObject(source.bytes, { optLevel: opt, checked, mapAllInstructions: true });
  const bytecode = new Uint8Array(c.manifest.insnCount * 8);
  const annotations = new Map<number, string[]>();
  const add = (pc: number, text: string): void => {
    const list = annotations.get(pc) ?? [];
    list.push(text);
    annotations.set(pc, list);
  };
  for (const p of c.manifest.programs) {
    const spec = c.spec.programs.find((s) => s.name === p.name);
    if (!spec) continue;
    bytecode.set(spec.insns, p.insn * 8);
    for (const f of spec.functions) add(p.insn + f.pc, `<${f.name}>:`);
  }
  let last = '';
  for (const row of sourceRows(new WebAssembly.Module(c.wasm as BufferSource))) {
    const text = `; ${row.file.replace(/^.*\//, '')}:${row.line}: ${row.source}`;
    if (text !== last || annotations.get(row.pc)?.some((a) => a.startsWith('<'))) add(row.pc, text);
    last = text;
  }
  return { ...c, bytecode, annotations };
}

// ---- Code panes and highlighting ------------------------------------------------------------

let disasmRows = new Map<number, HTMLElement[]>();
let watRows = new Map<number, HTMLElement[]>();
const rowsOf = (m: Map<number, HTMLElement[]>, insn: number): HTMLElement[] => m.get(insn) ?? [];
let highlighted: HTMLElement[] = [];

function highlight(insn: number | readonly number[] | undefined, scrollFrom?: 'disasm' | 'wat'): void {
  for (const e of highlighted) e.classList.remove('hl', 'cur');
  highlighted = [];
  if (insn === undefined) return;
  const insns = typeof insn === 'number' ? [insn] : insn;
  const d = insns.flatMap((i) => rowsOf(disasmRows, i));
  const w = insns.flatMap((i) => rowsOf(watRows, i));
  for (const e of [...d, ...w]) e.classList.add('hl');
  highlighted = [...d, ...w];
  // The other pane follows (only when the lines are out of view).
  const follow = (e: HTMLElement | undefined): void => {
    const pane = e?.closest<HTMLElement>('.code');
    if (!e || !pane) return;
    const r = e.getBoundingClientRect();
    const p = pane.getBoundingClientRect();
    if (r.top < p.top || r.bottom > p.bottom) pane.scrollTop += r.top - p.top - pane.clientHeight / 3;
  };
  if (scrollFrom === 'disasm') follow(w[0]);
  if (scrollFrom === 'wat') follow(d[0]);
}

function wireHover(pane: HTMLElement, from: 'disasm' | 'wat'): void {
  pane.addEventListener('mouseover', (ev) => {
    const target = ev.target as HTMLElement;
    const line = target.closest<HTMLElement>('.l.src[data-insns]');
    if (line) {
      // A C line: every instruction it covers, in both panes.
      highlight(line.dataset.insns!.split(',').map(Number), from);
      line.classList.add('hl', 'cur');
      highlighted.push(line);
      return;
    }
    const row = target.closest<HTMLElement>('.l[data-insn]');
    highlight(row ? Number(row.dataset.insn) : undefined, from);
    row?.classList.add('cur');
  });
  pane.addEventListener('click', (ev) => {
    const row = (ev.target as HTMLElement).closest<HTMLElement>('.l[data-insn]');
    if (row) highlight(Number(row.dataset.insn), from);
    row?.classList.add('cur');
  });
  pane.addEventListener('mouseleave', () => highlight(undefined));
}

function renderDisasm(c: Compiled): void {
  const pane = $('disasm');
  pane.replaceChildren();
  disasmRows = new Map();
  // The public disassembler with addresses; annotations (labels, C lines) come before their pc.
  const text = disassemble(c.bytecode, { syntax: 'llvm', addresses: true, annotate: (pc) => c.annotations.get(pc) });
  const frag = document.createDocumentFragment();
  let cLine: { row: HTMLElement; insns: number[] } | undefined;
  const closeCLine = (): void => {
    if (cLine && cLine.insns.length > 0) cLine.row.dataset.insns = cLine.insns.join(',');
    cLine = undefined;
  };
  for (const line of text.replace(/\n$/, '').split('\n')) {
    const m = /^\s*(\d+):\t(.*)$/.exec(line);
    if (!m) {
      closeCLine();
      const row = el('div', line.startsWith('<') ? 'l label' : 'l src', line);
      if (!line.startsWith('<')) cLine = { row, insns: [] };
      frag.append(row);
      continue;
    }
    const pc = Number(m[1]);
    cLine?.insns.push(pc);
    const row = el('div', 'l');
    row.dataset.insn = String(pc);
    row.append(el('span', 'addr', `${m[1]!.padStart(4)}:  `), m[2]!);
    const list = disasmRows.get(pc) ?? [];
    list.push(row);
    disasmRows.set(pc, list);
    frag.append(row);
  }
  closeCLine();
  pane.append(frag);
  pane.scrollTop = 0;
}

async function renderWat(c: Compiled, seq: number): Promise<void> {
  const pane = $('wat');
  watRows = new Map();
  pane.replaceChildren(el('div', 'placeholder', 'Loading the WAT printer (wabt)…'));
  $('wat-info').textContent = `${(c.wasm.length / 1024).toFixed(1)} KiB module`;
  try {
    const view = await watView(c.wasm);
    if (seq !== compileSeq) return;
    const frag = document.createDocumentFragment();
    view.lines.forEach((line, i) => {
      const row = el('div', 'l', line);
      const insn = view.insnOfLine[i]!;
      if (insn >= 0) {
        row.dataset.insn = String(insn);
        const list = watRows.get(insn) ?? [];
        list.push(row);
        watRows.set(insn, list);
      } else if (!/^\s*\(func|^\s*\(local/.test(line)) {
        row.classList.add('wat-dim');
      }
      frag.append(row);
    });
    pane.replaceChildren(frag);
    pane.scrollTop = 0;
  } catch (e) {
    if (seq === compileSeq) pane.replaceChildren(el('div', 'placeholder', `The WAT printer did not load: ${describe(e).text}`));
  }
}

async function recompile(): Promise<void> {
  const seq = ++compileSeq;
  const opt = Number($<HTMLSelectElement>('opt').value) as OptLevel;
  status(opt > 0 ? `compiling at -O${opt} (loading Binaryen on first use)…` : 'compiling…');
  delete $('status').dataset.compiled;
  showError(undefined);
  const t0 = performance.now();
  try {
    const c = await compileSource(opt, $<HTMLInputElement>('checked').checked);
    if (seq !== compileSeq) return;
    compiled = c;
    const ms = performance.now() - t0;
    renderDisasm(c);
    if (source.kind === 'object') describeObject(c);
    const progSel = $<HTMLSelectElement>('program');
    const wanted = progSel.dataset.want ?? progSel.value;
    progSel.replaceChildren(...c.manifest.programs.map((p) => {
      const o = el('option', undefined, `${p.name} (${p.type})`);
      o.value = p.name;
      return o;
    }));
    if (c.manifest.programs.some((p) => p.name === wanted)) progSel.value = wanted;
    delete progSel.dataset.want;
    status(`compiled ${c.manifest.insnCount} instructions at -O${opt} in ${ms.toFixed(1)} ms → ${c.wasm.length} bytes of Wasm`);
    await renderWat(c, seq);
    if (seq === compileSeq) await run();
    if (seq === compileSeq) {
      $('status').dataset.compiled = `-O${opt}${c.manifest.checked ? ' checked' : ''}`;
      $('status').dataset.compileMs = ms.toFixed(1);
    }
  } catch (e) {
    if (seq !== compileSeq) return;
    compiled = undefined;
    const d = describe(e);
    showError(d.text);
    status('compile failed');
    $('disasm').replaceChildren(el('div', 'placeholder', 'No disassembly: the program did not compile.'));
    $('wat').replaceChildren();
    $('wat-info').textContent = 'WAT';
    // Nothing ran: no stale results of the previous program.
    results = [];
    renderPackets();
    $('maps').replaceChildren();
    $('output').replaceChildren();
  }
}

// ---- Running -------------------------------------------------------------------------------

const XDP_NAMES = Object.fromEntries(Object.entries(XdpAction).map(([k, v]) => [v, `XDP_${k}`]));
const TC_NAMES = Object.fromEntries(Object.entries(TcAction).map(([k, v]) => [v, `TC_ACT_${k}`]));

/** A verdict as the program type means it, and its class for colouring. */
function verdictOf(p: BpfProgram, retval: number): { verdict: string; cls: string } {
  if (p.type === 'xdp') {
    const name = XDP_NAMES[retval] ?? `XDP ${retval}`;
    return { verdict: name, cls: retval === XdpAction.PASS ? 'v-pass' : retval === XdpAction.DROP || retval === XdpAction.ABORTED ? 'v-drop' : 'v-other' };
  }
  if (p.context === '__sk_buff' && p.type !== 'socket') {
    const r = retval | 0;
    const name = TC_NAMES[r] ?? `TC ${r}`;
    return { verdict: name, cls: r === TcAction.SHOT ? 'v-drop' : r === TcAction.OK || r === TcAction.UNSPEC ? 'v-pass' : 'v-other' };
  }
  if (p.type === 'socket') return retval === 0 ? { verdict: 'drop', cls: 'v-drop' } : { verdict: 'keep', cls: 'v-pass' };
  return { verdict: `r0 = ${retval}`, cls: retval === 0 ? 'v-drop' : 'v-pass' };
}

const equalBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
const hexBytes = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');

async function run(): Promise<void> {
  if (!compiled) return;
  const name = $<HTMLSelectElement>('program').value;
  const output: Array<{ text: string; cls?: string }> = [];
  let frameIndex = -1;
  const tag = (): string => (frameIndex >= 0 ? `#${frameIndex + 1} ` : '');
  let inst: BpfInstance;
  try {
    const isObject = source.kind === 'object';
    inst = await instantiate(compiled.wasm, isObject ? { trace: (line: string) => output.push({ text: `${tag()}${line}` }) } : {});
  } catch (e) {
    const d = describe(e);
    showError(d.text, d.insn);
    return;
  }
  const prog = inst.program(name);
  const buffers: Array<{ consume(): number }> = [];
  for (const m of inst.maps.values()) {
    if (m.type === MapType.RINGBUF) {
      const rb = inst.ringbuf(m.name);
      rb.onRecord((d) => output.push({ text: `${tag()}ringbuf ${m.name}: ${hexBytes(d)}`, cls: 'rb' }));
      buffers.push(rb);
    } else if (m.type === MapType.PERF_EVENT_ARRAY) {
      const pb = inst.perfbuf(m.name);
      pb.onRecord((d, cpu) => output.push({ text: `${tag()}perf ${m.name} cpu ${cpu}: ${hexBytes(d)}`, cls: 'rb' }));
      buffers.push(pb);
    }
  }
  // Packet programs get each frame as BPF_PROG_TEST_RUN would; a raw program gets the frame at r1.
  // Without a capture ("none"), any program runs once on a zeroed context.
  const isPacket = capture !== undefined && (prog.context === 'xdp_md' || prog.context === '__sk_buff' || prog.type === 'raw');
  results = [];
  let firstFault: { text: string; insn?: number } | undefined;
  const t0 = performance.now();
  const frames = isPacket ? capture?.frames ?? [] : [];
  for (const f of frames) {
    frameIndex = f.index;
    const dis = f.interface.linkType === LinkType.ETHERNET ? dissect(f.data)
      : { protocol: 'link', source: '', destination: '', info: `link type ${f.interface.linkType}`, layers: [] };
    try {
      const r = prog.test({ dataIn: f.data });
      const v = verdictOf(prog, r.retval);
      results.push({ ...v, retval: r.retval, modified: !equalBytes(r.dataOut, f.data), dataOut: r.dataOut, dis });
    } catch (e) {
      const d = describe(e);
      if (isBpf2WasmError(e) && e.code === 'E_TEST_RUN') {
        // An input BPF_PROG_TEST_RUN itself refuses (a runt, a frame too long): not the program's fault.
        results.push({ verdict: 'refused by test run', cls: 'v-other', modified: false, error: d.text, dis });
      } else {
        firstFault ??= d;
        results.push({ verdict: isBpf2WasmError(e) ? e.code : 'error', cls: 'v-drop', modified: false, error: d.text, dis });
      }
    }
    for (const b of buffers) b.consume();
  }
  if (!isPacket) {
    // Not a packet program (kprobe, tracepoint, ...), or no capture: one run on a zeroed
    // 256-byte context (r1 points at it), as `bpf2wasm run` does without --packet.
    frameIndex = -1;
    const why = capture ? `${prog.name} is a ${prog.type} program, not a packet program` : 'no capture';
    try {
      const r0 = prog.run(new Uint8Array(256));
      output.unshift({ text: `${why}: ran once on a zeroed 256-byte context, r0 = ${r0}` });
    } catch (e) {
      firstFault = describe(e);
    }
    for (const b of buffers) b.consume();
  }
  const ms = performance.now() - t0;
  renderPackets();
  if (results.length > 0) showDetail(Math.max(0, results.findIndex((r) => r.cls !== 'v-pass')));
  renderMaps(inst);
  const out = $('output');
  out.replaceChildren(...output.map((o) => el('div', o.cls, o.text)));
  if (output.length === 0) out.append(el('span', 'hint', 'No trace output or ring buffer events.'));
  showError(firstFault ? `${firstFault.text}` : undefined, firstFault?.insn);
  status(frames.length > 0 ? `ran ${prog.name} on ${frames.length} frames of ${capture?.name} in ${ms.toFixed(1)} ms` : `ran ${prog.name}`);
}

function renderPackets(): void {
  const body = $('packets').querySelector('tbody')!;
  body.replaceChildren();
  const counts = new Map<string, { n: number; cls: string }>();
  const frag = document.createDocumentFragment();
  results.forEach((r, i) => {
    const f = capture!.frames[i]!;
    const c = counts.get(r.verdict) ?? { n: 0, cls: r.cls };
    c.n++;
    counts.set(r.verdict, c);
    const tr = el('tr', `${r.cls}${r.error && r.cls === 'v-drop' ? ' v-fault' : ''}`);
    tr.dataset.index = String(i);
    const verdict = el('td', undefined, r.verdict);
    if (r.modified) verdict.append(el('span', 'mod', 'MODIFIED'));
    tr.append(el('td', undefined, String(f.index + 1)), el('td', undefined, String(f.data.length)), el('td', undefined, r.dis.source),
      el('td', undefined, r.dis.destination), el('td', undefined, r.dis.protocol), el('td', undefined, r.dis.info), verdict);
    frag.append(tr);
  });
  body.append(frag);
  const chips = $('verdicts');
  chips.replaceChildren(...[...counts].map(([v, c]) => {
    const chip = el('span', `chip ${c.cls}`, `${v}: ${c.n}`);
    chip.dataset.verdict = v;
    chip.dataset.count = String(c.n);
    return chip;
  }));
  $('detail').replaceChildren(el('p', 'hint', results.length ? 'Select a packet.' : 'No packets ran (pick a capture, or this is not a packet program).'));
}

function showDetail(i: number): void {
  const r = results[i];
  const f = capture?.frames[i];
  if (!r || !f) return;
  document.querySelectorAll('#packets tr.sel').forEach((e) => e.classList.remove('sel'));
  document.querySelector(`#packets tr[data-index="${i}"]`)?.classList.add('sel');
  const box = $('detail');
  box.replaceChildren();
  const head = el('div', 'verdict-line');
  head.append(`Frame ${f.index + 1}: ${f.data.length} bytes captured (${f.originalLength} on the wire) → `, el('span', r.cls, r.verdict));
  if (r.retval !== undefined) head.append(` (retval ${r.retval})`);
  if (r.modified) head.append(el('span', 'mod', 'MODIFIED'));
  box.append(head);
  if (r.error) box.append(el('pre', undefined, r.error));
  for (const layer of r.dis.layers) {
    const d = el('details');
    d.open = true;
    d.append(el('summary', undefined, layer.title));
    const ul = el('ul');
    for (const field of layer.fields) ul.append(el('li', undefined, field));
    d.append(ul);
    box.append(d);
  }
  box.append(el('div', 'hint', 'Bytes'), el('pre', undefined, hexDump(f.data)));
  if (r.modified && r.dataOut) box.append(el('div', 'hint', 'Bytes after the program'), el('pre', undefined, hexDump(r.dataOut)));
}

/** Maps as `bpftool map dump` shows them, values decoded with the object's BTF. */
function renderMaps(inst: BpfInstance): void {
  const box = $('maps');
  box.replaceChildren();
  const fmt = (type: BpfMap['keyType'], v: unknown): string => {
    if (type && Array.isArray(v) && type.kind !== 'array') return `[${v.map((x) => formatValue(type, x)).join(', ')}]`;
    if (type) return formatValue(type, v);
    if (v instanceof Uint8Array) return hexBytes(v);
    return String(v);
  };
  let any = false;
  for (const m of inst.maps.values()) {
    if (m.type === MapType.RINGBUF || m.type === MapType.PERF_EVENT_ARRAY) continue;
    if (m.name.startsWith('.rodata.str')) continue;
    any = true;
    const div = el('div', 'map');
    div.dataset.map = m.name;
    const title = el('div', 'map-title', m.name);
    const table = el('table');
    const rows: Array<[string, string]> = [];
    let note = '';
    if (m.type === MapType.BLOOM_FILTER) note = 'bloom filter: answers membership queries only';
    else if (m.type === MapType.QUEUE || m.type === MapType.STACK) for (const v of m.elements().slice(0, 100)) rows.push(['', fmt(m.valueType, v)]);
    else {
      for (const [k, v] of m.entries()) {
        if (rows.length >= 100) break;
        rows.push([fmt(m.keyType, k), fmt(m.valueType, v)]);
      }
    }
    title.append(el('small', undefined, ` ${note || `${rows.length}${rows.length >= 100 ? '+' : ''} entr${rows.length === 1 ? 'y' : 'ies'}`}`));
    for (const [k, v] of rows) {
      const tr = el('tr');
      tr.append(el('td', undefined, k), el('td', undefined, v));
      table.append(tr);
    }
    div.append(title, table);
    box.append(div);
  }
  if (!any) box.append(el('p', 'hint', source.kind === 'asm' ? 'Assembly programs have no maps.' : 'This object has no maps.'));
}

// ---- Inputs --------------------------------------------------------------------------------

function setObject(name: string, bytes: Uint8Array): void {
  source = { kind: 'object', name, bytes };
  asmBox.hidden = true;
  const info = $('object-info');
  info.hidden = false;
  info.replaceChildren(el('strong', undefined, name));
  const dl = el('dl');
  dl.append(el('dt', undefined, 'size'), el('dd', undefined, `${bytes.length} bytes`));
  info.append(dl, el('p', 'hint', 'A clang -target bpf object: every SEC() program compiles, with its maps and global data. Open or drop another .o, or an assembly file, to replace it.'));
  $('source-info').textContent = 'ELF object';
}

/** The object's programs, maps and license, from the module's manifest. */
function describeObject(c: Compiled): void {
  const info = $('object-info');
  info.querySelector('.parts')?.remove();
  const parts = el('div', 'parts');
  const progs = el('table');
  progs.append(...c.manifest.programs.map((p) => {
    const tr = el('tr');
    tr.append(el('td', undefined, p.name), el('td', undefined, `SEC("${p.section ?? p.type}")`), el('td', undefined, `insn ${p.insn}`));
    return tr;
  }));
  parts.append(el('h3', undefined, 'Programs'), progs);
  const maps = (c.manifest.maps ?? []).filter((m) => !m.name.startsWith('.rodata.str'));
  if (maps.length > 0) {
    const t = el('table');
    t.append(...maps.map((m) => {
      const tr = el('tr');
      tr.append(el('td', undefined, m.name), el('td', undefined, mapTypeName(m.type).toLowerCase()),
        el('td', undefined, `${m.keySize}→${m.valueSize} B × ${m.maxEntries}`));
      return tr;
    }));
    parts.append(el('h3', undefined, 'Maps'), t);
  }
  if (c.manifest.license) parts.append(el('p', 'hint', `License: ${c.manifest.license}`));
  info.append(parts);
}

function setAsm(name: string, text: string): void {
  source = { kind: 'asm', name };
  asmBox.hidden = false;
  asmBox.value = text;
  $('object-info').hidden = true;
  $('source-info').textContent = 'assembly (conformance syntax)';
}

const isElf = (b: Uint8Array): boolean => b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46;
const isCapture = (b: Uint8Array): boolean => {
  const m = new DataView(b.buffer, b.byteOffset, Math.min(4, b.length)).getUint32(0, true);
  return [0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1, 0xa1b2cd34, 0x34cdb2a1, 0x0a0d0d0a].includes(m);
};

async function openFile(file: File): Promise<void> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  if (bytes.length >= 4 && isCapture(bytes)) {
    await setCapture(file.name, bytes);
    return;
  }
  if (isElf(bytes)) setObject(file.name, bytes);
  else setAsm(file.name, new TextDecoder().decode(bytes));
  $<HTMLSelectElement>('sample').value = '';
  await recompile();
}

async function setCapture(name: string, bytes: Uint8Array): Promise<void> {
  try {
    capture = { name, frames: [...readCaptureSync(bytes)] };
  } catch (e) {
    capture = undefined;
    showError(`${name}: ${describe(e).text}`);
    return;
  }
  const sel = $<HTMLSelectElement>('capture');
  if (!CAPTURES[name]) {
    let o = Array.from(sel.options).find((x) => x.value === name);
    if (!o) sel.append((o = el('option', undefined, `${name} (opened)`)));
    o.value = name;
  }
  sel.value = name;
  await run();
}

async function loadSample(index: number): Promise<void> {
  const s = SAMPLES[index];
  if (!s) return;
  $<HTMLInputElement>('checked').checked = s.checked === true;
  if (s.noCapture) {
    capture = undefined;
    $<HTMLSelectElement>('capture').value = '';
  }
  if (s.asm !== undefined) setAsm(s.file, s.asm);
  else setObject(s.file, new Uint8Array(await (await fetch(s.url!)).arrayBuffer()));
  await recompile();
}

async function loadCapture(name: string): Promise<void> {
  const url = CAPTURES[name];
  if (url) {
    await setCapture(name, new Uint8Array(await (await fetch(url)).arrayBuffer()));
  } else if (name === '') {
    capture = undefined;
    await run();
  }
}

// ---- Share links ---------------------------------------------------------------------------

async function share(): Promise<void> {
  const state: SharedState = {
    program: $<HTMLSelectElement>('program').value,
    opt: Number($<HTMLSelectElement>('opt').value),
    checked: $<HTMLInputElement>('checked').checked,
    // A sample capture by name, '' for none; an opened capture is not in the link (the default one is used).
    ...(capture === undefined ? { capture: '' } : CAPTURES[capture.name] ? { capture: capture.name } : {}),
    ...(source.kind === 'asm' ? { asm: asmBox.value } : { object: bytesToB64url(source.bytes), name: source.name }),
  };
  const hash = await encodeState(state);
  history.replaceState(null, '', `#${hash}`);
  const link = location.href;
  try {
    await navigator.clipboard.writeText(link);
    status(`link copied (${link.length} characters)`);
  } catch {
    status(`link in the address bar (${link.length} characters)`);
  }
}

async function restore(): Promise<boolean> {
  let state: SharedState | undefined;
  try {
    state = await decodeState(location.hash);
  } catch (e) {
    showError(`The shared link is damaged: ${describe(e).text}`);
    return false;
  }
  if (!state) return false;
  if (state.opt !== undefined) $<HTMLSelectElement>('opt').value = String(state.opt);
  $<HTMLInputElement>('checked').checked = state.checked === true;
  if (state.program) $<HTMLSelectElement>('program').dataset.want = state.program;
  if (state.capture === '') {
    capture = undefined;
    $<HTMLSelectElement>('capture').value = '';
  } else {
    await loadCaptureQuiet(state.capture && CAPTURES[state.capture] ? state.capture : 'frames.pcap');
  }
  if (state.object) setObject(state.name ?? 'shared.o', b64urlToBytes(state.object));
  else setAsm('shared.s', state.asm ?? '');
  $<HTMLSelectElement>('sample').value = '';
  await recompile();
  return true;
}

// ---- Wiring --------------------------------------------------------------------------------

function init(): void {
  const sampleSel = $<HTMLSelectElement>('sample');
  sampleSel.append(el('option', undefined, '—'));
  sampleSel.options[0]!.value = '';
  SAMPLES.forEach((s, i) => {
    const o = el('option', undefined, s.label);
    o.value = String(i);
    sampleSel.append(o);
  });
  const capSel = $<HTMLSelectElement>('capture');
  const none = el('option', undefined, 'none: one run, zeroed context');
  none.value = '';
  capSel.append(none);
  for (const name of Object.keys(CAPTURES)) {
    const o = el('option', undefined, name);
    o.value = name;
    capSel.append(o);
  }
  sampleSel.addEventListener('change', () => void loadSample(Number(sampleSel.value)));
  capSel.addEventListener('change', () => void loadCapture(capSel.value));
  $('program').addEventListener('change', () => void run());
  $('opt').addEventListener('change', () => void recompile());
  $('checked').addEventListener('change', () => void recompile());
  $('run').addEventListener('click', () => void (source.kind === 'asm' ? recompile() : run()));
  $('share').addEventListener('click', () => void share());
  $('open').addEventListener('click', () => $('file').click());
  $('open-capture').addEventListener('click', () => $('capture-file').click());
  $<HTMLInputElement>('file').addEventListener('change', (ev) => {
    const f = (ev.target as HTMLInputElement).files?.[0];
    if (f) void openFile(f);
  });
  $<HTMLInputElement>('capture-file').addEventListener('change', (ev) => {
    const f = (ev.target as HTMLInputElement).files?.[0];
    if (f) void f.arrayBuffer().then((b) => setCapture(f.name, new Uint8Array(b)));
  });
  let debounce: ReturnType<typeof setTimeout> | undefined;
  asmBox.addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => void recompile(), 400);
  });
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      $('run').click();
    }
  });
  $('packets').addEventListener('click', (ev) => {
    const tr = (ev.target as HTMLElement).closest<HTMLElement>('tr[data-index]');
    if (tr) showDetail(Number(tr.dataset.index));
  });
  wireHover($('disasm'), 'disasm');
  wireHover($('wat'), 'wat');
  // Drag and drop anywhere: objects, assembly, captures (several files at once).
  const overlay = $('drop-overlay');
  let depth = 0;
  document.addEventListener('dragenter', (ev) => {
    ev.preventDefault();
    depth++;
    overlay.hidden = false;
  });
  document.addEventListener('dragleave', () => {
    if (--depth <= 0) overlay.hidden = true;
  });
  document.addEventListener('dragover', (ev) => ev.preventDefault());
  document.addEventListener('drop', (ev) => {
    ev.preventDefault();
    depth = 0;
    overlay.hidden = true;
    const files = Array.from(ev.dataTransfer?.files ?? []);
    void (async () => {
      // Programs first, so that the capture runs on the new program.
      const sorted = await Promise.all(files.map(async (f) => ({ f, cap: isCapture(new Uint8Array(await f.slice(0, 4).arrayBuffer())) })));
      for (const { f } of sorted.filter((x) => !x.cap)) await openFile(f);
      for (const { f } of sorted.filter((x) => x.cap)) await openFile(f);
    })();
  });
  window.addEventListener('hashchange', () => void restore());
  if ('serviceWorker' in navigator && location.protocol !== 'file:' && !import.meta.url.includes('/src/')) {
    void navigator.serviceWorker.register('./sw.js').catch(() => undefined);
  }
  void (async () => {
    if (!(await restore())) {
      await loadCaptureQuiet('frames.pcap');
      sampleSel.value = '0';
      await loadSample(0);
    }
    document.body.dataset.ready = 'true';
  })();
}

async function loadCaptureQuiet(name: string): Promise<void> {
  const url = CAPTURES[name]!;
  capture = { name, frames: [...readCaptureSync(new Uint8Array(await (await fetch(url)).arrayBuffer()))] };
  $<HTMLSelectElement>('capture').value = name;
}

init();
