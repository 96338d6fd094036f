/* SPDX-License-Identifier: Apache-2.0 */
/* Kernel test vectors on the host: the lines every target must print too. */
#include <stdio.h>

#include "kernel_vectors.h"

static void report(const char *kernel, int32_t cases, int32_t successes, uint32_t digest)
{
    printf("vectors %s cases %d ok %d digest %08x\n", kernel, (int)cases, (int)successes, (unsigned)digest);
}

int main(void)
{
    kernel_vectors_run(report);
    return 0;
}
