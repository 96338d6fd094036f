/**
 * @file capsnet_conv_hwc_q7.c
 * @brief 2-D convolution, HWC int8, portable path.
 */
#include "capsnet/capsnet.h"
#include "../capsnet_support.h"

static capsnet_status check_axis(int32_t in, int32_t kernel, int32_t stride, int32_t padding, int32_t out)
{
    if (in < 1 || kernel < 1 || stride < 1 || out < 1 || padding < 0 || padding >= kernel) {
        return CAPSNET_ERROR_DIMENSION;
    }
    /* Every window must start inside the input: padding beyond that would only add zero windows. */
    const int64_t last_start = (int64_t)(out - 1) * stride - padding;
    return last_start <= in - 1 ? CAPSNET_OK : CAPSNET_ERROR_DIMENSION;
}

static int32_t min_s32(int32_t a, int32_t b)
{
    return a < b ? a : b;
}

capsnet_status capsnet_conv_hwc_q7(const capsnet_conv_params *params,
                                   const capsnet_hwc *input_dims, const int8_t *input,
                                   const int8_t *weights, const int8_t *bias,
                                   const capsnet_hwc *output_dims, int8_t *output)
{
    if (params == NULL || input_dims == NULL || input == NULL || weights == NULL || output_dims == NULL ||
        output == NULL) {
        return CAPSNET_ERROR_NULL_POINTER;
    }
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t k_h = params->kernel.h, k_w = params->kernel.w;
    if (check_axis(in_h, k_h, params->stride.h, params->padding.h, out_h) != CAPSNET_OK ||
        check_axis(in_w, k_w, params->stride.w, params->padding.w, out_w) != CAPSNET_OK ||
        capsnet_count3(in_h, in_w, in_c) < 0 || capsnet_count3(out_h, out_w, out_c) < 0) {
        return CAPSNET_ERROR_DIMENSION;
    }
    const int32_t window = capsnet_count3(k_h, k_w, in_c);
    if (window < 0 || capsnet_count2(window, out_c) < 0) {
        return CAPSNET_ERROR_DIMENSION;
    }

    int32_t shift;
    CAPSNET_RETURN_IF_ERROR(
        capsnet_product_shift(params->input_frac, params->weight_frac, params->output_frac, &shift));
    /* The bias is "a product" stored in bias_frac: the same shift, applied to the left. */
    int32_t bias_shift = 0;
    if (bias != NULL) {
        CAPSNET_RETURN_IF_ERROR(
            capsnet_product_shift(params->input_frac, params->weight_frac, params->bias_frac, &bias_shift));
    }
    if (!capsnet_accumulator_fits(window, bias_shift)) {
        return CAPSNET_ERROR_OVERFLOW;
    }

    int8_t *out = output;
    for (int32_t oy = 0; oy < out_h; oy++) {
        const int32_t y0 = oy * params->stride.h - params->padding.h;
        /* Rows of the window that fall inside the input; padded rows contribute zero. */
        const int32_t ky_begin = y0 < 0 ? -y0 : 0;
        const int32_t ky_end = min_s32(k_h, in_h - y0);
        for (int32_t ox = 0; ox < out_w; ox++) {
            const int32_t x0 = ox * params->stride.w - params->padding.w;
            const int32_t kx_begin = x0 < 0 ? -x0 : 0;
            const int32_t kx_end = min_s32(k_w, in_w - x0);
            /* Consecutive kx touch consecutive input pixels, so a window row is one dot product. */
            const int32_t row_len = (kx_end - kx_begin) * in_c;
            for (int32_t oc = 0; oc < out_c; oc++) {
                int32_t acc = bias != NULL ? (int32_t)bias[oc] * ((int32_t)1 << bias_shift) : 0;
                const int8_t *filter = weights + (ptrdiff_t)oc * window;
                for (int32_t ky = ky_begin; ky < ky_end; ky++) {
                    const int8_t *in_row = input + ((ptrdiff_t)(y0 + ky) * in_w + (x0 + kx_begin)) * in_c;
                    const int8_t *w_row = filter + ((ptrdiff_t)ky * k_w + kx_begin) * in_c;
                    acc += capsnet_dot_q7(in_row, w_row, row_len, 1);
                }
                *out++ = capsnet_requantize_q7(acc, shift);
            }
        }
    }
    return CAPSNET_OK;
}
