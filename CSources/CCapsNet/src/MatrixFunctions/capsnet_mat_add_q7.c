/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file capsnet_mat_add_q7.c
 * @brief Element-wise sum of two int8 tensors in different formats.
 */
#include "capsnet/capsnet.h"
#include "../capsnet_support.h"

capsnet_status capsnet_mat_add_q7(const int8_t *a, const int8_t *b, int32_t size,
                                  const capsnet_mat_formats *formats, int8_t *out)
{
    if (a == NULL || b == NULL || formats == NULL || out == NULL) {
        return CAPSNET_ERROR_NULL_POINTER;
    }
    if (size < 1) {
        return CAPSNET_ERROR_DIMENSION;
    }
    int32_t shift;
    CAPSNET_RETURN_IF_ERROR(capsnet_sum_shift(formats->a_frac, formats->b_frac, formats->out_frac, &shift));
    /* The common format is the finer one, so aligning is an exact left shift; within the format
     * range it is at most 23 bits, and two aligned operands sum to at most 2^31 in magnitude. */
    const int32_t common_frac = formats->out_frac + shift;
    const int32_t a_scale = (int32_t)1 << (common_frac - formats->a_frac);
    const int32_t b_scale = (int32_t)1 << (common_frac - formats->b_frac);

    for (int32_t i = 0; i < size; i++) {
        out[i] = capsnet_requantize_q7((int32_t)a[i] * a_scale + (int32_t)b[i] * b_scale, shift);
    }
    return CAPSNET_OK;
}
