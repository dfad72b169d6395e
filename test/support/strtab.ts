/** Test support: the string tables of ELF (`.strtab`, `.shstrtab`) and BTF. */

/** A string table: each string once, NUL-terminated, offset 0 the empty string. */
export class StrTab {
  private readonly parts: number[] = [0];
  private readonly seen = new Map<string, number>([['', 0]]);
  add(s: string): number {
    const hit = this.seen.get(s);
    if (hit !== undefined) return hit;
    const off = this.parts.length;
    for (const b of new TextEncoder().encode(s)) this.parts.push(b);
    this.parts.push(0);
    this.seen.set(s, off);
    return off;
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}
