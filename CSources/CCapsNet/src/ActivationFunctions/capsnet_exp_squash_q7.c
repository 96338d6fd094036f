/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file capsnet_exp_squash_q7.c
 * @brief Efficient-CapsNet's exponential squash of consecutive capsule vectors, int8 to int8.
 */
#include "capsnet/capsnet.h"
#include "../capsnet_support.h"

/* round(exp(-2^b) * 2^31) for b = -31 .. 4: the factor exp(-x) takes for each set bit of x. */
#define EXP_BIT_LOWEST (-31)
#define EXP_BIT_HIGHEST 4
static const uint32_t exp_of_bit_q31[EXP_BIT_HIGHEST - EXP_BIT_LOWEST + 1] = {
    2147483647u, 2147483646u, 2147483644u, 2147483640u, 2147483632u, 2147483616u,
    2147483584u, 2147483520u, 2147483392u, 2147483136u, 2147482624u, 2147481600u,
    2147479552u, 2147475456u, 2147467264u, 2147450880u, 2147418113u, 2147352580u,
    2147221520u, 2146959424u, 2146435328u, 2145387520u, 2143293437u, 2139111403u,
    2130771798u, 2114190000u, 2081412522u, 2017374191u, 1895147668u, 1672461947u,
    1302514674u, 790015084u, 290630308u, 39332535u, 720401u, 242u,
};

/*
 * (1 - exp(-x)) in Q31 for x = root * 2^-x_frac, x_frac in [8, 31]. exp(-x) is the product of
 * exp(-2^b) over the set bits b of x, highest first, each product rounded to Q31: at most 36
 * roundings of half a unit plus each factor's half unit, so the result is within 36 * 2^-31 of
 * the exact value. From x >= 32 on, exp(-x) < 2^-46 is 0.
 */
static uint32_t one_minus_exp_q31(uint32_t root, int32_t x_frac)
{
    const int32_t first_zero_bit = x_frac + EXP_BIT_HIGHEST + 1;
    if (first_zero_bit < 32 && (root >> first_zero_bit) != 0) {
        return (uint32_t)1 << 31;
    }
    uint32_t e = (uint32_t)1 << 31;
    for (int32_t bit = first_zero_bit < 32 ? first_zero_bit - 1 : 31; bit >= 0 && e != 0; bit--) {
        if ((root >> bit) & 1u) {
            const uint64_t factor = exp_of_bit_q31[bit - x_frac - EXP_BIT_LOWEST];
            e = (uint32_t)(((uint64_t)e * factor + ((uint64_t)1 << 30)) >> 31);
        }
    }
    return ((uint32_t)1 << 31) - e;
}

/*
 * With s = q * 2^-f and x = |s| = sqrt(N) * 2^-f, the squashed value in output format g is
 *   v_k * 2^g = q_k * (1 - exp(-x)) * 2^g / sqrt(N),
 * so one multiplier per capsule serves all of its elements: m = H * 2^(g+1) / R with
 * R = sqrt(N) * 2^16 (x = R * 2^-(16+f)) and H = (1 - exp(-x)) * 2^31. H * 2^(g+1) < 2^48 and m is
 * below 2^(g+16) * min(1 / sqrt(N), 2^-f) <= 2^31, since 1 - exp(-x) <= min(1, x).
 */
static int64_t exp_squash_multiplier(uint32_t sum_sq, int32_t input_frac, int32_t output_frac)
{
    if (sum_sq == 0) {
        return 0;
    }
    const uint32_t root = capsnet_isqrt_u64((uint64_t)sum_sq << 32);
    const uint64_t h = one_minus_exp_q31(root, 16 + input_frac);
    return (int64_t)((h << (output_frac + 1)) / root);
}

capsnet_status capsnet_exp_squash_q7(const int8_t *input, int32_t num_capsules, int32_t capsule_dim,
                                     int32_t input_frac, int32_t output_frac, int8_t *output)
{
    return capsnet_squash_capsules(input, num_capsules, capsule_dim, input_frac, output_frac, output, exp_squash_multiplier);
}
