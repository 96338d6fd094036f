/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file capsnet_primary_capsule_q7_split.c
 * @brief Primary capsule layer on a share of the output rows: convolution, then squash of each group
 * of capsule_dim channels in those rows (a capsule never spans two rows).
 */
#include "capsnet/capsnet.h"
#include "../capsnet_support.h"

int32_t capsnet_primary_capsule_q7_split_get_buffer_size(const capsnet_primary_capsule_params *params,
                                                          const capsnet_hwc *input_dims, int32_t num_cores)
{
    if (params == NULL) {
        return CAPSNET_ERROR_NULL_POINTER;
    }
    /* The squash works in place and needs no scratch. */
    return capsnet_conv_hwc_q7_split_get_buffer_size(&params->conv, input_dims, num_cores);
}

capsnet_status capsnet_primary_capsule_q7_split(const capsnet_context *ctx,
                                                const capsnet_primary_capsule_params *params,
                                                const capsnet_hwc *input_dims, const int8_t *input,
                                                const int8_t *weights, const int8_t *bias,
                                                const capsnet_hwc *output_dims, int8_t *output,
                                                const capsnet_core_split *split)
{
    return capsnet_primary_capsule_rows_q7(capsnet_conv_hwc_q7_split, capsnet_squash_q7, ctx, params, input_dims, input,
                                           weights, bias, output_dims, output, split);
}
