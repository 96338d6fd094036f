/**
 * @file capsnet_primary_capsule_q7.c
 * @brief Primary capsule layer: convolution, then squash of each group of capsule_dim channels.
 */
#include "capsnet/capsnet.h"
#include "../capsnet_support.h"

capsnet_status capsnet_primary_capsule_q7(const capsnet_primary_capsule_params *params,
                                          const capsnet_hwc *input_dims, const int8_t *input,
                                          const int8_t *weights, const int8_t *bias,
                                          const capsnet_hwc *output_dims, int8_t *output)
{
    if (params == NULL || output_dims == NULL) {
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
    /* The convolution checks the rest before it writes, and once it succeeded the squash cannot fail. */
    CAPSNET_RETURN_IF_ERROR(capsnet_conv_hwc_q7(&params->conv, input_dims, input, weights, bias, output_dims, output));
    return capsnet_squash_q7(output, values / dim, dim, params->conv.output_frac, params->output_frac, output);
}
