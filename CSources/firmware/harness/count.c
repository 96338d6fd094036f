/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One inference of an exported model on its first test image, with layer markers, for the QEMU
 * instruction-counting plugin or a board that counts for itself (marks.h); on a cluster
 * (model_run.h) on every core. Exits with 0 if the output equals the host's.
 */
#include <stdint.h>

#include "marks.h"
#include "model_run.h"
#include "semihosting.h"

int main(void);

int main(void)
{
    int8_t output[CAPSNET_TEST_OUTPUT_SIZE];
    int32_t same = 1;
    if (harness_run(MODEL_INPUTS[0], output) != CAPSNET_OK) {
        return 100;
    }
    if (!harness_main_core()) {
        return 0;
    }
    for (int32_t k = 0; k < CAPSNET_TEST_OUTPUT_SIZE; k++) {
        same &= output[k] == MODEL_EXPECTED[0][k];
    }
    capsnet_marks_report();
    semihosting_print(same ? "count: output identical to the host\n" : "count: output differs from the host\n");
    return !same;
}
