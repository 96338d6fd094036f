/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file capsnet_leaky_relu_q7.c
 * @brief Leaky ReLU in place, int8: a layer of its own. After a convolution it is the convolution's
 * activation instead (capsnet_activation.leak), applied to the accumulator before it is rounded.
 */
#include "capsnet/capsnet.h"
#include "../capsnet_support.h"

capsnet_status capsnet_leaky_relu_q7(int8_t *data, int32_t size, int32_t leak)
{
    if (data == NULL) {
        return CAPSNET_ERROR_NULL_POINTER;
    }
    if (size < 1) {
        return CAPSNET_ERROR_DIMENSION;
    }
    if (!capsnet_leak_is_valid(leak)) {
        return CAPSNET_ERROR_ARGUMENT;
    }
    for (int32_t i = 0; i < size; i++) {
        if (data[i] < 0) {
            /* |q * leak| < 2^22, and the result lies in [q, 0]: no overflow, no saturation. */
            data[i] = (int8_t)capsnet_round_shift_s32((int32_t)data[i] * leak, CAPSNET_LEAK_FRAC);
        }
    }
    return CAPSNET_OK;
}
