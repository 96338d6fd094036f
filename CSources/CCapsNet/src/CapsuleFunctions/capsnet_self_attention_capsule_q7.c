/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file capsnet_self_attention_capsule_q7.c
 * @brief Capsule layer with self-attention routing on one core: capsnet_self_attention_capsule_q7_split
 * with one share.
 */
#include <stddef.h>

#include "capsnet/capsnet.h"

int32_t capsnet_self_attention_capsule_q7_get_buffer_size(const capsnet_capsule_dims *dims)
{
    return capsnet_self_attention_capsule_q7_split_get_buffer_size(dims, 1);
}

capsnet_status capsnet_self_attention_capsule_q7(const capsnet_context *ctx,
                                                 const capsnet_self_attention_params *params,
                                                 const capsnet_capsule_dims *dims, const int8_t *input,
                                                 const int8_t *weights, const int8_t *bias, int8_t *output)
{
    const capsnet_core_split whole = {0, 1, NULL, NULL};
    return capsnet_self_attention_capsule_q7_split(ctx, params, dims, input, weights, bias, output, &whole);
}
