/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file capsnet_primary_capsule_rows_q7.c
 * @brief Internal: a primary capsule layer on a share of the output rows, for any convolution and
 * squash: shared by capsnet_primary_capsule_q7_split and capsnet_depthwise_primary_capsule_q7_split.
 */
#include "capsnet/capsnet.h"
#include "../capsnet_support.h"

capsnet_status capsnet_primary_capsule_rows_q7(capsnet_conv_split_kernel convolve, capsnet_squash_kernel squash,
                                               const capsnet_context *ctx,
                                               const capsnet_primary_capsule_params *params,
                                               const capsnet_hwc *input_dims, const int8_t *input,
                                               const int8_t *weights, const int8_t *bias,
                                               const capsnet_hwc *output_dims, int8_t *output,
                                               const capsnet_core_split *split)
{
    if (params == NULL || output_dims == NULL || split == NULL) {
        return CAPSNET_ERROR_NULL_POINTER;
    }
    const int32_t dim = params->capsule_dim;
    const int32_t values = capsnet_count3(output_dims->h, output_dims->w, output_dims->c);
    if (dim < 1 || values < 0 || output_dims->c % dim != 0) {
        return CAPSNET_ERROR_DIMENSION;
    }
    if (!capsnet_squash_formats_are_valid(params->conv.output_frac, params->output_frac)) {
        return CAPSNET_ERROR_SHIFT;
    }
    if (!capsnet_accumulator_fits(dim, 0)) {
        return CAPSNET_ERROR_OVERFLOW;
    }
    /* The convolution checks the rest (the split included) before it writes, and once it succeeded
     * the squash cannot fail. */
    CAPSNET_RETURN_IF_ERROR(convolve(ctx, &params->conv, input_dims, input, weights, bias, output_dims, output, split));
    int32_t row_begin;
    int32_t row_end;
    capsnet_split_range(output_dims->h, split, &row_begin, &row_end);
    if (row_begin == row_end) {
        return CAPSNET_OK;
    }
    const int32_t row_values = output_dims->w * output_dims->c;
    int8_t *rows = output + (ptrdiff_t)row_begin * row_values;
    const int32_t capsules = (row_end - row_begin) * row_values / dim;
    return squash(rows, capsules, dim, params->conv.output_frac, params->output_frac, rows);
}
