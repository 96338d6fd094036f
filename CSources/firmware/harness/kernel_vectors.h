/* SPDX-License-Identifier: Apache-2.0 */
#ifndef CAPSNET_KERNEL_VECTORS_H
#define CAPSNET_KERNEL_VECTORS_H

#include <stdint.h>

/** Runs every kernel's test vectors and reports, per kernel group, the cases run, the kernel calls
 * that returned CAPSNET_OK (the others exercise the checks) and the digest of all their outputs. */
void kernel_vectors_run(void (*report)(const char *kernel, int32_t cases, int32_t successes, uint32_t digest));

#endif
