/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file capsnet_isqrt_u64.c
 * @brief Integer square root used by squash and capsule length.
 */
#include "../capsnet_support.h"

/* Digit-by-digit method on 64 bits: one result bit per step, no multiply or divide. */
static uint32_t isqrt_wide(uint64_t x)
{
    uint64_t root = 0;
    uint64_t bit = (uint64_t)1 << 62;
    while (bit > x) {
        bit >>= 2;
    }
    while (bit != 0) {
        if (x >= root + bit) {
            x -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    return (uint32_t)root;
}

/*
 * Below 2^60, the remainder method in 32-bit arithmetic, which a 32-bit core does in single
 * instructions where 64-bit steps take several (squash calls this once per capsule). It takes x two
 * bits at a time from the top: root is the square root of the bits taken so far and rem, those bits
 * minus root^2, is at most 2 * root. Before the last of at most 30 pairs root has at most 29 bits,
 * so rem shifted in (at most 8 * root + 3) and the trial 4 * root + 1 stay below 2^32.
 */
uint32_t capsnet_isqrt_u64(uint64_t x)
{
    if ((x >> 60) != 0) {
        return isqrt_wide(x);
    }
    const uint32_t words[2] = {(uint32_t)(x >> 32), (uint32_t)x};
    uint32_t root = 0;
    uint32_t rem = 0;
    for (int32_t w = words[0] == 0 ? 1 : 0; w < 2; w++) {
        uint32_t bits = words[w];
        int32_t pairs = 16;
        /* Leading zero pairs leave root and rem at 0. */
        while (root == 0 && pairs > 0 && (bits >> 30) == 0) {
            bits <<= 2;
            pairs--;
        }
        for (; pairs > 0; pairs--) {
            rem = (rem << 2) | (bits >> 30);
            bits <<= 2;
            const uint32_t trial = (root << 2) | 1u;
            root <<= 1;
            if (rem >= trial) {
                rem -= trial;
                root |= 1u;
            }
        }
    }
    return root;
}
