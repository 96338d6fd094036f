/**
 * @file capsnet_mat_mult_trans_b_q7.c
 * @brief Matrix product A * B^T, int8: every row of A dotted with every row of B.
 */
#include "capsnet/capsnet.h"
#include "../capsnet_support.h"

capsnet_status capsnet_mat_mult_trans_b_q7(const int8_t *a, const int8_t *b, int32_t m, int32_t k,
                                           int32_t n, const capsnet_mat_formats *formats, int8_t *out)
{
    if (a == NULL || b == NULL || formats == NULL || out == NULL) {
        return CAPSNET_ERROR_NULL_POINTER;
    }
    if (capsnet_count2(m, k) < 0 || capsnet_count2(n, k) < 0 || capsnet_count2(m, n) < 0) {
        return CAPSNET_ERROR_DIMENSION;
    }
    int32_t shift;
    CAPSNET_RETURN_IF_ERROR(capsnet_product_shift(formats->a_frac, formats->b_frac, formats->out_frac, &shift));
    if (!capsnet_accumulator_fits(k, 0)) {
        return CAPSNET_ERROR_OVERFLOW;
    }

    for (int32_t row = 0; row < m; row++) {
        const int8_t *a_row = a + (ptrdiff_t)row * k;
        for (int32_t col = 0; col < n; col++) {
            const int8_t *b_row = b + (ptrdiff_t)col * k;
            out[(ptrdiff_t)row * n + col] = capsnet_requantize_q7(capsnet_dot_q7(a_row, b_row, k, 1), shift);
        }
    }
    return CAPSNET_OK;
}
