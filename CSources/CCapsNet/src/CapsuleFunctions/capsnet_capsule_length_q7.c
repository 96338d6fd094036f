/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file capsnet_capsule_length_q7.c
 * @brief Euclidean length of each capsule, int8.
 */
#include "capsnet/capsnet.h"
#include "../capsnet_support.h"

/* floor(sqrt(sum_sq) * 2^scale + 1/2), saturated to 127. */
static int8_t rounded_length(uint32_t sum_sq, int32_t scale)
{
    if (sum_sq == 0) {
        return 0;
    }
    if (scale >= 7) {
        return 127; /* sqrt(sum_sq) >= 1, so the length is at least 2^7 */
    }
    if (scale >= 0) {
        const uint64_t x = (uint64_t)sum_sq << (2 * scale);
        const uint64_t root = capsnet_isqrt_u64(x);
        /* sqrt(x) >= root + 1/2 exactly when x >= root^2 + root + 1/4, i.e. x - root^2 > root. */
        const uint64_t rounded = root + (x - root * root > root ? 1u : 0u);
        return (int8_t)(rounded > 127u ? 127u : rounded);
    }
    /* floor((sqrt(n) + 2^(s-1)) / 2^s) == floor((floor(sqrt(n)) + 2^(s-1)) / 2^s) for integer 2^(s-1). */
    const int32_t s = -scale;
    const uint32_t rounded = (capsnet_isqrt_u64(sum_sq) + ((uint32_t)1 << (s - 1))) >> s;
    return (int8_t)(rounded > 127u ? 127u : rounded);
}

capsnet_status capsnet_capsule_length_q7(const int8_t *capsules, int32_t num_capsules, int32_t capsule_dim,
                                         int32_t input_frac, int32_t output_frac, int8_t *lengths)
{
    if (capsules == NULL || lengths == NULL) {
        return CAPSNET_ERROR_NULL_POINTER;
    }
    if (capsnet_count2(num_capsules, capsule_dim) < 0) {
        return CAPSNET_ERROR_DIMENSION;
    }
    if (!capsnet_frac_is_valid(input_frac) || !capsnet_frac_is_valid(output_frac)) {
        return CAPSNET_ERROR_SHIFT;
    }
    if (!capsnet_accumulator_fits(capsule_dim, 0)) {
        return CAPSNET_ERROR_OVERFLOW;
    }
    for (int32_t n = 0; n < num_capsules; n++) {
        const int8_t *v = capsules + (ptrdiff_t)n * capsule_dim;
        lengths[n] = rounded_length((uint32_t)capsnet_dot_strided_q7(v, v, capsule_dim, 1), output_frac - input_frac);
    }
    return CAPSNET_OK;
}
