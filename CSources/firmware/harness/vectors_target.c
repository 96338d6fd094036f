/* SPDX-License-Identifier: Apache-2.0 */
/* Kernel test vectors on an emulated target: one line per kernel over semihosting. */
#include "kernel_vectors.h"
#include "semihosting.h"

int main(void);

static void print_hex(uint32_t value)
{
    char text[9];
    for (int32_t k = 7; k >= 0; k--) {
        text[k] = "0123456789abcdef"[value & 15u];
        value >>= 4;
    }
    text[8] = '\0';
    semihosting_print(text);
}

static void report(const char *kernel, int32_t cases, int32_t successes, uint32_t digest)
{
    semihosting_print("vectors ");
    semihosting_print(kernel);
    semihosting_print(" cases ");
    semihosting_print_int(cases);
    semihosting_print(" ok ");
    semihosting_print_int(successes);
    semihosting_print(" digest ");
    print_hex(digest);
    semihosting_print("\n");
}

int main(void)
{
    kernel_vectors_run(report);
    return 0;
}
