/**
 * The errno values the kernel's helpers and map operations return, negated
 * (`include/uapi/asm-generic/errno-base.h`, `errno.h`).
 */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  E2BIG: 7,
  EAGAIN: 11,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  EINVAL: 22,
  ENOSPC: 28,
  ERANGE: 34,
  EOPNOTSUPP: 95,
} as const;

/** A value of {@link Errno}. */
export type Errno = (typeof Errno)[keyof typeof Errno];
