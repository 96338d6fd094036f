/**
 * @file capsnet_isqrt_u64.c
 * @brief Integer square root used by squash and capsule length.
 */
#include "../capsnet_support.h"

/* Digit-by-digit method: one result bit per step, no multiply or divide, so it costs the same
 * on every core and needs no runtime support beyond 64-bit add, compare and shift. */
uint32_t capsnet_isqrt_u64(uint64_t x)
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
