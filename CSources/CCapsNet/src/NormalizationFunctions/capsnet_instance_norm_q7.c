/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file capsnet_instance_norm_q7.c
 * @brief Instance normalization in place, int8: each channel by its own statistics over the image.
 *
 * One core only: every output needs its channel's sums over the whole image, and a normalization
 * is a few instructions per value against a convolution's hundreds, so splitting it would cost a
 * barrier for little. One 64-bit division per channel, none per value.
 */
#include "capsnet/capsnet.h"
#include "../capsnet_support.h"

/** Most positions: N^2 * 2^14 * 2^16 and N^2 * epsilon stay below 2^62 each, so V fits 64 bits. */
#define POSITIONS_MAX 65536
#define EPSILON_MAX ((uint32_t)1 << 30)

static int32_t bit_length(uint32_t x)
{
    int32_t bits = 0;
    while (x != 0) {
        bits++;
        x >>= 1;
    }
    return bits;
}

capsnet_status capsnet_instance_norm_q7(int8_t *data, int32_t positions, const capsnet_instance_norm_params *params)
{
    if (data == NULL || params == NULL || params->gammas == NULL || params->gamma_fracs == NULL ||
        params->betas == NULL) {
        return CAPSNET_ERROR_NULL_POINTER;
    }
    const int32_t channels = params->channels;
    if (positions > POSITIONS_MAX || capsnet_count2(positions, channels) < 0) {
        return CAPSNET_ERROR_DIMENSION;
    }
    if (!capsnet_frac_is_valid(params->input_frac) || !capsnet_frac_is_valid(params->output_frac)) {
        return CAPSNET_ERROR_SHIFT;
    }
    for (int32_t c = 0; c < channels; c++) {
        const int32_t gamma_frac = params->gamma_fracs[c];
        if (gamma_frac < 0 || gamma_frac > CAPSNET_FRAC_MAX || params->output_frac > gamma_frac + 8) {
            return CAPSNET_ERROR_SHIFT;
        }
    }
    if (params->epsilon > EPSILON_MAX) {
        return CAPSNET_ERROR_ARGUMENT;
    }

    const int64_t n = positions;
    for (int32_t c = 0; c < channels; c++) {
        int8_t *column = data + c;
        int64_t s1 = 0;
        int64_t s2 = 0;
        for (int32_t p = 0; p < positions; p++) {
            const int32_t q = column[(ptrdiff_t)p * channels];
            s1 += q;
            s2 += q * q;
        }
        /* N * S2 - S1^2 >= 0 (Cauchy-Schwarz), at most N^2 * 2^14. */
        const uint64_t spread = (uint64_t)(n * s2 - s1 * s1);
        const uint32_t root =
            capsnet_isqrt_u64((spread << 16) + (uint64_t)(n * n) * (uint64_t)params->epsilon);
        const int32_t beta = params->betas[c];
        if (root == 0) {
            for (int32_t p = 0; p < positions; p++) {
                column[(ptrdiff_t)p * channels] = capsnet_saturate_q7(beta);
            }
            continue;
        }
        const int32_t bits = bit_length(root);
        const int32_t gamma = params->gammas[c];
        const uint64_t magnitude = (uint64_t)(gamma < 0 ? -gamma : gamma);
        /* round(|gamma| * 2^(b + 15) / R): |gamma| * 2^(b + 16) < 2^63. */
        const int64_t rounded = (int64_t)(((magnitude << (bits + 16)) / root + 1) >> 1);
        const int64_t multiplier = gamma < 0 ? -rounded : rounded;
        const int32_t shift = bits + 7 + params->gamma_fracs[c] - params->output_frac;
        for (int32_t p = 0; p < positions; p++) {
            int8_t *value = column + (ptrdiff_t)p * channels;
            const int64_t centred = n * *value - s1;
            /* |centred * M| <= 2^24 * 2^31: no overflow, and the sum with beta saturated in 64 bits. */
            const int64_t y = capsnet_round_shift_s64(centred * multiplier, shift) + beta;
            *value = (int8_t)(y > CAPSNET_Q7_MAX ? CAPSNET_Q7_MAX : y < CAPSNET_Q7_MIN ? CAPSNET_Q7_MIN : y);
        }
    }
    return CAPSNET_OK;
}
