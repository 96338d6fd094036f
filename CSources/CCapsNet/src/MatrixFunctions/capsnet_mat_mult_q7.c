/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file capsnet_mat_mult_q7.c
 * @brief Matrix product A * B, int8.
 */
#include "capsnet/capsnet.h"
#include "../capsnet_support.h"

capsnet_status capsnet_mat_mult_q7(const int8_t *a, const int8_t *b, int32_t m, int32_t k, int32_t n,
                                   const capsnet_mat_formats *formats, int8_t *out)
{
    int32_t shift;
    CAPSNET_RETURN_IF_ERROR(capsnet_check_mat_product(a, b, m, k, n, formats, out, &shift));

    for (int32_t row = 0; row < m; row++) {
        const int8_t *a_row = a + (ptrdiff_t)row * k;
        for (int32_t col = 0; col < n; col++) {
            out[(ptrdiff_t)row * n + col] = capsnet_requantize_q7(capsnet_dot_strided_q7(a_row, b + col, k, n), shift);
        }
    }
    return CAPSNET_OK;
}
