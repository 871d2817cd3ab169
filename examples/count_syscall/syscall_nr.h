/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Syscall numbers differ between architectures and the host's <asm/unistd.h> only knows the
 * host's: pick them by the __TARGET_ARCH_* that the build defines for each target.
 */
#ifndef COUNT_SYSCALL_NR_H
#define COUNT_SYSCALL_NR_H

#if defined(__TARGET_ARCH_x86)
#define NR_openat 257
#define NR_read 0
#define NR_write 1
#elif defined(__TARGET_ARCH_arm64)
#define NR_openat 56
#define NR_read 63
#define NR_write 64
#else
#error "build with -D __TARGET_ARCH_x86 or -D __TARGET_ARCH_arm64"
#endif

#endif
