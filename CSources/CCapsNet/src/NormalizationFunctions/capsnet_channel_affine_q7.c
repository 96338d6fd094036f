/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file capsnet_channel_affine_q7.c
 * @brief Per-channel affine map in place, int8: a batch normalization the converter could not fold.
 *
 * One product per value, so it has no fast path: on a model that keeps two (the tiny_bn_same
 * fixture) they are 2% of the Cortex-M4's instructions for an inference, and the per-channel
 * shifts would need per-lane shift amounts that the packed-SIMD paths do not have.
 */
#include "capsnet/capsnet.h"
#include "../capsnet_support.h"

/** Largest offset: with |x * scale| <= 2^22 and a rounding constant of at most 2^30, the sum stays below 2^31. */
#define CAPSNET_AFFINE_OFFSET_MAX ((int32_t)1 << 29)

capsnet_status capsnet_channel_affine_q7(int8_t *data, int32_t positions, const capsnet_channel_affine_params *params)
{
    if (data == NULL || params == NULL || params->scales == NULL || params->scale_fracs == NULL ||
        params->offsets == NULL) {
        return CAPSNET_ERROR_NULL_POINTER;
    }
    const int32_t channels = params->channels;
    if (capsnet_count2(positions, channels) < 0) {
        return CAPSNET_ERROR_DIMENSION;
    }
    for (int32_t c = 0; c < channels; c++) {
        int32_t shift;
        CAPSNET_RETURN_IF_ERROR(
            capsnet_product_shift(params->input_frac, params->scale_fracs[c], params->output_frac, &shift));
        if (params->offsets[c] > CAPSNET_AFFINE_OFFSET_MAX || params->offsets[c] < -CAPSNET_AFFINE_OFFSET_MAX) {
            return CAPSNET_ERROR_OVERFLOW;
        }
    }
    /* Channel by channel, so that a channel's scale, shift and offset (with the rounding constant
     * of round half up added once) stay in registers along its strided column. */
    for (int32_t c = 0; c < channels; c++) {
        const int32_t shift = params->input_frac + params->scale_fracs[c] - params->output_frac;
        const int32_t scale = params->scales[c];
        const int32_t base = params->offsets[c] + (shift > 0 ? (int32_t)1 << (shift - 1) : 0);
        int8_t *value = data + c;
        for (int32_t p = 0; p < positions; p++) {
            *value = capsnet_saturate_q7(((int32_t)*value * scale + base) >> shift);
            value += channels;
        }
    }
    return CAPSNET_OK;
}
