/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file capsnet_relu_q7.c
 * @brief ReLU in place, int8.
 */
#include "capsnet/capsnet.h"
#include "../capsnet_support.h"

capsnet_status capsnet_relu_q7(int8_t *data, int32_t size)
{
    if (data == NULL) {
        return CAPSNET_ERROR_NULL_POINTER;
    }
    if (size < 1) {
        return CAPSNET_ERROR_DIMENSION;
    }
    for (int32_t i = 0; i < size; i++) {
        if (data[i] < 0) {
            data[i] = 0;
        }
    }
    return CAPSNET_OK;
}
