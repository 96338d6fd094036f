/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file capsnet_depthwise_conv_hwc_q7_split.c
 * @brief Depthwise 2-D convolution, HWC int8: channel c of the output is channel c of the input
 * convolved with its own Kh x Kw filter (a channel multiplier of 1, Efficient-CapsNet's primary
 * capsules). Each output position is computed in blocks of neighbouring channels, one window row
 * at a time (capsnet_channel_macs_q7: Arm DSP, Helium and RISC-V vector paths).
 */
#include "capsnet/capsnet.h"
#include "../capsnet_simd.h"
#include "../capsnet_support.h"

/* Channels summed side by side: one RVV register group of VLEN 128, four Helium vectors. */
#define CHANNEL_BLOCK 16

int32_t capsnet_depthwise_conv_hwc_q7_split_get_buffer_size(const capsnet_conv_params *params,
                                                            const capsnet_hwc *input_dims, int32_t num_cores)
{
    if (params == NULL || input_dims == NULL) {
        return CAPSNET_ERROR_NULL_POINTER;
    }
    if (capsnet_count3(params->kernel.h, params->kernel.w, input_dims->c) < 0 || num_cores < 1 ||
        num_cores > CAPSNET_CORES_MAX) {
        return CAPSNET_ERROR_DIMENSION;
    }
    return capsnet_accumulator_fits(capsnet_count2(params->kernel.h, params->kernel.w), 0) ? 0
                                                                                        : CAPSNET_ERROR_OVERFLOW;
}

/* The output value of an accumulator: a negative one scaled by the leak inside the rounding, in
 * 64 bits (|acc| * leak < 2^46), then clamped to the activation's range. */
static int8_t activate(int32_t acc, int32_t shift, const capsnet_activation *activation)
{
    const int32_t rounded = acc < 0 && activation->leak != 0
                                ? (int32_t)capsnet_round_shift_s64((int64_t)acc * activation->leak,
                                                                   shift + CAPSNET_LEAK_FRAC)
                                : capsnet_round_shift_s32(acc, shift);
    if (rounded > activation->max) {
        return (int8_t)activation->max;
    }
    return (int8_t)(rounded < activation->min ? activation->min : rounded);
}

capsnet_status capsnet_depthwise_conv_hwc_q7_split(const capsnet_context *ctx, const capsnet_conv_params *params,
                                                   const capsnet_hwc *input_dims, const int8_t *input,
                                                   const int8_t *weights, const int8_t *bias,
                                                   const capsnet_hwc *output_dims, int8_t *output,
                                                   const capsnet_core_split *split)
{
    if (ctx == NULL || params == NULL || input_dims == NULL || input == NULL || weights == NULL ||
        output_dims == NULL || output == NULL || split == NULL) {
        return CAPSNET_ERROR_NULL_POINTER;
    }
    if (!capsnet_split_is_valid(split)) {
        return CAPSNET_ERROR_DIMENSION;
    }
    const int32_t in_h = input_dims->h, in_w = input_dims->w, channels = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w;
    const int32_t k_h = params->kernel.h, k_w = params->kernel.w;
    if (capsnet_check_conv_axis(in_h, k_h, params->stride.h, params->padding.h, out_h) != CAPSNET_OK ||
        capsnet_check_conv_axis(in_w, k_w, params->stride.w, params->padding.w, out_w) != CAPSNET_OK ||
        output_dims->c != channels || capsnet_count3(in_h, in_w, channels) < 0 ||
        capsnet_count3(out_h, out_w, channels) < 0 || capsnet_count3(k_h, k_w, channels) < 0) {
        return CAPSNET_ERROR_DIMENSION;
    }
    const capsnet_activation *activation = &params->activation;
    int32_t shift;
    int32_t bias_shift;
    CAPSNET_RETURN_IF_ERROR(capsnet_check_conv_formats(params, bias != NULL, &shift, &bias_shift));
    int32_t max_shift = shift;
    int32_t max_bias_shift = bias_shift;
    CAPSNET_RETURN_IF_ERROR(capsnet_check_filter_formats(params, bias != NULL, channels, &max_shift, &max_bias_shift));
    if (!capsnet_leak_is_valid(activation->leak)) {
        return CAPSNET_ERROR_ARGUMENT;
    }
    /* Each accumulator sums one channel of the window: Kh*Kw products. */
    if (!capsnet_accumulator_fits(k_h * k_w, max_bias_shift)) {
        return CAPSNET_ERROR_OVERFLOW;
    }
    /* The companion asks for 0 bytes; a negative size is not a context at all. */
    if (ctx->size < 0) {
        return CAPSNET_ERROR_BUFFER_SIZE;
    }

    int32_t row_begin;
    int32_t row_end;
    capsnet_split_range(out_h, split, &row_begin, &row_end);
    for (int32_t oy = row_begin; oy < row_end; oy++) {
        const int32_t y0 = oy * params->stride.h - params->padding.h;
        /* Rows of the window inside the input; the others are zeros and contribute nothing. */
        const int32_t ky_begin = y0 < 0 ? -y0 : 0;
        const int32_t ky_end = in_h - y0 < k_h ? in_h - y0 : k_h;
        for (int32_t ox = 0; ox < out_w; ox++) {
            const int32_t x0 = ox * params->stride.w - params->padding.w;
            const int32_t kx_begin = x0 < 0 ? -x0 : 0;
            const int32_t kx_end = in_w - x0 < k_w ? in_w - x0 : k_w;
            int8_t *out = output + ((ptrdiff_t)oy * out_w + ox) * channels;
            const int8_t *window = input + ((ptrdiff_t)(y0 + ky_begin) * in_w + x0 + kx_begin) * channels;
            const int8_t *filters = weights + ((ptrdiff_t)ky_begin * k_w + kx_begin) * channels;
            for (int32_t c0 = 0; c0 < channels; c0 += CHANNEL_BLOCK) {
                const int32_t lanes = channels - c0 < CHANNEL_BLOCK ? channels - c0 : CHANNEL_BLOCK;
                int32_t acc[CHANNEL_BLOCK];
                for (int32_t l = 0; l < lanes; l++) {
                    acc[l] = bias != NULL ? (int32_t)bias[c0 + l]
                                                * ((int32_t)1 << (bias_shift + capsnet_filter_frac_delta(params, c0 + l)))
                                          : 0;
                }
                for (int32_t ky = 0; ky < ky_end - ky_begin; ky++) {
                    capsnet_channel_macs_q7(acc, window + (ptrdiff_t)ky * in_w * channels + c0,
                                            filters + (ptrdiff_t)ky * k_w * channels + c0, channels,
                                            kx_end - kx_begin, lanes);
                }
                for (int32_t l = 0; l < lanes; l++) {
                    out[c0 + l] = activate(acc[l], shift + capsnet_filter_frac_delta(params, c0 + l), activation);
                }
            }
        }
    }
    return CAPSNET_OK;
}
