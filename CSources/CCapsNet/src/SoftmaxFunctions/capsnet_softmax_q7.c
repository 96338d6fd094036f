/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file capsnet_softmax_q7.c
 * @brief Natural-base softmax of Qm.n logits into Q0.7 coupling coefficients.
 */
#include "capsnet/capsnet.h"
#include "../capsnet_support.h"

int32_t capsnet_softmax_q7_get_buffer_size(void)
{
    /* The table is uint32; up to 3 bytes go to aligning the caller's buffer. */
    return (int32_t)(CAPSNET_EXP_TABLE_LEN * sizeof(uint32_t) + sizeof(uint32_t) - 1);
}

capsnet_status capsnet_softmax_q7(const capsnet_context *ctx, const int8_t *logits, int32_t num_rows,
                                  int32_t row_len, int32_t logit_frac, int8_t *output)
{
    if (ctx == NULL || ctx->buf == NULL || logits == NULL || output == NULL) {
        return CAPSNET_ERROR_NULL_POINTER;
    }
    if (capsnet_count2(num_rows, row_len) < 0) {
        return CAPSNET_ERROR_DIMENSION;
    }
    if (!capsnet_frac_is_valid(logit_frac)) {
        return CAPSNET_ERROR_SHIFT;
    }
    /* The sum of a row's Q15 exponentials, doubled for rounding, must stay below 2^32. */
    if (row_len > CAPSNET_SOFTMAX_ROW_MAX) {
        return CAPSNET_ERROR_OVERFLOW;
    }
    if (ctx->size < capsnet_softmax_q7_get_buffer_size()) {
        return CAPSNET_ERROR_BUFFER_SIZE;
    }

    uint32_t *exp_q15 = (uint32_t *)capsnet_align4_pointer(ctx->buf);
    capsnet_exp_table_fill(exp_q15, logit_frac);
    for (int32_t r = 0; r < num_rows; r++) {
        const ptrdiff_t at = (ptrdiff_t)r * row_len;
        capsnet_softmax_row_q7(exp_q15, logits + at, 1, row_len, output + at);
    }
    return CAPSNET_OK;
}
