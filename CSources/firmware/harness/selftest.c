/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Self-test of an exported model on a bare-metal target: runs every embedded test image, prints each
 * output's bytes ("output <image>: <v0> <v1> ..."), compares them with the host int8 engine's, and
 * exits with the number of mismatching images (0 when the target is bit-exact with the host).
 *
 * Build with -DCAPSNET_TEST_DATA='"<name>_test_data.h"' -DCAPSNET_MODEL=<name>.
 */
#include <stdint.h>

#include "semihosting.h"
#include CAPSNET_TEST_DATA

#define CAPSNET_CONCAT2(a, b) a##b
#define CAPSNET_CONCAT(a, b) CAPSNET_CONCAT2(a, b)
#define MODEL_RUN CAPSNET_CONCAT(CAPSNET_MODEL, _run)
#define MODEL_INPUTS CAPSNET_CONCAT(CAPSNET_MODEL, _test_inputs)
#define MODEL_EXPECTED CAPSNET_CONCAT(CAPSNET_MODEL, _test_expected)

int main(void);

static uint64_t arena_storage[(CAPSNET_TEST_ARENA_SIZE + 7) / 8];

int main(void)
{
    int32_t mismatches = 0;
    int8_t output[CAPSNET_TEST_OUTPUT_SIZE];
    for (int32_t image = 0; image < CAPSNET_TEST_COUNT; image++) {
        const capsnet_status status = MODEL_RUN(MODEL_INPUTS[image], output, arena_storage);
        if (status != CAPSNET_OK) {
            semihosting_print("error: status ");
            semihosting_print_int(status);
            semihosting_print("\n");
            semihosting_exit(100);
        }
        int32_t same = 1;
        semihosting_print("output ");
        semihosting_print_int(image);
        semihosting_print(":");
        for (int32_t k = 0; k < CAPSNET_TEST_OUTPUT_SIZE; k++) {
            semihosting_print(" ");
            semihosting_print_int(output[k]);
            same &= output[k] == MODEL_EXPECTED[image][k];
        }
        semihosting_print(same ? "\n" : "  MISMATCH\n");
        mismatches += !same;
    }
    semihosting_print("selftest: ");
    semihosting_print_int(CAPSNET_TEST_COUNT - mismatches);
    semihosting_print("/");
    semihosting_print_int(CAPSNET_TEST_COUNT);
    semihosting_print(" outputs identical to the host\n");
    return mismatches;
}
