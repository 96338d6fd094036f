/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file capsnet_capsule_layer_q7.c
 * @brief Capsule layer with dynamic routing on one core: capsnet_capsule_layer_q7_split with one share.
 */
#include <stddef.h>

#include "capsnet/capsnet.h"

int32_t capsnet_capsule_layer_q7_get_buffer_size(const capsnet_capsule_params *params,
                                                 const capsnet_capsule_dims *dims)
{
    return capsnet_capsule_layer_q7_split_get_buffer_size(params, dims, 1);
}

capsnet_status capsnet_capsule_layer_q7(const capsnet_context *ctx, const capsnet_capsule_params *params,
                                        const capsnet_capsule_dims *dims, const int8_t *input,
                                        const int8_t *weights, int8_t *output)
{
    const capsnet_core_split whole = {0, 1, NULL, NULL};
    return capsnet_capsule_layer_q7_split(ctx, params, dims, input, weights, output, &whole);
}
