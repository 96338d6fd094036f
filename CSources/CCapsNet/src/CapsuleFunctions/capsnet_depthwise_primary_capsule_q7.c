/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file capsnet_depthwise_primary_capsule_q7.c
 * @brief Efficient-CapsNet's primary capsule layer on one core: capsnet_depthwise_primary_capsule_q7_split
 * with one share.
 */
#include <stddef.h>

#include "capsnet/capsnet.h"

int32_t capsnet_depthwise_primary_capsule_q7_get_buffer_size(const capsnet_primary_capsule_params *params,
                                                             const capsnet_hwc *input_dims)
{
    return capsnet_depthwise_primary_capsule_q7_split_get_buffer_size(params, input_dims, 1);
}

capsnet_status capsnet_depthwise_primary_capsule_q7(const capsnet_context *ctx,
                                                    const capsnet_primary_capsule_params *params,
                                                    const capsnet_hwc *input_dims, const int8_t *input,
                                                    const int8_t *weights, const int8_t *bias,
                                                    const capsnet_hwc *output_dims, int8_t *output)
{
    const capsnet_core_split whole = {0, 1, NULL, NULL};
    return capsnet_depthwise_primary_capsule_q7_split(ctx, params, input_dims, input, weights, bias, output_dims,
                                                      output, &whole);
}
