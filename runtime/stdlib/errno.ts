/**
 * The errno values the standard helpers return, negated, as the kernel's helpers do
 * (`include/uapi/asm-generic/errno-base.h`, `errno.h`).
 */
export const Errno = {
  ENOENT: 2,
  E2BIG: 7,
  EAGAIN: 11,
  EBUSY: 16,
  EFAULT: 14,
  EINVAL: 22,
  ENOSPC: 28,
  ERANGE: 34,
  EOPNOTSUPP: 95,
} as const;
export type Errno = (typeof Errno)[keyof typeof Errno];
