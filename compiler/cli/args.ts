/**
 * The command line's arguments: the usage text, parsing argv into {@link Parsed}, and the compile
 * options they ask for.
 */
import type { AsmSyntax } from '../asm/disasm.js';
import { DEFAULT_OPT_LEVEL, type CompileOptions, type OptLevel } from '../compile.js';
import type { EngineKind } from '../load.js';

export const USAGE = `usage:
  bpf2wasm compile IN -o OUT.wasm [--wat] [--manifest OUT.json] [-O0|-O1|-O2]
                   [--checked] [--budget N] [--validate] [--program NAME] [--btf FILE] [--kconfig FILE]
  bpf2wasm run IN [--mem FILE] [--packet FILE [--skb-data mac|network]] [--repeat N]
               [--json] [-O0|-O1|-O2] [--engine compiled|interpreter] [--checked] [--budget N|--no-budget]
               [--validate] [--program NAME] [--net NET.json] [--btf FILE] [--kconfig FILE]
  bpf2wasm run OBJ|FILTER.txt --pcap IN [--program NAME] [--out OUT.pcap] [--keep V,...]
               [--skb-data mac|network] [--json] [--repeat R] [--net NET.json]
  bpf2wasm inspect OBJ [--json]
  bpf2wasm disasm IN [--syntax llvm|conformance] [--program NAME] [--no-source]
  bpf2wasm gen types OBJ [-o OUT.ts] [--name NAME]   (TypeScript types of an object)

  -O0|-O1|-O2   -O0 (default): the compiler's own lowering, no Binaryen; -O1/-O2
                add Binaryen's passes (loaded on demand, ~1 s), see README "Levels"
  --checked     confine every memory access to map values, the stack and the input
  --budget N    stop a run after about N instructions (E_BUDGET); run defaults
                to 10^9 so that no program hangs the command, --no-budget lifts it
  --validate    run the kernel-style structural checks before compiling
  --standalone  compile into a module that needs no JavaScript: maps and host-free
                helpers inside, only WASI imports (README "Standalone modules");
                --manifest then writes its description (JSON)
  --engine      compiled (default) or interpreter
  --skb-data    where a socket filter's packet starts: mac (default: the Ethernet
                header, as an AF_PACKET SOCK_RAW socket such as tcpdump's) or
                network (the network header, as the kernel's BPF_PROG_TEST_RUN)
  --pcap IN     run a packet program (or a classic filter: tcpdump -dd / -ddd
                output) over every frame of a pcap or pcapng capture, as the kernel's
                test run runs each; prints the verdict table, trace, records, maps
  --out FILE    with --pcap: write the kept frames, as the program left them, to a
                pcap file (socket and classic filters: cut to the bytes returned)
  --keep V,...  the verdicts --out keeps: XDP aborted,drop,pass,tx,redirect
                (default pass,tx); tc ok,shot,redirect,... (default ok,unspec,pipe);
                socket and classic filters keep (default) or drop
  --repeat R    with --pcap: run the whole capture R more times through the batch
                path and report the median ns per frame
  --net FILE    run of an object: the host network its packet helpers see, as JSON
                {"interfaces": [{"ifindex", "mac", "mtu", "addresses"}], "routes":
                [{"prefix", "via", "ifindex", "type", "metric", "table", "mtu", "src"}],
                "neighbours": [{"ip", "mac", "ifindex", "state"}]} (bpf_fib_lookup,
                bpf_redirect_neigh); without it: the loopback device only, no routes
  --btf FILE    an object's CO-RE relocations on types the runtime does not
                present (struct task_struct, ...) resolve against this raw BTF
                (e.g. /sys/kernel/btf/vmlinux), as libbpf resolves them
  --kconfig FILE  values of an object's __kconfig CONFIG_* externs, in the kernel
                config format (CONFIG_X=y lines, as /proc/config.gz, gzipped or not)
  --no-source   disasm of an object: leave out the C source lines (from .BTF.ext)
                and function labels it shows between the instructions by default

IN is raw eBPF bytecode (8-byte instructions), assembly text in the conformance
syntax, a conformance .data file (its -- mem is used by run), or an ELF object
from clang -target bpf. An object compiles whole: every program of its SEC()
sections (or --program NAME only, for compile), its maps in linear memory, global
data, tail calls. run OBJ --program NAME runs one program (the first by default)
with r1 pointing at --mem FILE (a context; 256 zero bytes by default) or, with
--packet FILE, at an xdp_md / __sk_buff built for the packet as BPF_PROG_TEST_RUN
builds it (frames shorter than an Ethernet header are refused); it prints r0, the
trace output, ring and perf buffer records and every map's contents.
--symbol NAME compiles a bare function of the object instead (an object with a
main function runs main), as raw bytecode without maps.
`;

/** A command line that cannot be run as given (exit status 2). */
export class UsageError extends Error {}

/** The parsed command line. */
export interface Parsed {
  command: string;
  input?: string;
  out?: string;
  wat: boolean;
  manifest?: string;
  opt: OptLevel;
  mem?: string;
  packet?: string;
  pcap?: string;
  pcapOut?: string;
  keep?: string[];
  skbData: 'mac' | 'network';
  repeat: number;
  json: boolean;
  syntax: AsmSyntax;
  symbol?: string;
  program?: string;
  help: boolean;
  engine: EngineKind;
  checked: boolean;
  budget?: number;
  noBudget: boolean;
  validate: boolean;
  noSource: boolean;
  /** --net FILE: host network state (JSON) for an object's packet helpers. */
  net?: string;
  standalone: boolean;
  /** --btf FILE: a raw BTF blob extending the CO-RE target (an object's compile or run). */
  btf?: string;
  /** The bytes of --btf FILE, once read (main.ts). */
  btfBytes?: Uint8Array;
  /** --kconfig FILE: kernel config text for an object's `__kconfig` externs. */
  kconfig?: string;
  /** The values of --kconfig FILE, once read (main.ts). */
  kconfigValues?: Record<string, string>;
}

/** Parses argv (without the node and script paths); throws UsageError for a bad one. */
export function parseArgs(argv: string[]): Parsed {
  const first = argv[0] ?? '';
  const p: Parsed = {
    command: first.startsWith('-') ? '' : first, wat: false, opt: DEFAULT_OPT_LEVEL, skbData: 'mac', repeat: 0, json: false, syntax: 'llvm', help: false,
    engine: 'compiled', checked: false, validate: false, noBudget: false, noSource: false, standalone: false,
  };
  const need = (i: number, flag: string): string => {
    const v = argv[i];
    if (v === undefined) throw new UsageError(`${flag} needs a value`);
    return v;
  };
  for (let i = p.command === '' ? 0 : 1; i < argv.length; i++) {
    const a = argv[i]!;
    switch (a) {
      case '-o': p.out = need(++i, a); break;
      case '--wat': p.wat = true; break;
      case '--manifest': p.manifest = need(++i, a); break;
      case '-O0': p.opt = 0; break;
      case '-O1': p.opt = 1; break;
      case '-O2': p.opt = 2; break;
      case '--mem': p.mem = need(++i, a); break;
      case '--packet': p.packet = need(++i, a); break;
      case '--pcap': p.pcap = need(++i, a); break;
      case '--out': p.pcapOut = need(++i, a); break;
      case '--keep': {
        const v = need(++i, a);
        const names = v.split(',').map((x) => x.trim().toLowerCase()).filter((x) => x !== '');
        if (names.length === 0) throw new UsageError('--keep needs verdict names (e.g. pass,tx)');
        p.keep = names;
        break;
      }
      case '--skb-data': {
        const v = need(++i, a);
        if (v !== 'mac' && v !== 'network') throw new UsageError(`--skb-data is mac or network, not ${v}`);
        p.skbData = v;
        break;
      }
      case '--json': p.json = true; break;
      case '--symbol': p.symbol = need(++i, a); break;
      case '--program': p.program = need(++i, a); break;
      case '--net': p.net = need(++i, a); break;
      case '--btf': p.btf = need(++i, a); break;
      case '--kconfig': p.kconfig = need(++i, a); break;
      case '--checked': p.checked = true; break;
      case '--validate': p.validate = true; break;
      case '--engine': {
        const v = need(++i, a);
        if (v !== 'compiled' && v !== 'interpreter') throw new UsageError(`--engine is compiled or interpreter, not ${v}`);
        p.engine = v;
        break;
      }
      case '--no-budget': p.noBudget = true; break;
      case '--no-source': p.noSource = true; break;
      case '--standalone': p.standalone = true; break;
      case '--budget': {
        const v = need(++i, a);
        const n = Number(v);
        if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`--budget takes a whole number of instructions, not ${v}`);
        p.budget = n;
        break;
      }
      case '--repeat': {
        const v = need(++i, a);
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1 || n > 1e9) throw new UsageError(`--repeat takes a whole number from 1 to 10^9, not ${v}`);
        p.repeat = n;
        break;
      }
      case '--syntax': {
        const v = need(++i, a);
        if (v !== 'llvm' && v !== 'conformance') throw new UsageError(`--syntax is llvm or conformance, not ${v}`);
        p.syntax = v;
        break;
      }
      case '-h':
      case '--help':
        p.help = true;
        break;
      default:
        if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`);
        if (p.input !== undefined) throw new UsageError(`unexpected argument ${a}`);
        p.input = a;
    }
  }
  return p;
}

/** The instruction budget `run` applies unless told otherwise: about a second of work. */
export const DEFAULT_RUN_BUDGET = 1_000_000_000;

/** The compile options the command line asks for (`run` gets {@link DEFAULT_RUN_BUDGET} unless told otherwise). */
export function compileOptions(p: Parsed): CompileOptions & { btf?: Uint8Array; kconfig?: Record<string, string> } {
  const budget = p.budget ?? (p.command === 'run' && !p.noBudget ? DEFAULT_RUN_BUDGET : undefined);
  return {
    optLevel: p.opt,
    ...(p.btfBytes ? { btf: p.btfBytes } : {}),
    ...(p.kconfigValues ? { kconfig: p.kconfigValues } : {}),
    ...(p.checked ? { checked: true } : {}),
    ...(budget !== undefined ? { budget } : {}),
    ...(p.validate ? { validate: true } : {}),
  };
}
