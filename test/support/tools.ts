/**
 * Test support: whether an external tool the reference tests compare with (tcpdump, bpftool,
 * llvm-mc, ...) can run here. Tests that need one say so and skip where it cannot.
 */
import { execFileSync } from 'node:child_process';

/** True when `command args` runs and exits 0. */
export function canRun(command: string, args: readonly string[] = ['--version']): boolean {
  try {
    execFileSync(command, args, { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}
