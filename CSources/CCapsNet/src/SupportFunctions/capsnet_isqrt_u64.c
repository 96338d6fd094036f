/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file capsnet_isqrt_u64.c
 * @brief Integer square root used by squash, capsule length and instance normalization.
 */
#include "../capsnet_support.h"

/*
 * floor(sqrt(x)) by Newton's method on a 32-bit core's own operations (one 32-bit division per
 * step, no 64-bit division): x is shifted left by an even amount 2k so that y = x * 4^k has one
 * of its top two bits set; s = floor(sqrt(top)) of its top word by Newton from a straight-line
 * guess; then one Newton step from s * 2^16, which lies below sqrt(y) by less than 2^16, lands at
 * most a few units above floor(sqrt(y)), and the last loop steps down to it. Integer Newton steps
 * never fall below the floor of the root, so every loop only ever steps down, and the result is
 * exact whatever the guess: the guess decides only how many steps run (squash calls this once per
 * capsule; the digit-by-digit method took 24 to 32 steps of a few instructions each).
 */
uint32_t capsnet_isqrt_u64(uint64_t x)
{
    if (x == 0) {
        return 0;
    }
    const int32_t shift = __builtin_clzll(x) & ~1;
    const uint64_t y = x << shift;
    /* In [2^30, 2^32): its root is in [2^15, 2^16). */
    const uint32_t top = (uint32_t)(y >> 32);
    /* The tangent of sqrt at 2^31 with a slope a little steeper (2^-17 + 2^-19): 6% off at most,
     * so two Newton steps leave at most one step down. */
    uint32_t s = 46341u + (uint32_t)(((int32_t)(top - 0x80000000u) >> 17) + ((int32_t)(top - 0x80000000u) >> 19));
    s = (s + top / s) >> 1;
    s = (s + top / s) >> 1;
    while ((uint64_t)s * s > top) {
        s--;
    }
    /* One step from e = s * 2^16 <= sqrt(y): e + floor((y - e^2) / 2e), with y - e^2 taken in
     * 2^17 units, which fit 32 bits since top - s^2 <= 2s < 2^17. */
    const uint32_t rest = ((top - s * s) << 15) + ((uint32_t)y >> 17);
    uint64_t root = ((uint64_t)s << 16) + rest / s;
    if (root > UINT32_MAX) {
        root = UINT32_MAX;
    }
    while (root * root > y) {
        root--;
    }
    return (uint32_t)(root >> (shift / 2));
}
