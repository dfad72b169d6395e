/**
 * Where the standalone support module keeps its state: the runtime scratch page's first half
 * [0x1000, 0x1800), which in a standalone module no JavaScript runtime uses. RESULT_ADDR (0x1000,
 * the full r0 of the last run) stays where runtime/abi.ts puts it. The linker
 * (compiler/standalone/link.ts, `STANDALONE_CONFIG`) writes the configuration words as a data
 * segment; the state words start at zero.
 *
 * Only `export const NAME: u32 = <integer literal>;` lines belong in this file: a test reads them
 * as text and checks them against compiler/standalone/layout.ts.
 */

/** Full r0 of the last run (runtime/abi.ts RESULT_ADDR). */
export const SA_RESULT: u32 = 0x1000;

// ---- configuration, written by the linker ----
/** u32: lowest address pointer arguments of helpers may reach (the map value arena). */
export const SA_FLOOR: u32 = 0x1100;
/** u32: where the host writes a run's input (bpf2wasm_input's result). */
export const SA_DATA: u32 = 0x1104;
/** u32: the memory's maximum in 64 KiB pages. */
export const SA_MAX_PAGES: u32 = 0x1108;
/** u32: key copies for bpf_for_each_map_elem callbacks: address, slot size, slots. */
export const SA_KEY_SCRATCH: u32 = 0x110c;
export const SA_KEY_SLOT: u32 = 0x1110;
export const SA_KEY_SLOTS: u32 = 0x1114;
/** u32: number of callbacks (table entries 1..n; 0 is NULL). */
export const SA_CALLBACKS: u32 = 0x1118;

// ---- state ----
/** u32: nesting depth of bpf_for_each_map_elem. */
export const SA_DEPTH: u32 = 0x111c;
/** u32: the status of the last run (STATUS_* in index.ts), its instruction and detail. */
export const SA_STATUS: u32 = 0x1120;
export const SA_STATUS_INSN: u32 = 0x1124;
export const SA_STATUS_DETAIL: u32 = 0x1128;
/** u32: address of the bpf_spin_lock held, 0 for none. */
export const SA_LOCK: u32 = 0x112c;
/** 8 bytes: random_get and clock_time_get results. */
export const SA_TMP: u32 = 0x1130;
/** WASI iovec (8 bytes) and nwritten (4 bytes) for fd_write. */
export const SA_IOV: u32 = 0x1140;
export const SA_NWRITTEN: u32 = 0x1148;
/** 3 x u64: bpf_trace_printk's arguments, as bpf_trace_vprintk's data array. */
export const SA_ARGS: u32 = 0x1150;
/** 40 bytes: digits of a number being formatted. */
export const SA_DIGITS: u32 = 0x1180;
/** 1024 bytes (MAX_BPRINTF_BUF): a trace line being formatted. */
export const SA_LINE: u32 = 0x1400;
/** End of the area. */
export const SA_END: u32 = 0x1800;
/** u32 words of the formatter's output: base address, length so far, buffer size, emitting (0/1), argument bytes used. */
export const SA_OUT_BASE: u32 = 0x1168;
export const SA_OUT_LEN: u32 = 0x116c;
export const SA_OUT_SIZE: u32 = 0x1170;
export const SA_OUT_EMIT: u32 = 0x1174;
export const SA_OUT_USED: u32 = 0x1178;
