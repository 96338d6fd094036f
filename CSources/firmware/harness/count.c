/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One inference of an exported model on its first test image, with layer markers, for the QEMU
 * instruction-counting plugin. Prints the output bytes; exits with 0 if they equal the host's.
 */
#include <stdint.h>

#include "semihosting.h"
#include CAPSNET_TEST_DATA

#define CAPSNET_CONCAT2(a, b) a##b
#define CAPSNET_CONCAT(a, b) CAPSNET_CONCAT2(a, b)

int main(void);

static uint64_t arena_storage[(CAPSNET_TEST_ARENA_SIZE + 7) / 8];

int main(void)
{
    int8_t output[CAPSNET_TEST_OUTPUT_SIZE];
    int32_t same = 1;
    if (CAPSNET_CONCAT(CAPSNET_MODEL, _run)(CAPSNET_CONCAT(CAPSNET_MODEL, _test_inputs)[0], output, arena_storage) !=
        CAPSNET_OK) {
        return 100;
    }
    for (int32_t k = 0; k < CAPSNET_TEST_OUTPUT_SIZE; k++) {
        same &= output[k] == CAPSNET_CONCAT(CAPSNET_MODEL, _test_expected)[0][k];
    }
    semihosting_print(same ? "count: output identical to the host\n" : "count: output differs from the host\n");
    return !same;
}
