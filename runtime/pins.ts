/**
 * The runtime's stand-in for bpffs: a registry of maps pinned by name
 * (`__uint(pinning, LIBBPF_PIN_BY_NAME)`). Each module has its own linear memory, so two live
 * instances cannot share a map's memory (objects that must share maps live are compiled into one
 * module: compileObject([a, b])). What the registry gives is what pinning is mostly used for: a
 * pinned map outlives the program that created it. An instance created with `pins` takes over the
 * contents of the pinned maps of the same name (and the same definition) that an earlier instance
 * left in the registry, and becomes their holder.
 */
import { BpfRuntimeError, ErrorCode } from './errors.js';
import type { BpfMap } from './maps/api.js';
import { MapType } from './uapi/index.js';

/** Map types whose contents mean something outside their module (not program or map references, not buffers). */
const PORTABLE = new Set<number>([
  MapType.HASH, MapType.ARRAY, MapType.PERCPU_HASH, MapType.PERCPU_ARRAY, MapType.LRU_HASH,
  MapType.LRU_PERCPU_HASH, MapType.LPM_TRIE,
]);

export class PinRegistry {
  private readonly pinned = new Map<string, BpfMap>();

  /** The map pinned under `name`, as its latest holder has it. */
  get(name: string): BpfMap | undefined {
    return this.pinned.get(name);
  }

  /** The names of the pinned maps. */
  names(): string[] {
    return [...this.pinned.keys()];
  }

  /** Forgets a pinned map (as `rm` in bpffs). */
  unpin(name: string): boolean {
    return this.pinned.delete(name);
  }

  /**
   * Makes `map` the holder of its pin: copies the contents of the map pinned under its name, if
   * any, into it first. Throws E_BAD_MAP when the pinned map's definition differs (libbpf refuses
   * to reuse it too).
   */
  adopt(map: BpfMap): void {
    const old = this.pinned.get(map.name);
    if (old && old !== map) {
      const fields = ['type', 'keySize', 'valueSize', 'maxEntries', 'flags'] as const;
      const diff = fields.filter((f) => old[f] !== map[f]);
      if (diff.length > 0) {
        throw new BpfRuntimeError(
          ErrorCode.BadMap,
          `pinned map ${map.name} differs from the one in the registry (${diff.map((f) => `${f} ${map[f]} vs ${old[f]}`).join(', ')})`,
          { map: map.name },
        );
      }
      if (PORTABLE.has(map.type)) {
        for (const key of old.keysRaw()) {
          const value = old.lookupRaw(key);
          if (value !== undefined) map.updateRaw(key, value);
        }
      }
    }
    this.pinned.set(map.name, map);
  }
}
