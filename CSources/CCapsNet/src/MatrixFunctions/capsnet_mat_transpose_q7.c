/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file capsnet_mat_transpose_q7.c
 * @brief Matrix transpose, int8.
 */
#include "capsnet/capsnet.h"
#include "../capsnet_support.h"

capsnet_status capsnet_mat_transpose_q7(const int8_t *in, int32_t rows, int32_t cols, int8_t *out)
{
    if (in == NULL || out == NULL) {
        return CAPSNET_ERROR_NULL_POINTER;
    }
    if (capsnet_count2(rows, cols) < 0) {
        return CAPSNET_ERROR_DIMENSION;
    }
    for (int32_t r = 0; r < rows; r++) {
        for (int32_t c = 0; c < cols; c++) {
            out[(ptrdiff_t)c * rows + r] = in[(ptrdiff_t)r * cols + c];
        }
    }
    return CAPSNET_OK;
}
