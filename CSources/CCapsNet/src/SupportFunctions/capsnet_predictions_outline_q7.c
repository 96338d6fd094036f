/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file capsnet_predictions_outline_q7.c
 * @brief Internal: capsnet_predictions_q7 as a function of its own, for the capsule layer's lean
 * routing with per-capsule formats, whose one-capsule calls would otherwise add an inlined copy of
 * the primitive to the capsule layer's file and change how the compiler inlines the others there.
 */
#include "../capsnet_simd.h"

void capsnet_predictions_outline_q7(const int8_t *w, const int8_t *u, int32_t count, int32_t rows, int32_t length,
                                    int32_t shift, int8_t *out, const capsnet_prediction_layout *at)
{
    capsnet_predictions_q7(w, u, count, rows, length, shift, out, at);
}
