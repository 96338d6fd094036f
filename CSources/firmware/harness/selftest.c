/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Self-test of an exported model on a bare-metal target: runs every embedded test image, prints each
 * output's bytes ("output <image>: <v0> <v1> ..."), compares them with the host int8 engine's, and
 * exits with the number of mismatching images (0 when the target is bit-exact with the host). On a
 * cluster (model_run.h) every core runs each image and core 0 reports.
 *
 * Build with -DCAPSNET_TEST_DATA='"<name>_test_data.h"' -DCAPSNET_MODEL=<name>.
 */
#include <stdint.h>

#include "model_run.h"
#include "semihosting.h"

int main(void);

int main(void)
{
    int32_t mismatches = 0;
    int8_t output[CAPSNET_TEST_OUTPUT_SIZE];
    for (int32_t image = 0; image < CAPSNET_TEST_COUNT; image++) {
        const capsnet_status status = harness_run(MODEL_INPUTS[image], output);
        if (status != CAPSNET_OK) {
            if (!harness_main_core()) {
                return 100;
            }
            semihosting_print("error: status ");
            semihosting_print_int(status);
            semihosting_print(HARNESS_ERROR_HINT "\n");
            semihosting_exit(100);
        }
        if (!harness_main_core()) {
            continue;
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
    if (harness_main_core()) {
        semihosting_print("selftest: ");
        semihosting_print_int(CAPSNET_TEST_COUNT - mismatches);
        semihosting_print("/");
        semihosting_print_int(CAPSNET_TEST_COUNT);
        semihosting_print(" outputs identical to the host\n");
    }
    return mismatches;
}
