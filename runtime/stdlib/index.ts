/**
 * The standard eBPF helpers in JS with Linux kernel semantics, and the ring buffer and perf event
 * array consumers they feed. Pure TS: runs in browsers, workers and Node alike.
 *
 *     const rb = RingBuffer.fromDescriptor(memory, desc, 'events');
 *     const helpers = standardHelpers({ memory, env: { comm: 'demo' }, trace: console.log, ...,
 *                                       ringbufAt: (d) => (d === desc ? rb : undefined) });
 *     for await (const record of rb) handle(record);
 */
export type { HostEnv, StdlibContext } from './host.js';
export { HOST_ENV_DEFAULTS, TASK_COMM_LEN } from './host.js';
export { Errno } from '../uapi/index.js';
export { ProgramMemory } from './access.js';
export {
  createStandardHelpers,
  csumDiff,
  standardHelpers,
  BPF_MAX_LOOPS,
  STANDARD_HELPER_IDS,
  type StandardHelpers,
} from './standard.js';
export {
  formatBpf,
  prepareFormat,
  renderFormat,
  traceLine,
  MAX_BPRINTF_BIN_ARGS,
  MAX_BPRINTF_BUF,
  MAX_BPRINTF_VARARGS,
  MAX_TRACE_PRINTK_VARARGS,
  type FormatMemory,
  type FormatOutput,
  type PreparedFormat,
} from './format.js';
export { strtol, strtoul, strncmp, BPF_STRTOX_BASE_MASK } from './strings.js';
export {
  RingBuffer,
  BPF_RB_AVAIL_DATA,
  BPF_RB_CONS_POS,
  BPF_RB_FORCE_WAKEUP,
  BPF_RB_NO_WAKEUP,
  BPF_RB_PROD_POS,
  BPF_RB_RING_SIZE,
  BPF_RINGBUF_BUSY_BIT,
  BPF_RINGBUF_DISCARD_BIT,
  BPF_RINGBUF_HDR_SZ,
} from './ringbuf.js';
export { PerfEventArray, BPF_F_CURRENT_CPU, BPF_F_INDEX_MASK, type PerfEventArrayOptions } from './perf.js';
