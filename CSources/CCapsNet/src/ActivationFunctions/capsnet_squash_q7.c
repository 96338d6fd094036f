/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file capsnet_squash_q7.c
 * @brief Squash of consecutive capsule vectors, int8 to int8.
 */
#include "capsnet/capsnet.h"
#include "../capsnet_support.h"

/*
 * With s = q * 2^-f and x = |s| = sqrt(N) * 2^-f, the squashed value in output format g is
 *   v_k * 2^g = q_k * sqrt(N) * 2^g / (2^(2f) + N),
 * so one multiplier per capsule, m = R * 2^g / (2^(2f) + N) with R = sqrt(N) * 2^16, serves all of
 * its elements. Bounds for f in [-8, 15], g in [0, 15], N < 2^31 (see capsnet_squash_q7 in the header):
 * R < 2^31.5, the numerator stays below 2^63, the denominator below 2^48, and m below 2^31 since
 * 2^(2f) + N >= 2 * 2^f * sqrt(N); q_k * m needs 39 bits.
 */
static int64_t squash_multiplier(uint32_t sum_sq, int32_t input_frac, int32_t output_frac)
{
    const uint32_t root = capsnet_isqrt_u64((uint64_t)sum_sq << 32);
    if (input_frac >= 0) {
        /* At most 2^30 + 2^31 - 1: 32 bits. */
        const uint32_t denominator = ((uint32_t)1 << (2 * input_frac)) + sum_sq;
        if (denominator <= (UINT32_MAX >> output_frac)) {
            /* floor(R * 2^g / d) as long division in two 32-bit steps (no 64-bit division, which is a
             * library call on 32-bit cores): R = q * d + r, and r * 2^g < d * 2^g fits 32 bits. */
            const uint32_t quotient = root / denominator;
            const uint32_t remainder = root % denominator;
            return (int64_t)(((uint64_t)quotient << output_frac) + ((remainder << output_frac) / denominator));
        }
    }
    uint64_t numerator, denominator;
    if (input_frac >= 0) {
        numerator = (uint64_t)root << output_frac;
        denominator = ((uint64_t)1 << (2 * input_frac)) + sum_sq;
    } else {
        /* 2^(2f) is a fraction: scale numerator and denominator by 2^(-2f). */
        numerator = (uint64_t)root << (output_frac - 2 * input_frac);
        denominator = 1 + ((uint64_t)sum_sq << (-2 * input_frac));
    }
    return (int64_t)(numerator / denominator);
}

capsnet_status capsnet_squash_q7(const int8_t *input, int32_t num_capsules, int32_t capsule_dim,
                                 int32_t input_frac, int32_t output_frac, int8_t *output)
{
    return capsnet_squash_capsules(input, num_capsules, capsule_dim, input_frac, output_frac, output, squash_multiplier);
}
