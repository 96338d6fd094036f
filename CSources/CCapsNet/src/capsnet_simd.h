/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file capsnet_simd.h
 * @brief Internal: the dot products the heavy kernels are made of, with one implementation per
 * instruction set behind the compiler's own feature macros, so that the kernels read the same on
 * every path.
 *
 * Every path computes the same exact integer sums: int8 products summed in 32 bits, which the
 * kernels' overflow checks keep in range, so the order of the additions cannot change a result.
 * The portable loops are the specification; the others must be bit-identical to them (the kernel
 * test vectors and the MNIST self-test check this on every emulated core).
 *
 * Paths, the first the compiler's target has (Helium cores use the Arm DSP path where no vector
 * one is written):
 * - Arm Helium (MVE, Cortex-M55/M85): 16 int8 lanes per VLDRB, VMLADAVA sums their products;
 *   tails are predicated (VCTP), so there is no scalar remainder.
 * - Arm DSP extension (Cortex-M4/M7/M33): four int8 per register, SXTB16 unpacks them into two
 *   pairs of int16 and SMLAD multiplies and adds a pair at once.
 * - RISC-V vector extension (Zve32x and up, with the v1.0 intrinsics): int8 loads widened to int16
 *   (VSEXT), multiplied and accumulated into int32 lanes (VWMACC), summed once per call (VREDSUM).
 * - Arm NEON (AArch64: Raspberry Pi-class boards and Apple silicon, for apps that link the
 *   runtime): SMULL of eight int8 pairs into int16 lanes, SADALP into int32 lanes.
 * - CORE-V / PULP SIMD (XCVSIMD, as in CV32E40P and PULP clusters): four int8 per register, one
 *   CV.SDOTSP.B per four products. It shares the packed loops with the Arm DSP path through three
 *   primitives below, capsnet_unpack_q7x4, capsnet_prepare_q7x4 and capsnet_dot4_q7, and has
 *   agreements of its own (capsnet_mat_t_vec4_q7: CV.SHUFFLE2.B and CV.PACK transpose four rows
 *   of four columns). CI runs it on the CV32E40P's RTL under Verilator (CSources/firmware,
 *   TARGET=cv32e40p), bit-identical to the portable path. These are the CV32E40P's (v2) encodings,
 *   not the XpulpV2 ones of GAP-8's RI5CY cores.
 */
#ifndef CAPSNET_SIMD_H
#define CAPSNET_SIMD_H

#include <stddef.h>
#include <stdint.h>

#include "capsnet_support.h"

/* CAPSNET_PORTABLE_ONLY builds the portable path on any core, to measure the others against it. */
#if !defined(CAPSNET_PORTABLE_ONLY)
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#define CAPSNET_ARM_MVE 1
#include <arm_mve.h>
#endif
/* Cores with Helium have the DSP extension too: the vector paths come first, and the short dot
 * products of the routing layers (capsnet_predictions_q7) use SMLAD. */
#if defined(__ARM_FEATURE_DSP)
#define CAPSNET_ARM_DSP 1
#include <arm_acle.h>
#elif defined(__aarch64__) && defined(__ARM_NEON)
#define CAPSNET_ARM_NEON 1
#include <arm_neon.h>
#elif defined(__riscv_vector) && defined(__riscv_v_intrinsic)
#define CAPSNET_RISCV_VECTOR 1
#include <riscv_vector.h>
#elif defined(__riscv_xcvsimd)
#define CAPSNET_RISCV_XCVSIMD 1
#endif
#endif

#if defined(CAPSNET_ARM_DSP) || defined(CAPSNET_RISCV_XCVSIMD)
/* Four int8 per 32-bit register. */
#define CAPSNET_PACKED_SIMD 1

/* Four int8 values from any address. Both kinds of core load a misaligned word in hardware (the
 * CV32E40P and RI5CY split it into two accesses), but a RISC-V compiler not told so
 * (-mno-strict-align, which defines __riscv_misaligned_fast) assembles the word from four byte
 * loads, shifts and ors: there one LW loads it. */
#if defined(CAPSNET_RISCV_XCVSIMD) && !defined(__riscv_misaligned_fast)
/* A word at any address, which may alias anything: the LW's memory operand. */
typedef int32_t capsnet_unaligned_word __attribute__((aligned(1), may_alias));
#endif

static inline int32_t capsnet_load_q7x4(const int8_t *p)
{
    int32_t value;
#if defined(CAPSNET_RISCV_XCVSIMD) && !defined(__riscv_misaligned_fast)
    __asm__("lw %0, %1" : "=r"(value) : "m"(*(const capsnet_unaligned_word *)(const void *)p));
#else
    __builtin_memcpy(&value, p, sizeof value);
#endif
    return value;
}

/* Four int8 values in the form capsnet_dot4_q7 takes. */
typedef struct {
    int32_t lo;
    int32_t hi;
} capsnet_q7x4;

#if defined(CAPSNET_ARM_DSP)
/* lo: bytes 0 and 2 of a word as two sign-extended halfwords; hi: bytes 1 and 3. */
static inline capsnet_q7x4 capsnet_unpack_q7x4(int32_t word)
{
    capsnet_q7x4 x;
    x.lo = (int32_t)__sxtb16(word);
    /* SXTB16 with its built-in rotation; GCC 12 would emit a separate ROR for __sxtb16(__ror(x, 8)). */
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(x.hi) : "r"(word));
    return x;
}

/* Four int8 values from any address, unpacked. */
static inline capsnet_q7x4 capsnet_prepare_q7x4(const int8_t *p)
{
    return capsnet_unpack_q7x4(capsnet_load_q7x4(p));
}

/* acc + the four products of a and b: two SMLAD. */
static inline int32_t capsnet_dot4_q7(int32_t acc, capsnet_q7x4 a, capsnet_q7x4 b)
{
    return __smlad(a.hi, b.hi, __smlad(a.lo, b.lo, acc));
}
#else
/* The packed word itself: CV.SDOTSP.B unpacks as it multiplies. */
static inline capsnet_q7x4 capsnet_unpack_q7x4(int32_t word)
{
    capsnet_q7x4 x;
    x.lo = word;
    x.hi = 0;
    return x;
}

static inline capsnet_q7x4 capsnet_prepare_q7x4(const int8_t *p)
{
    return capsnet_unpack_q7x4(capsnet_load_q7x4(p));
}

/* acc + the four products of a and b: one CV.SDOTSP.B. */
static inline int32_t capsnet_dot4_q7(int32_t acc, capsnet_q7x4 a, capsnet_q7x4 b)
{
    __asm__("cv.sdotsp.b %0, %1, %2" : "+r"(acc) : "r"(a.lo), "r"(b.lo));
    return acc;
}
#endif
/*
 * The convolution on these cores gathers two windows at a time into scratch (im2col), each group
 * of four values prepared once, so that the filters' inner loop prepares only its weights: on Arm,
 * per group, six loads and four SXTB16 feed eight SMLAD (sixteen products); with the filters
 * prepared too (a filter bank in spare scratch), four LDRD feed them. Helium cores (which also
 * have the DSP extension) keep their vector loop, which needs no unpacking.
 */
#if !defined(CAPSNET_ARM_MVE)
#define CAPSNET_CONV_IM2COL 1

#if defined(CAPSNET_ARM_DSP)
/* One group of capsnet_dot2x2_prepared_q7 in sixteen instructions: both windows' prepared words
 * with two LDRD, each filter's word unpacked into one register at a time, eight SMLAD. Written out
 * because GCC 12 spills in this loop whatever order the C gives (41 instructions for two groups,
 * against 34 here). */
#define CAPSNET_DOT2X2_GROUP(x, b0, b1)                                                                \
    do {                                                                                               \
        int32_t a0_, a1_, c0_, c1_, w_, t_;                                                            \
        __asm__("ldrd %[a0], %[a1], [%[px]], #8\n\t"                                                  \
                "ldrd %[c0], %[c1], [%[px]], #8\n\t"                                                  \
                "ldr %[w], [%[pb0]], #4\n\t"                                                          \
                "sxtb16 %[t], %[w]\n\t"                                                               \
                "smlad %[s00], %[a0], %[t], %[s00]\n\t"                                               \
                "smlad %[s10], %[c0], %[t], %[s10]\n\t"                                               \
                "sxtb16 %[t], %[w], ror #8\n\t"                                                       \
                "smlad %[s00], %[a1], %[t], %[s00]\n\t"                                               \
                "smlad %[s10], %[c1], %[t], %[s10]\n\t"                                               \
                "ldr %[w], [%[pb1]], #4\n\t"                                                          \
                "sxtb16 %[t], %[w]\n\t"                                                               \
                "smlad %[s01], %[a0], %[t], %[s01]\n\t"                                               \
                "smlad %[s11], %[c0], %[t], %[s11]\n\t"                                               \
                "sxtb16 %[t], %[w], ror #8\n\t"                                                       \
                "smlad %[s01], %[a1], %[t], %[s01]\n\t"                                               \
                "smlad %[s11], %[c1], %[t], %[s11]"                                                  \
                : [s00] "+r"(s00), [s01] "+r"(s01), [s10] "+r"(s10), [s11] "+r"(s11), [px] "+r"(x),       \
                  [pb0] "+r"(b0), [pb1] "+r"(b1), [a0] "=&r"(a0_), [a1] "=&r"(a1_), [c0] "=&r"(c0_),      \
                  [c1] "=&r"(c1_), [w] "=&r"(w_), [t] "=&r"(t_)                                        \
                :                                                                                      \
                : "memory");                                                                           \
    } while (0)
#else
/* One group of capsnet_dot2x2_prepared_q7: x[0] and x[1] against four weights of each filter. */
#define CAPSNET_DOT2X2_GROUP(x, b0, b1)                                                                \
    do {                                                                                               \
        const capsnet_q7x4 w0_ = capsnet_prepare_q7x4(b0);                                             \
        const capsnet_q7x4 w1_ = capsnet_prepare_q7x4(b1);                                             \
        s00 = capsnet_dot4_q7(s00, (x)[0], w0_);                                                       \
        s01 = capsnet_dot4_q7(s01, (x)[0], w1_);                                                       \
        s10 = capsnet_dot4_q7(s10, (x)[1], w0_);                                                       \
        s11 = capsnet_dot4_q7(s11, (x)[1], w1_);                                                       \
        (x) += 2;                                                                                      \
        (b0) += 4;                                                                                     \
        (b1) += 4;                                                                                     \
    } while (0)
#endif

/**
 * acc[2*r + c] += the products of window r with filter c, for r, c in {0, 1}, over `groups` groups
 * of four values: x holds both windows' groups prepared and interleaved (x[2g] is group g of window
 * 0, x[2g + 1] of window 1); b0 and b1 are the filters' int8 values, four per group.
 */
static inline void capsnet_dot2x2_prepared_q7(const capsnet_q7x4 *x, const int8_t *b0, const int8_t *b1,
                                              int32_t groups, int32_t acc[4])
{
    int32_t s00 = acc[0], s01 = acc[1], s10 = acc[2], s11 = acc[3];
    /* Two groups per pass halve the loop's own instructions (and the one spill GCC 12 leaves on Arm). */
    const capsnet_q7x4 *const pairs_end = x + 4 * (ptrdiff_t)(groups / 2);
    while (x != pairs_end) {
        CAPSNET_DOT2X2_GROUP(x, b0, b1);
        CAPSNET_DOT2X2_GROUP(x, b0, b1);
    }
    if (groups % 2 != 0) {
        CAPSNET_DOT2X2_GROUP(x, b0, b1);
    }
    acc[0] = s00;
    acc[1] = s01;
    acc[2] = s10;
    acc[3] = s11;
}
#undef CAPSNET_DOT2X2_GROUP

#if defined(CAPSNET_ARM_DSP)
/* One group of capsnet_dot2x2_banked_q7 in twelve instructions: four LDRD (both windows' and both
 * filters' prepared words) and eight SMLAD, no unpacking. */
#define CAPSNET_DOT2X2_BANKED_GROUP(x, b)                                                              \
    do {                                                                                               \
        int32_t a0_, a1_, c0_, c1_, w0_, w1_;                                                          \
        __asm__("ldrd %[a0], %[a1], [%[px]], #8\n\t"                                                  \
                "ldrd %[c0], %[c1], [%[px]], #8\n\t"                                                  \
                "ldrd %[w0], %[w1], [%[pb]], #8\n\t"                                                  \
                "smlad %[s00], %[a0], %[w0], %[s00]\n\t"                                              \
                "smlad %[s10], %[c0], %[w0], %[s10]\n\t"                                              \
                "smlad %[s00], %[a1], %[w1], %[s00]\n\t"                                              \
                "smlad %[s10], %[c1], %[w1], %[s10]\n\t"                                              \
                "ldrd %[w0], %[w1], [%[pb]], #8\n\t"                                                  \
                "smlad %[s01], %[a0], %[w0], %[s01]\n\t"                                              \
                "smlad %[s11], %[c0], %[w0], %[s11]\n\t"                                              \
                "smlad %[s01], %[a1], %[w1], %[s01]\n\t"                                              \
                "smlad %[s11], %[c1], %[w1], %[s11]"                                                   \
                : [s00] "+r"(s00), [s01] "+r"(s01), [s10] "+r"(s10), [s11] "+r"(s11), [px] "+r"(x),       \
                  [pb] "+r"(b), [a0] "=&r"(a0_), [a1] "=&r"(a1_), [c0] "=&r"(c0_), [c1] "=&r"(c1_),      \
                  [w0] "=&r"(w0_), [w1] "=&r"(w1_)                                                     \
                :                                                                                      \
                : "memory");                                                                           \
    } while (0)
#else
#define CAPSNET_DOT2X2_BANKED_GROUP(x, b)                                                              \
    do {                                                                                               \
        s00 = capsnet_dot4_q7(s00, (x)[0], (b)[0]);                                                    \
        s01 = capsnet_dot4_q7(s01, (x)[0], (b)[1]);                                                    \
        s10 = capsnet_dot4_q7(s10, (x)[1], (b)[0]);                                                    \
        s11 = capsnet_dot4_q7(s11, (x)[1], (b)[1]);                                                    \
        (x) += 2;                                                                                      \
        (b) += 2;                                                                                      \
    } while (0)
#endif

/**
 * acc[2*r + c] += the products of window r with filter c, for r, c in {0, 1}, over `groups` groups
 * of four values, both sides prepared: x as in capsnet_dot2x2_prepared_q7, b both filters' groups
 * interleaved the same way (b[2g] is group g of filter 0, b[2g + 1] of filter 1).
 */
static inline void capsnet_dot2x2_banked_q7(const capsnet_q7x4 *x, const capsnet_q7x4 *b, int32_t groups,
                                            int32_t acc[4])
{
    int32_t s00 = acc[0], s01 = acc[1], s10 = acc[2], s11 = acc[3];
    const capsnet_q7x4 *const pairs_end = x + 4 * (ptrdiff_t)(groups / 2);
    while (x != pairs_end) {
        CAPSNET_DOT2X2_BANKED_GROUP(x, b);
        CAPSNET_DOT2X2_BANKED_GROUP(x, b);
    }
    if (groups % 2 != 0) {
        CAPSNET_DOT2X2_BANKED_GROUP(x, b);
    }
    acc[0] = s00;
    acc[1] = s01;
    acc[2] = s10;
    acc[3] = s11;
}
#undef CAPSNET_DOT2X2_BANKED_GROUP
#endif
#endif /* CAPSNET_PACKED_SIMD */

#if defined(CAPSNET_ARM_NEON)
/* acc + the sixteen products of x and y, pairwise into int32 lanes: one int8 product fits an int16
 * lane (two need not), so SMULL and SADALP take the halves one at a time. */
static inline int32x4_t capsnet_neon_dot16(int32x4_t acc, int8x16_t x, int8x16_t y)
{
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(x), vget_low_s8(y)));
    return vpadalq_s16(acc, vmull_high_s8(x, y));
}

/* Each int32 lane saturated to the int8 range. */
static inline int32x4_t capsnet_neon_sat_q7(int32x4_t x)
{
    return vmaxq_s32(vminq_s32(x, vdupq_n_s32(127)), vdupq_n_s32(-128));
}

/* Four int32 lanes, each within the int8 range, stored as four bytes. */
static inline void capsnet_neon_store4_q7(int8_t *out, int32x4_t x)
{
    const int8x8_t bytes = vmovn_s16(vcombine_s16(vmovn_s32(x), vdup_n_s16(0)));
    vst1_lane_u32((uint32_t *)(void *)out, vreinterpret_u32_s8(bytes), 0);
}

/* Four bytes from any address, sign-extended into int32 lanes. */
static inline int32x4_t capsnet_neon_load4_q7(const int8_t *p)
{
    uint32_t word;
    __builtin_memcpy(&word, p, sizeof word);
    return vmovl_s16(vget_low_s16(vmovl_s8(vreinterpret_s8_u32(vdup_n_u32(word)))));
}
#endif

#if defined(CAPSNET_RISCV_VECTOR)
/* The sum of a vector of int32 lanes (the first vl of a register group of LMUL 4). */
static inline int32_t capsnet_rvv_sum(vint32m4_t lanes, size_t vl)
{
    return __riscv_vmv_x_s_i32m1_i32(__riscv_vredsum_vs_i32m4_i32m1(lanes, __riscv_vmv_s_x_i32m1(0, 1), vl));
}

/* int8 values widened to int16 lanes. */
static inline vint16m2_t capsnet_rvv_load(const int8_t *p, size_t vl)
{
    return __riscv_vsext_vf2_i16m2(__riscv_vle8_v_i8m1(p, vl), vl);
}

/* exp_q15[max - b] per lane: the differences, 0 to 255, are the table's indices. */
static inline vuint32m4_t capsnet_rvv_exp(const uint32_t *exp_q15, vint8m1_t max, const int8_t *b, size_t vl)
{
    const vuint8m1_t index = __riscv_vreinterpret_v_i8m1_u8m1(__riscv_vsub_vv_i8m1(max, __riscv_vle8_v_i8m1(b, vl), vl));
    return __riscv_vluxei32_v_u32m4(exp_q15, __riscv_vsll_vx_u32m4(__riscv_vzext_vf4_u32m4(index, vl), 2, vl), vl);
}

/* The softmax of vl columns of `rows` logits as vectors, one lane per column (VMAX for the maxima,
 * indexed loads for the table, capsnet_coupling_q7's rule with 2^frac for 128 by VDIVU): row r's
 * couplings, capped at 2^frac - 1, stored as int8 (frac 7) or, with `wide` (a constant where it is
 * inlined), int16 (frac 15), at out + r * stride elements. */
static inline __attribute__((always_inline)) void capsnet_rvv_softmax_columns(
    const uint32_t *exp_q15, const int8_t *b, ptrdiff_t stride, int32_t rows, void *out, size_t vl, int wide)
{
    vint8m1_t max = __riscv_vle8_v_i8m1(b, vl);
    for (int32_t r = 1; r < rows; r++) {
        max = __riscv_vmax_vv_i8m1(max, __riscv_vle8_v_i8m1(b + r * stride, vl), vl);
    }
    vuint32m4_t sum = __riscv_vmv_v_x_u32m4(0, vl);
    for (int32_t r = 0; r < rows; r++) {
        sum = __riscv_vadd_vv_u32m4(sum, capsnet_rvv_exp(exp_q15, max, b + r * stride, vl), vl);
    }
    const vuint32m4_t twice = __riscv_vsll_vx_u32m4(sum, 1, vl);
    const size_t frac = wide ? 15 : 7;
    for (int32_t r = 0; r < rows; r++) {
        const vuint32m4_t e = capsnet_rvv_exp(exp_q15, max, b + r * stride, vl);
        vuint32m4_t q = __riscv_vdivu_vv_u32m4(__riscv_vadd_vv_u32m4(__riscv_vsll_vx_u32m4(e, frac + 1, vl), sum, vl), twice, vl);
        q = __riscv_vsub_vv_u32m4(q, __riscv_vsrl_vx_u32m4(q, frac, vl), vl);
        const vuint16m2_t q16 = __riscv_vnsrl_wx_u16m2(q, 0, vl);
        if (wide) {
            __riscv_vse16_v_u16m2((uint16_t *)out + r * stride, q16, vl);
        } else {
            __riscv_vse8_v_u8m1((uint8_t *)out + r * stride, __riscv_vnsrl_wx_u8m1(q16, 0, vl), vl);
        }
    }
}
#endif

/** sum_i a[i]: the weighted sums of a routing iteration whose couplings are all equal. */
static inline int32_t capsnet_sum_q7(const int8_t *a, int32_t length)
{
    int32_t sum = 0;
    int32_t i = 0;
#if defined(CAPSNET_ARM_MVE)
    for (; i + 16 <= length; i += 16) {
        sum = vaddvaq_s8(sum, vldrbq_s8(a + i));
    }
#elif defined(CAPSNET_ARM_NEON)
    for (; i + 16 <= length; i += 16) {
        sum += vaddlvq_s8(vld1q_s8(a + i));
    }
#elif defined(CAPSNET_RISCV_VECTOR)
    /* VWADD.WV into int16 lanes, each the sum of at most 256 values, reduced (VWREDSUM) per block. */
    const size_t lanes = __riscv_vsetvlmax_e8m1();
    while (i < length) {
        const int32_t block = length - i < 256 * (int32_t)lanes ? length - i : 256 * (int32_t)lanes;
        vint16m2_t partial = __riscv_vmv_v_x_i16m2(0, lanes);
        const int32_t end = i + block;
        for (size_t vl; i < end; i += (int32_t)vl) {
            vl = __riscv_vsetvl_e8m1((size_t)(end - i));
            partial = __riscv_vwadd_wv_i16m2_tu(partial, partial, __riscv_vle8_v_i8m1(a + i, vl), vl);
        }
        sum += __riscv_vmv_x_s_i32m1_i32(
            __riscv_vwredsum_vs_i16m2_i32m1(partial, __riscv_vmv_s_x_i32m1(0, 1), lanes));
    }
#elif defined(CAPSNET_ARM_DSP)
    /* SXTAB16 adds bytes 0, 2 (and, rotated, 1, 3) of a word into two halfword lanes; a lane holds
     * the sum of up to 256 bytes, so the lanes are widened into `sum` every 256 words. */
    while (i + 4 <= length) {
        const int32_t words = (length - i) / 4 < 256 ? (length - i) / 4 : 256;
        uint32_t even = 0, odd = 0;
        const int8_t *p = a + i;
        /* Four words per pass: the loop's own instructions once per sixteen values. */
        const int8_t *const quads_end = p + 16 * (words / 4);
        for (; p != quads_end; p += 16) {
            const uint32_t word0 = (uint32_t)capsnet_load_q7x4(p);
            const uint32_t word1 = (uint32_t)capsnet_load_q7x4(p + 4);
            const uint32_t word2 = (uint32_t)capsnet_load_q7x4(p + 8);
            const uint32_t word3 = (uint32_t)capsnet_load_q7x4(p + 12);
            even = __sxtab16(__sxtab16(__sxtab16(__sxtab16(even, word0), word1), word2), word3);
            /* SXTAB16 with its built-in rotation, as in capsnet_unpack_q7x4. */
            __asm__("sxtab16 %0, %0, %1, ror #8\n\tsxtab16 %0, %0, %2, ror #8\n\t"
                    "sxtab16 %0, %0, %3, ror #8\n\tsxtab16 %0, %0, %4, ror #8"
                    : "+r"(odd)
                    : "r"(word0), "r"(word1), "r"(word2), "r"(word3));
        }
        for (int32_t k = 0; k < words % 4; k++, p += 4) {
            const uint32_t word = (uint32_t)capsnet_load_q7x4(p);
            even = __sxtab16(even, word);
            __asm__("sxtab16 %0, %0, %1, ror #8" : "+r"(odd) : "r"(word));
        }
        i += 4 * words;
        sum += (int16_t)(even & 0xffffu) + (int16_t)(even >> 16) + (int16_t)(odd & 0xffffu) + (int16_t)(odd >> 16);
    }
#endif
    for (; i < length; i++) {
        sum += a[i];
    }
    return sum;
}

/**
 * *acc0 += sum_i a[i] * b0[i] and *acc1 += sum_i a[i] * b1[i]: one input row against two filters,
 * which shares every load and unpack of `a`.
 */
static inline void capsnet_dot2_q7(const int8_t *a, const int8_t *b0, const int8_t *b1, int32_t length,
                                   int32_t *acc0, int32_t *acc1)
{
    int32_t sum0 = 0;
    int32_t sum1 = 0;
    int32_t i = 0;
#if defined(CAPSNET_ARM_MVE)
    for (; i < length; i += 16) {
        const mve_pred16_t active = vctp8q((uint32_t)(length - i));
        const int8x16_t va = vldrbq_z_s8(a + i, active);
        sum0 = vmladavaq_s8(sum0, va, vldrbq_z_s8(b0 + i, active));
        sum1 = vmladavaq_s8(sum1, va, vldrbq_z_s8(b1 + i, active));
    }
#elif defined(CAPSNET_ARM_NEON)
    int32x4_t v0 = vdupq_n_s32(0), v1 = v0;
    for (; i + 16 <= length; i += 16) {
        const int8x16_t x = vld1q_s8(a + i);
        v0 = capsnet_neon_dot16(v0, x, vld1q_s8(b0 + i));
        v1 = capsnet_neon_dot16(v1, x, vld1q_s8(b1 + i));
    }
    sum0 = vaddvq_s32(v0);
    sum1 = vaddvq_s32(v1);
#elif defined(CAPSNET_RISCV_VECTOR)
    const size_t lanes = __riscv_vsetvlmax_e16m2();
    vint32m4_t s0 = __riscv_vmv_v_x_i32m4(0, lanes);
    vint32m4_t s1 = __riscv_vmv_v_x_i32m4(0, lanes);
    for (size_t vl; i < length; i += (int32_t)vl) {
        vl = __riscv_vsetvl_e16m2((size_t)(length - i));
        const vint16m2_t va = capsnet_rvv_load(a + i, vl);
        s0 = __riscv_vwmacc_vv_i32m4_tu(s0, va, capsnet_rvv_load(b0 + i, vl), vl);
        s1 = __riscv_vwmacc_vv_i32m4_tu(s1, va, capsnet_rvv_load(b1 + i, vl), vl);
    }
    sum0 = capsnet_rvv_sum(s0, lanes);
    sum1 = capsnet_rvv_sum(s1, lanes);
#elif defined(CAPSNET_PACKED_SIMD)
    for (; i + 4 <= length; i += 4) {
        const capsnet_q7x4 x = capsnet_prepare_q7x4(a + i);
        sum0 = capsnet_dot4_q7(sum0, x, capsnet_prepare_q7x4(b0 + i));
        sum1 = capsnet_dot4_q7(sum1, x, capsnet_prepare_q7x4(b1 + i));
    }
#endif
    /* Four values per pass: the loop's own instructions once per eight products. */
    for (; i + 4 <= length; i += 4) {
        const int32_t x0 = a[i], x1 = a[i + 1], x2 = a[i + 2], x3 = a[i + 3];
        sum0 += x0 * b0[i] + x1 * b0[i + 1] + x2 * b0[i + 2] + x3 * b0[i + 3];
        sum1 += x0 * b1[i] + x1 * b1[i + 1] + x2 * b1[i + 2] + x3 * b1[i + 3];
    }
    for (; i < length; i++) {
        sum0 += (int32_t)a[i] * (int32_t)b0[i];
        sum1 += (int32_t)a[i] * (int32_t)b1[i];
    }
    *acc0 += sum0;
    *acc1 += sum1;
}

/**
 * acc[2*r + c] += sum_i a_r[i] * b_c[i] for r, c in {0, 1}: two input rows against two filters, so
 * that every load and unpack serves two products.
 */
static inline void capsnet_dot2x2_q7(const int8_t *a0, const int8_t *a1, const int8_t *b0, const int8_t *b1,
                                     int32_t length, int32_t acc[4])
{
    int32_t s00 = 0, s01 = 0, s10 = 0, s11 = 0;
    int32_t i = 0;
#if defined(CAPSNET_ARM_MVE)
    /* Whole vectors unpredicated (each predicated load costs a VPST more), then one predicated tail. */
    for (; i + 16 <= length; i += 16) {
        const int8x16_t x0 = vldrbq_s8(a0 + i);
        const int8x16_t x1 = vldrbq_s8(a1 + i);
        const int8x16_t w0 = vldrbq_s8(b0 + i);
        const int8x16_t w1 = vldrbq_s8(b1 + i);
        s00 = vmladavaq_s8(s00, x0, w0);
        s01 = vmladavaq_s8(s01, x0, w1);
        s10 = vmladavaq_s8(s10, x1, w0);
        s11 = vmladavaq_s8(s11, x1, w1);
    }
    if (i < length) {
        const mve_pred16_t active = vctp8q((uint32_t)(length - i));
        const int8x16_t x0 = vldrbq_z_s8(a0 + i, active);
        const int8x16_t x1 = vldrbq_z_s8(a1 + i, active);
        const int8x16_t w0 = vldrbq_z_s8(b0 + i, active);
        const int8x16_t w1 = vldrbq_z_s8(b1 + i, active);
        s00 = vmladavaq_s8(s00, x0, w0);
        s01 = vmladavaq_s8(s01, x0, w1);
        s10 = vmladavaq_s8(s10, x1, w0);
        s11 = vmladavaq_s8(s11, x1, w1);
        i = length;
    }
#elif defined(CAPSNET_ARM_NEON)
    int32x4_t v00 = vdupq_n_s32(0), v01 = v00, v10 = v00, v11 = v00;
    for (; i + 16 <= length; i += 16) {
        const int8x16_t x0 = vld1q_s8(a0 + i);
        const int8x16_t x1 = vld1q_s8(a1 + i);
        const int8x16_t w0 = vld1q_s8(b0 + i);
        const int8x16_t w1 = vld1q_s8(b1 + i);
        v00 = capsnet_neon_dot16(v00, x0, w0);
        v01 = capsnet_neon_dot16(v01, x0, w1);
        v10 = capsnet_neon_dot16(v10, x1, w0);
        v11 = capsnet_neon_dot16(v11, x1, w1);
    }
    s00 = vaddvq_s32(v00);
    s01 = vaddvq_s32(v01);
    s10 = vaddvq_s32(v10);
    s11 = vaddvq_s32(v11);
#elif defined(CAPSNET_RISCV_VECTOR)
    const size_t lanes = __riscv_vsetvlmax_e16m2();
    vint32m4_t v00 = __riscv_vmv_v_x_i32m4(0, lanes);
    vint32m4_t v01 = v00, v10 = v00, v11 = v00;
    for (size_t vl; i < length; i += (int32_t)vl) {
        vl = __riscv_vsetvl_e16m2((size_t)(length - i));
        const vint16m2_t x0 = capsnet_rvv_load(a0 + i, vl);
        const vint16m2_t x1 = capsnet_rvv_load(a1 + i, vl);
        const vint16m2_t w0 = capsnet_rvv_load(b0 + i, vl);
        const vint16m2_t w1 = capsnet_rvv_load(b1 + i, vl);
        v00 = __riscv_vwmacc_vv_i32m4_tu(v00, x0, w0, vl);
        v01 = __riscv_vwmacc_vv_i32m4_tu(v01, x0, w1, vl);
        v10 = __riscv_vwmacc_vv_i32m4_tu(v10, x1, w0, vl);
        v11 = __riscv_vwmacc_vv_i32m4_tu(v11, x1, w1, vl);
    }
    s00 = capsnet_rvv_sum(v00, lanes);
    s01 = capsnet_rvv_sum(v01, lanes);
    s10 = capsnet_rvv_sum(v10, lanes);
    s11 = capsnet_rvv_sum(v11, lanes);
#elif defined(CAPSNET_PACKED_SIMD)
    /* Advancing pointers and one filter at a time keep the Arm DSP path nearly spill-free. */
    const int8_t *p0 = a0, *p1 = a1, *q0 = b0, *q1 = b1;
    for (; i + 4 <= length; i += 4) {
        const capsnet_q7x4 x0 = capsnet_prepare_q7x4(p0);
        const capsnet_q7x4 x1 = capsnet_prepare_q7x4(p1);
        capsnet_q7x4 w = capsnet_prepare_q7x4(q0);
        s00 = capsnet_dot4_q7(s00, x0, w);
        s10 = capsnet_dot4_q7(s10, x1, w);
        w = capsnet_prepare_q7x4(q1);
        s01 = capsnet_dot4_q7(s01, x0, w);
        s11 = capsnet_dot4_q7(s11, x1, w);
        p0 += 4;
        p1 += 4;
        q0 += 4;
        q1 += 4;
    }
#endif
    for (; i < length; i++) {
        s00 += (int32_t)a0[i] * (int32_t)b0[i];
        s01 += (int32_t)a0[i] * (int32_t)b1[i];
        s10 += (int32_t)a1[i] * (int32_t)b0[i];
        s11 += (int32_t)a1[i] * (int32_t)b1[i];
    }
    acc[0] += s00;
    acc[1] += s01;
    acc[2] += s10;
    acc[3] += s11;
}

/** sum_i a[i] * b[i] for contiguous vectors. */
static inline int32_t capsnet_dot1_q7(const int8_t *a, const int8_t *b, int32_t length)
{
    int32_t sum = 0;
    int32_t i = 0;
#if defined(CAPSNET_ARM_MVE)
    for (; i < length; i += 16) {
        const mve_pred16_t active = vctp8q((uint32_t)(length - i));
        sum = vmladavaq_s8(sum, vldrbq_z_s8(a + i, active), vldrbq_z_s8(b + i, active));
    }
#elif defined(CAPSNET_ARM_NEON)
    int32x4_t lanes_sum = vdupq_n_s32(0);
    for (; i + 16 <= length; i += 16) {
        lanes_sum = capsnet_neon_dot16(lanes_sum, vld1q_s8(a + i), vld1q_s8(b + i));
    }
    if (i + 8 <= length) {
        lanes_sum = vpadalq_s16(lanes_sum, vmull_s8(vld1_s8(a + i), vld1_s8(b + i)));
        i += 8;
    }
    sum = vaddvq_s32(lanes_sum);
#elif defined(CAPSNET_RISCV_VECTOR)
    const size_t lanes = __riscv_vsetvlmax_e16m2();
    vint32m4_t lanes_sum = __riscv_vmv_v_x_i32m4(0, lanes);
    for (size_t vl; i < length; i += (int32_t)vl) {
        vl = __riscv_vsetvl_e16m2((size_t)(length - i));
        lanes_sum = __riscv_vwmacc_vv_i32m4_tu(lanes_sum, capsnet_rvv_load(a + i, vl), capsnet_rvv_load(b + i, vl), vl);
    }
    sum = capsnet_rvv_sum(lanes_sum, lanes);
#elif defined(CAPSNET_PACKED_SIMD)
    for (; i + 4 <= length; i += 4) {
        sum = capsnet_dot4_q7(sum, capsnet_prepare_q7x4(a + i), capsnet_prepare_q7x4(b + i));
    }
#endif
    for (; i + 4 <= length; i += 4) {
        sum += a[i] * b[i] + a[i + 1] * b[i + 1] + a[i + 2] * b[i + 2] + a[i + 3] * b[i + 3];
    }
    for (; i < length; i++) {
        sum += (int32_t)a[i] * (int32_t)b[i];
    }
    return sum;
}

/**
 * out[r] = sum_i c[i] * a[r * stride + i] for r < rows, i < length: one vector against the rows of
 * a matrix (the weighted sums of one output capsule: its couplings against its prediction rows).
 */
static inline void capsnet_vec_rows_dot_q7(const int8_t *c, const int8_t *a, ptrdiff_t stride, int32_t rows,
                                           int32_t length, int32_t *out)
{
    int32_t r = 0;
#if defined(CAPSNET_ARM_DSP) && !defined(CAPSNET_ARM_MVE)
    /* Three rows per pass over c, so that each word of c is unpacked once for six SMLAD. */
    for (; r + 3 <= rows; r += 3, a += 3 * stride) {
        int32_t s0 = 0, s1 = 0, s2 = 0;
        const int8_t *p = a;
        const int8_t *q = c;
        const int8_t *const end = c + (length & ~3);
        while (q != end) {
            const capsnet_q7x4 w = capsnet_prepare_q7x4(q);
            s0 = capsnet_dot4_q7(s0, capsnet_prepare_q7x4(p), w);
            s1 = capsnet_dot4_q7(s1, capsnet_prepare_q7x4(p + stride), w);
            s2 = capsnet_dot4_q7(s2, capsnet_prepare_q7x4(p + 2 * stride), w);
            p += 4;
            q += 4;
        }
        for (int32_t i = length & ~3; i < length; i++) {
            s0 += (int32_t)c[i] * (int32_t)a[i];
            s1 += (int32_t)c[i] * (int32_t)a[stride + i];
            s2 += (int32_t)c[i] * (int32_t)a[2 * stride + i];
        }
        out[r] = s0;
        out[r + 1] = s1;
        out[r + 2] = s2;
    }
#endif
    for (; r + 2 <= rows; r += 2, a += 2 * stride) {
        out[r] = 0;
        out[r + 1] = 0;
        capsnet_dot2_q7(c, a, a + stride, length, &out[r], &out[r + 1]);
    }
    if (r < rows) {
        out[r] = capsnet_dot1_q7(c, a, length);
    }
}


#if defined(CAPSNET_ARM_MVE)
/* Each int32 lane saturated to the int8 range: a saturating shift left by 24 saturates exactly the
 * lanes outside it, and the arithmetic shift back restores the others. */
static inline int32x4_t capsnet_mve_sat_q7(int32x4_t x)
{
    return vshrq_n_s32(vqshlq_n_s32(x, 24), 24);
}

/* The same to the int16 range. */
static inline int32x4_t capsnet_mve_sat_q15(int32x4_t x)
{
    return vshrq_n_s32(vqshlq_n_s32(x, 16), 16);
}
#endif

/** capsnet_saturate_q7 in one SSAT where the core has it, as an int32_t. */
static inline int32_t capsnet_sat_q7(int32_t x)
{
#if defined(CAPSNET_ARM_DSP)
    return __ssat(x, 8);
#else
    return capsnet_saturate_q7(x);
#endif
}

/** capsnet_saturate_q15 in one SSAT where the core has it, as an int32_t. */
static inline int32_t capsnet_sat_q15(int32_t x)
{
#if defined(CAPSNET_ARM_DSP)
    return __ssat(x, 16);
#else
    return capsnet_saturate_q15(x);
#endif
}

/* `out` moved on by `count` elements of int8, or with `wide` of int16. */
static inline __attribute__((always_inline)) void *capsnet_prediction_at(void *out, ptrdiff_t count, int wide)
{
    return (int8_t *)out + count * (wide ? (ptrdiff_t)sizeof(int16_t) : 1);
}

/* Stores a value already saturated to its width as element `index` of `out`: int8, or with `wide`
 * (a constant where it is inlined) int16. */
static inline __attribute__((always_inline)) void capsnet_store_saturated(void *out, ptrdiff_t index, int32_t x,
                                                                           int wide)
{
    if (wide) {
        ((int16_t *)out)[index] = (int16_t)x;
    } else {
        ((int8_t *)out)[index] = (int8_t)x;
    }
}

#if defined(CAPSNET_ARM_NEON)
/* Each lane saturated to the int8 range, or with `wide` the int16 range. */
static inline __attribute__((always_inline)) int32x4_t capsnet_neon_sat_prediction(int32x4_t x, int wide)
{
    return wide ? vminq_s32(vmaxq_s32(x, vdupq_n_s32(-32768)), vdupq_n_s32(32767)) : capsnet_neon_sat_q7(x);
}
#endif

/* Stores a prediction, already shifted and rounded, as element `index` of `out`: saturated to
 * int8, or with `wide` (a constant where it is inlined) to int16. The prediction loops below serve
 * both widths through it. */
static inline __attribute__((always_inline)) void capsnet_store_prediction(void *out, ptrdiff_t index, int32_t x,
                                                                            int wide)
{
    if (wide) {
        ((int16_t *)out)[index] = (int16_t)capsnet_sat_q15(x);
    } else {
        ((int8_t *)out)[index] = (int8_t)capsnet_sat_q7(x);
    }
}

/* capsnet_rows_dot_q7's body, inlined with a constant `length` for the common capsule sizes, so
 * that each row's dot product unrolls. */
static CAPSNET_INLINE_HOT __attribute__((always_inline)) void capsnet_rows_dot_body_q7(
    const int8_t *a, const int8_t *b, int32_t rows, int32_t length, int32_t *out)
{
    for (int32_t r = 0; r < rows; r++, a += length, b += length) {
        out[r] = capsnet_dot1_q7(a, b, length);
    }
}

/** out[r] = sum_k a[r][k] * b[r][k] for r < rows: row by row dot products of two [rows][length]
 * matrices (a capsule's agreements with each output capsule). */
static inline void capsnet_rows_dot_q7(const int8_t *a, const int8_t *b, int32_t rows, int32_t length, int32_t *out)
{
    switch (length) {
    case 4: capsnet_rows_dot_body_q7(a, b, rows, 4, out); return;
    case 6: capsnet_rows_dot_body_q7(a, b, rows, 6, out); return;
    case 8: capsnet_rows_dot_body_q7(a, b, rows, 8, out); return;
    case 16: capsnet_rows_dot_body_q7(a, b, rows, 16, out); return;
    default: capsnet_rows_dot_body_q7(a, b, rows, length, out); return;
    }
}

/**
 * out[r * out_stride] = requantize(sum_k w[r][k] * u[k], shift) for r < rows: a small row-major
 * matrix times a vector, one prediction vector u_hat = W u (capsnet_predictions_q7 makes many, and
 * has its own loops for capsules of four values).
 */
static inline void capsnet_mat_vec_q7(const int8_t *w, const int8_t *u, int32_t rows, int32_t length,
                                      int32_t shift, int8_t *out, ptrdiff_t out_stride)
{
    for (int32_t r = 0; r < rows; r++, out += out_stride) {
        *out = capsnet_requantize_q7(capsnet_dot1_q7(w + (ptrdiff_t)r * length, u, length), shift);
    }
}

/**
 * Where capsnet_predictions_q7 finds item n's weights and input capsule and puts its outputs:
 * W_n = w + n * w_step, u_n = u + n * u_step (0: the same capsule for every item), and output
 * value r of item n at out[r * row_stride + n * item_stride]. The kept-predictions routing runs
 * the input capsules of one output capsule ({rows * length, length, I, 1}); the lean-memory
 * routing the output capsules of one input capsule ({I * rows * length, 0, 1, rows}).
 */
typedef struct {
    ptrdiff_t w_step, u_step, row_stride, item_stride;
} capsnet_prediction_layout;

/* capsnet_predictions_q7 for input capsules of 4 values, u held in registers for all rows (on the
 * packed-SIMD paths prepared once, with the accumulator started at the rounding constant: four
 * products and it cannot overflow). Inlined with a constant `rows` for the common capsule sizes, so that the
 * row loop unrolls; `wide` stores int16 (capsnet_store_prediction). */
static CAPSNET_INLINE_HOT __attribute__((always_inline)) void capsnet_predictions4(
    const int8_t *w, const int8_t *u, int32_t count, int32_t rows, int32_t shift, void *out,
    const capsnet_prediction_layout *at, int aligned, int wide)
{
    (void)aligned;
    const ptrdiff_t w_step = at->w_step, u_step = at->u_step, row_stride = at->row_stride;
    const ptrdiff_t item_stride = at->item_stride;
#if defined(CAPSNET_PACKED_SIMD)
    const int32_t half = shift > 0 ? (int32_t)1 << (shift - 1) : 0;
#else
    const capsnet_rounding rounding = capsnet_rounding_of(shift);
#endif
    for (int32_t n = 0; n < count; n++, u += u_step, w += w_step, out = capsnet_prediction_at(out, item_stride, wide)) {
#if defined(CAPSNET_PACKED_SIMD)
        const capsnet_q7x4 x = capsnet_prepare_q7x4(u);
        int32_t r = 0;
        /* Rows in pairs, both weight words in one 8-byte load (LDRD on Arm) when every item's
         * weights are word-aligned (`aligned`, a constant where it is inlined). */
#pragma GCC unroll 8
        for (; r + 2 <= rows; r += 2) {
            int32_t words[2];
            if (aligned) {
                __builtin_memcpy(words, __builtin_assume_aligned(w + 4 * r, 4), sizeof words);
            } else {
                words[0] = capsnet_load_q7x4(w + 4 * r);
                words[1] = capsnet_load_q7x4(w + 4 * r + 4);
            }
            const int32_t sum0 = capsnet_dot4_q7(half, x, capsnet_unpack_q7x4(words[0]));
            const int32_t sum1 = capsnet_dot4_q7(half, x, capsnet_unpack_q7x4(words[1]));
            capsnet_store_prediction(out, r * row_stride, sum0 >> shift, wide);
            capsnet_store_prediction(out, (r + 1) * row_stride, sum1 >> shift, wide);
        }
        if (r < rows) {
            const int32_t sum = capsnet_dot4_q7(half, x, capsnet_prepare_q7x4(w + 4 * r));
            capsnet_store_prediction(out, r * row_stride, sum >> shift, wide);
        }
#else
        const int32_t u0 = u[0], u1 = u[1], u2 = u[2], u3 = u[3];
#pragma GCC unroll 16
        for (int32_t r = 0; r < rows; r++) {
            const int8_t *wr = w + 4 * r;
            const int32_t sum = wr[0] * u0 + wr[1] * u1 + wr[2] * u2 + wr[3] * u3;
            capsnet_store_prediction(out, r * row_stride, capsnet_round(sum, rounding), wide);
        }
#endif
    }
}

#if defined(CAPSNET_ARM_MVE)
/* capsnet_predictions_q7 for four-value capsules on Helium, one int32 lane per item: gathers pick
 * each item's k-th input value and each row's k-th weight (Helium multiplies vectors without
 * accumulating: VMUL and VADD); VRSHL by a negative amount rounds half up. Items whose outputs are
 * neighbours (`contiguous`, a constant where it is inlined) store a row with one VSTRB, the others
 * scatter it; `wide` (a constant too) stores int16 lanes. */
static CAPSNET_INLINE_HOT __attribute__((always_inline)) void capsnet_mve_predictions4(
    const int8_t *w, const int8_t *u, int32_t count, int32_t rows, int32_t shift, void *out,
    const capsnet_prediction_layout *at, int contiguous, int wide)
{
    const uint32x4_t lane = vidupq_n_u32(0, 1);
    const uint32x4_t u_offsets = vmulq_n_u32(lane, (uint32_t)at->u_step);
    const uint32x4_t w_offsets = vmulq_n_u32(lane, (uint32_t)at->w_step);
    const uint32x4_t out_offsets = vmulq_n_u32(lane, (uint32_t)at->item_stride);
    for (int32_t n = 0; n < count; n += 4) {
        /* Whole vectors unpredicated (a predicated load costs a VPST more), then the tail. */
        const mve_pred16_t active = n + 4 <= count ? vctp32q(4) : vctp32q((uint32_t)(count - n));
        const int8_t *un = u + n * at->u_step;
        const int32x4_t u0 = vldrbq_gather_offset_z_s32(un, u_offsets, active);
        const int32x4_t u1 = vldrbq_gather_offset_z_s32(un + 1, u_offsets, active);
        const int32x4_t u2 = vldrbq_gather_offset_z_s32(un + 2, u_offsets, active);
        const int32x4_t u3 = vldrbq_gather_offset_z_s32(un + 3, u_offsets, active);
        const int8_t *wn = w + n * at->w_step;
        int8_t *on = (int8_t *)out + n * at->item_stride;
        int16_t *on16 = (int16_t *)out + n * at->item_stride;
        if (n + 4 <= count) {
            for (int32_t r = 0; r < rows; r++) {
                const int8_t *wr = wn + 4 * r;
                int32x4_t sum = vmulq_s32(u0, vldrbq_gather_offset_s32(wr, w_offsets));
                sum = vaddq_s32(sum, vmulq_s32(u1, vldrbq_gather_offset_s32(wr + 1, w_offsets)));
                sum = vaddq_s32(sum, vmulq_s32(u2, vldrbq_gather_offset_s32(wr + 2, w_offsets)));
                sum = vaddq_s32(sum, vmulq_s32(u3, vldrbq_gather_offset_s32(wr + 3, w_offsets)));
                const int32x4_t rounded = vrshlq_n_s32(sum, -shift);
                if (wide && contiguous) {
                    vstrhq_s32(on16 + r * at->row_stride, capsnet_mve_sat_q15(rounded));
                } else if (wide) {
                    vstrhq_scatter_shifted_offset_s32(on16 + r * at->row_stride, out_offsets, capsnet_mve_sat_q15(rounded));
                } else if (contiguous) {
                    vstrbq_s32(on + r * at->row_stride, capsnet_mve_sat_q7(rounded));
                } else {
                    vstrbq_scatter_offset_s32(on + r * at->row_stride, out_offsets, capsnet_mve_sat_q7(rounded));
                }
            }
            continue;
        }
        for (int32_t r = 0; r < rows; r++) {
            const int8_t *wr = wn + 4 * r;
            int32x4_t sum = vmulq_s32(u0, vldrbq_gather_offset_z_s32(wr, w_offsets, active));
            sum = vaddq_s32(sum, vmulq_s32(u1, vldrbq_gather_offset_z_s32(wr + 1, w_offsets, active)));
            sum = vaddq_s32(sum, vmulq_s32(u2, vldrbq_gather_offset_z_s32(wr + 2, w_offsets, active)));
            sum = vaddq_s32(sum, vmulq_s32(u3, vldrbq_gather_offset_z_s32(wr + 3, w_offsets, active)));
            const int32x4_t rounded = vrshlq_n_s32(sum, -shift);
            if (wide) {
                vstrhq_scatter_shifted_offset_p_s32(on16 + r * at->row_stride, out_offsets,
                                                    capsnet_mve_sat_q15(rounded), active);
            } else {
                vstrbq_scatter_offset_p_s32(on + r * at->row_stride, out_offsets, capsnet_mve_sat_q7(rounded), active);
            }
        }
    }
}
#endif

/* capsnet_predictions_q7 out of line (SupportFunctions/capsnet_predictions_outline_q7.c), for a
 * caller that must not add an inlined copy to its file: the lean routing with per-capsule formats. */
void capsnet_predictions_outline_q7(const int8_t *w, const int8_t *u, int32_t count, int32_t rows, int32_t length,
                                    int32_t shift, int8_t *out, const capsnet_prediction_layout *at);

/* capsnet_predictions_q7 (int8 outputs) and capsnet_predictions_q15 (int16, `wide`): one body, the
 * width a constant where it is inlined. */
static CAPSNET_INLINE_HOT __attribute__((always_inline)) void capsnet_predictions_body(
    const int8_t *w, const int8_t *u, int32_t count, int32_t rows, int32_t length, int32_t shift, void *out,
    const capsnet_prediction_layout *at, int wide)
{
#if defined(CAPSNET_ARM_MVE)
    if (length == 4) {
        if (at->item_stride == 1) {
            capsnet_mve_predictions4(w, u, count, rows, shift, out, at, 1, wide);
        } else {
            capsnet_mve_predictions4(w, u, count, rows, shift, out, at, 0, wide);
        }
        return;
    }
#endif
#if defined(CAPSNET_ARM_NEON)
    /* Four-value capsules, four rows at a time: sixteen weights against the capsule repeated four
     * times, summed pairwise twice into the four rows; SRSHL by a negative amount rounds half up. */
    if (length == 4) {
        const int32x4_t right = vdupq_n_s32(-shift);
        const ptrdiff_t rs = at->row_stride;
        for (int32_t n = 0; n < count; n++, u += at->u_step, w += at->w_step,
                     out = capsnet_prediction_at(out, at->item_stride, wide)) {
            uint32_t word;
            __builtin_memcpy(&word, u, sizeof word);
            const int8x16_t x = vreinterpretq_s8_u32(vdupq_n_u32(word));
            int32_t r = 0;
            for (; r + 4 <= rows; r += 4) {
                const int8x16_t wq = vld1q_s8(w + 4 * r);
                const int32x4_t sums = vpaddq_s32(vpaddlq_s16(vmull_s8(vget_low_s8(wq), vget_low_s8(x))),
                                                  vpaddlq_s16(vmull_high_s8(wq, x)));
                const int32x4_t q = capsnet_neon_sat_prediction(vrshlq_s32(sums, right), wide);
                capsnet_store_saturated(out, r * rs, vgetq_lane_s32(q, 0), wide);
                capsnet_store_saturated(out, (r + 1) * rs, vgetq_lane_s32(q, 1), wide);
                capsnet_store_saturated(out, (r + 2) * rs, vgetq_lane_s32(q, 2), wide);
                capsnet_store_saturated(out, (r + 3) * rs, vgetq_lane_s32(q, 3), wide);
            }
            if (r + 2 <= rows) {
                const int32x4_t pairs = vpaddlq_s16(vmull_s8(vld1_s8(w + 4 * r), vget_low_s8(x)));
                const int32x4_t q = capsnet_neon_sat_prediction(vrshlq_s32(vpaddq_s32(pairs, pairs), right), wide);
                capsnet_store_saturated(out, r * rs, vgetq_lane_s32(q, 0), wide);
                capsnet_store_saturated(out, (r + 1) * rs, vgetq_lane_s32(q, 1), wide);
                r += 2;
            }
            if (r < rows) {
                const int8_t *wr = w + 4 * r;
                const int32_t sum = wr[0] * u[0] + wr[1] * u[1] + wr[2] * u[2] + wr[3] * u[3];
                capsnet_store_prediction(out, r * rs, capsnet_round_shift_s32(sum, shift), wide);
            }
        }
        return;
    }
#endif
#if defined(CAPSNET_RISCV_VECTOR)
    /* Four-value capsules, one lane per item: strided loads gather each item's k-th input value
     * and each row's k-th weight, VNCLIP rounds half up (RNU) and saturates twice (to 16 bits,
     * then 8), which is the requantization; a strided store puts each row's values in place. */
    if (length == 4) {
        const ptrdiff_t w_step = at->w_step, u_step = at->u_step, item_stride = at->item_stride;
        for (size_t vl; count > 0; count -= (int32_t)vl, u += u_step * (ptrdiff_t)vl, w += w_step * (ptrdiff_t)vl,
                    out = capsnet_prediction_at(out, item_stride * (ptrdiff_t)vl, wide)) {
            vl = __riscv_vsetvl_e32m4((size_t)count);
            const vint16m2_t u0 = __riscv_vsext_vf2_i16m2(__riscv_vlse8_v_i8m1(u, u_step, vl), vl);
            const vint16m2_t u1 = __riscv_vsext_vf2_i16m2(__riscv_vlse8_v_i8m1(u + 1, u_step, vl), vl);
            const vint16m2_t u2 = __riscv_vsext_vf2_i16m2(__riscv_vlse8_v_i8m1(u + 2, u_step, vl), vl);
            const vint16m2_t u3 = __riscv_vsext_vf2_i16m2(__riscv_vlse8_v_i8m1(u + 3, u_step, vl), vl);
            for (int32_t r = 0; r < rows; r++) {
                const int8_t *wr = w + 4 * r;
                vint32m4_t sum = __riscv_vwmul_vv_i32m4(u0, __riscv_vsext_vf2_i16m2(__riscv_vlse8_v_i8m1(wr, w_step, vl), vl), vl);
                sum = __riscv_vwmacc_vv_i32m4(sum, u1, __riscv_vsext_vf2_i16m2(__riscv_vlse8_v_i8m1(wr + 1, w_step, vl), vl), vl);
                sum = __riscv_vwmacc_vv_i32m4(sum, u2, __riscv_vsext_vf2_i16m2(__riscv_vlse8_v_i8m1(wr + 2, w_step, vl), vl), vl);
                sum = __riscv_vwmacc_vv_i32m4(sum, u3, __riscv_vsext_vf2_i16m2(__riscv_vlse8_v_i8m1(wr + 3, w_step, vl), vl), vl);
                const vint16m2_t half = __riscv_vnclip_wx_i16m2(sum, (size_t)shift, __RISCV_VXRM_RNU, vl);
                if (wide) {
                    __riscv_vsse16_v_i16m2((int16_t *)out + r * at->row_stride,
                                           item_stride * (ptrdiff_t)sizeof(int16_t), half, vl);
                } else {
                    __riscv_vsse8_v_i8m1((int8_t *)out + r * at->row_stride, item_stride,
                                         __riscv_vnclip_wx_i8m1(half, 0, __RISCV_VXRM_RNU, vl), vl);
                }
            }
        }
        return;
    }
#endif
    /* Four-value capsules are too short for vectors along a capsule; their own loop saves the
     * general one's overhead per row. */
#if !defined(CAPSNET_ARM_MVE) && !defined(CAPSNET_ARM_NEON) && !defined(CAPSNET_RISCV_VECTOR)
    if (length == 4) {
        /* The kept and the lean routing's layouts spelt out as constants, so that their steps fold
         * into the loads and stores. */
#define CAPSNET_PREDICTIONS4_CASE(n)                                                                    \
    case n:                                                                                             \
        if (at->u_step == 4 && at->w_step == 4 * (n) && at->item_stride == 1) {                        \
            const capsnet_prediction_layout along_inputs = {4 * (n), 4, at->row_stride, 1};             \
            if (((uintptr_t)w & 3u) == 0) {                                                             \
                capsnet_predictions4(w, u, count, n, shift, out, &along_inputs, 1, wide);                \
            } else {                                                                                    \
                capsnet_predictions4(w, u, count, n, shift, out, &along_inputs, 0, wide);                \
            }                                                                                           \
        } else if (at->u_step == 0 && at->row_stride == 1 && at->item_stride == (n)) {                 \
            /* The lean routing's layout: one capsule against every output capsule's matrix. */         \
            const capsnet_prediction_layout along_outputs = {at->w_step, 0, 1, n};                      \
            capsnet_predictions4(w, u, count, n, shift, out, &along_outputs, 0, wide);                   \
        } else {                                                                                        \
            capsnet_predictions4(w, u, count, n, shift, out, at, 0, wide);                               \
        }                                                                                               \
        return
        switch (rows) {
            CAPSNET_PREDICTIONS4_CASE(4);
            CAPSNET_PREDICTIONS4_CASE(6);
            CAPSNET_PREDICTIONS4_CASE(8);
            CAPSNET_PREDICTIONS4_CASE(16);
        default: capsnet_predictions4(w, u, count, rows, shift, out, at, 0, wide); return;
        }
#undef CAPSNET_PREDICTIONS4_CASE
    }
#endif
    /* Local copies: the stores below could alias `at` for all the compiler knows. */
    const ptrdiff_t w_step = at->w_step, u_step = at->u_step, row_stride = at->row_stride;
    const ptrdiff_t item_stride = at->item_stride;
    if (!wide) {
        int8_t *out8 = (int8_t *)out;
        for (int32_t n = 0; n < count; n++, w += w_step, u += u_step, out8 += item_stride) {
            capsnet_mat_vec_q7(w, u, rows, length, shift, out8, row_stride);
        }
        return;
    }
    for (int32_t n = 0; n < count; n++, w += w_step, u += u_step, out = capsnet_prediction_at(out, item_stride, 1)) {
        for (int32_t r = 0; r < rows; r++) {
            capsnet_store_prediction(out, r * row_stride,
                                     capsnet_round_shift_s32(capsnet_dot1_q7(w + (ptrdiff_t)r * length, u, length), shift), 1);
        }
    }
}

/**
 * The predictions of `count` items, each a [rows][length] weight matrix times an input capsule:
 * out[r * row_stride + n * item_stride] = requantize(sum_k W_n[r][k] * u_n[k], shift) for n < count
 * and r < rows, W_n and u_n where `at` says.
 */
static inline void capsnet_predictions_q7(const int8_t *w, const int8_t *u, int32_t count, int32_t rows,
                                          int32_t length, int32_t shift, int8_t *out,
                                          const capsnet_prediction_layout *at)
{
    capsnet_predictions_body(w, u, count, rows, length, shift, out, at, 0);
}

/** capsnet_predictions_q7 into int16 (the 16-bit routing): each sum rounded by `shift` and saturated
 * to the int16 range. */
static inline void capsnet_predictions_q15(const int8_t *w, const int8_t *u, int32_t count, int32_t rows,
                                           int32_t length, int32_t shift, int16_t *out,
                                           const capsnet_prediction_layout *at)
{
    capsnet_predictions_body(w, u, count, rows, length, shift, out, at, 1);
}

#if defined(CAPSNET_ARM_DSP)
/* capsnet_mat_t_vec_q7's columns in fours: SXTB16 splits a word of a row into columns 0, 2 and 1, 3,
 * and SMLABB / SMLATB multiply one halfword each by the row's value into its column's register.
 * Inlined with a constant `rows` for the common capsule sizes, so the row loop unrolls. */
static CAPSNET_INLINE_HOT __attribute__((always_inline)) int32_t capsnet_mat_t_vec4_q7(
    const int8_t *m, ptrdiff_t stride, const int8_t *v, int32_t rows, int32_t cols, int32_t *out)
{
    int32_t c = 0;
    for (; c + 4 <= cols; c += 4) {
        int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        const int8_t *p = m + c;
#pragma GCC unroll 16
        for (int32_t r = 0; r < rows; r++) {
            const capsnet_q7x4 x = capsnet_prepare_q7x4(p + r * stride);
            const int32_t scale = v[r];
            s0 = __smlabb(x.lo, scale, s0);
            s2 = __smlatb(x.lo, scale, s2);
            s1 = __smlabb(x.hi, scale, s1);
            s3 = __smlatb(x.hi, scale, s3);
        }
        out[c] = s0;
        out[c + 1] = s1;
        out[c + 2] = s2;
        out[c + 3] = s3;
    }
    return c;
}
#elif defined(CAPSNET_RISCV_XCVSIMD)
/* Interleaves the bytes of two words, `mask` naming each result byte: its low two bits the byte,
 * bit 2 set for one of b's, clear for one of a's (CV.SHUFFLE2.B, which overwrites a). */
static inline int32_t capsnet_shuffle2_q7x4(int32_t a, int32_t b, int32_t mask)
{
    __asm__("cv.shuffle2.b %0, %1, %2" : "+r"(a) : "r"(b), "r"(mask));
    return a;
}

/* capsnet_mat_t_vec_q7's columns in fours: the words of four rows, transposed (CV.SHUFFLE2.B pairs
 * the rows' bytes, CV.PACK and CV.PACK.H join the pairs) into each column's four rows, then one
 * CV.SDOTSP.B per column against four values of v: 18 instructions for 16 products. Inlined with a
 * constant `rows` for the common capsule sizes, so the row loop unrolls. */
static CAPSNET_INLINE_HOT __attribute__((always_inline)) int32_t capsnet_mat_t_vec4_q7(
    const int8_t *m, ptrdiff_t stride, const int8_t *v, int32_t rows, int32_t cols, int32_t *out)
{
    int32_t c = 0;
    for (; c + 4 <= cols; c += 4) {
        int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        const int8_t *p = m + c;
        int32_t r = 0;
#pragma GCC unroll 4
        for (; r + 4 <= rows; r += 4, p += 4 * stride) {
            const int32_t w0 = capsnet_load_q7x4(p), w1 = capsnet_load_q7x4(p + stride);
            const int32_t w2 = capsnet_load_q7x4(p + 2 * stride), w3 = capsnet_load_q7x4(p + 3 * stride);
            /* Columns 0 and 1 of rows r, r + 1 (then r + 2, r + 3), and columns 2 and 3. */
            const int32_t low01 = capsnet_shuffle2_q7x4(w0, w1, 0x05010400), high01 = capsnet_shuffle2_q7x4(w0, w1, 0x07030602);
            const int32_t low23 = capsnet_shuffle2_q7x4(w2, w3, 0x05010400), high23 = capsnet_shuffle2_q7x4(w2, w3, 0x07030602);
            int32_t col0, col1, col2, col3;
            __asm__("cv.pack %0, %1, %2" : "=r"(col0) : "r"(low23), "r"(low01));
            __asm__("cv.pack.h %0, %1, %2" : "=r"(col1) : "r"(low23), "r"(low01));
            __asm__("cv.pack %0, %1, %2" : "=r"(col2) : "r"(high23), "r"(high01));
            __asm__("cv.pack.h %0, %1, %2" : "=r"(col3) : "r"(high23), "r"(high01));
            const capsnet_q7x4 scales = capsnet_prepare_q7x4(v + r);
            s0 = capsnet_dot4_q7(s0, capsnet_unpack_q7x4(col0), scales);
            s1 = capsnet_dot4_q7(s1, capsnet_unpack_q7x4(col1), scales);
            s2 = capsnet_dot4_q7(s2, capsnet_unpack_q7x4(col2), scales);
            s3 = capsnet_dot4_q7(s3, capsnet_unpack_q7x4(col3), scales);
        }
        for (; r < rows; r++, p += stride) {
            const int32_t scale = v[r];
            s0 += scale * p[0];
            s1 += scale * p[1];
            s2 += scale * p[2];
            s3 += scale * p[3];
        }
        out[c] = s0;
        out[c + 1] = s1;
        out[c + 2] = s2;
        out[c + 3] = s3;
    }
    return c;
}
#endif

/**
 * out[c] = sum_r v[r] * m[r * stride + c] for c < cols: a vector times the rows of an int8 matrix,
 * each column its own sum (the agreements of one output capsule with many input capsules, its
 * predictions stored row by row). The caller keeps the sums in range.
 */
static inline void capsnet_mat_t_vec_q7(const int8_t *m, ptrdiff_t stride, const int8_t *v, int32_t rows,
                                        int32_t cols, int32_t *out)
{
    int32_t c = 0;
#if defined(CAPSNET_ARM_MVE)
    /* Sixteen columns per pass in four vectors of int32 lanes, then a predicated vector per four. */
    for (; c + 16 <= cols; c += 16) {
        int32x4_t s0 = vdupq_n_s32(0), s1 = s0, s2 = s0, s3 = s0;
        const int8_t *p = m + c;
        for (int32_t r = 0; r < rows; r++, p += stride) {
            const int32_t scale = v[r];
            s0 = vmlaq_n_s32(s0, vldrbq_s32(p), scale);
            s1 = vmlaq_n_s32(s1, vldrbq_s32(p + 4), scale);
            s2 = vmlaq_n_s32(s2, vldrbq_s32(p + 8), scale);
            s3 = vmlaq_n_s32(s3, vldrbq_s32(p + 12), scale);
        }
        vstrwq_s32(out + c, s0);
        vstrwq_s32(out + c + 4, s1);
        vstrwq_s32(out + c + 8, s2);
        vstrwq_s32(out + c + 12, s3);
    }
    for (; c < cols; c += 4) {
        const mve_pred16_t active = vctp32q((uint32_t)(cols - c));
        int32x4_t sum = vdupq_n_s32(0);
        for (int32_t r = 0; r < rows; r++) {
            sum = vmlaq_n_s32(sum, vldrbq_z_s32(m + r * stride + c, active), v[r]);
        }
        vstrwq_p_s32(out + c, sum, active);
    }
#elif defined(CAPSNET_ARM_NEON)
    /* Eight columns per pass: SMLAL by the row's value into two vectors of int32 lanes. */
    for (; c + 8 <= cols; c += 8) {
        int32x4_t s0 = vdupq_n_s32(0), s1 = s0;
        const int8_t *p = m + c;
        for (int32_t r = 0; r < rows; r++, p += stride) {
            const int16x8_t x = vmovl_s8(vld1_s8(p));
            s0 = vmlal_n_s16(s0, vget_low_s16(x), (int16_t)v[r]);
            s1 = vmlal_high_n_s16(s1, x, (int16_t)v[r]);
        }
        vst1q_s32(out + c, s0);
        vst1q_s32(out + c + 4, s1);
    }
#elif defined(CAPSNET_RISCV_VECTOR)
    for (size_t vl; c < cols; c += (int32_t)vl) {
        vl = __riscv_vsetvl_e16m2((size_t)(cols - c));
        vint32m4_t sum = __riscv_vmv_v_x_i32m4(0, vl);
        for (int32_t r = 0; r < rows; r++) {
            sum = __riscv_vwmacc_vx_i32m4(sum, (int16_t)v[r], capsnet_rvv_load(m + r * stride + c, vl), vl);
        }
        __riscv_vse32_v_i32m4(out + c, sum, vl);
    }
#elif defined(CAPSNET_PACKED_SIMD)
    switch (rows) {
    case 4: c = capsnet_mat_t_vec4_q7(m, stride, v, 4, cols, out); break;
    case 6: c = capsnet_mat_t_vec4_q7(m, stride, v, 6, cols, out); break;
    case 8: c = capsnet_mat_t_vec4_q7(m, stride, v, 8, cols, out); break;
    case 16: c = capsnet_mat_t_vec4_q7(m, stride, v, 16, cols, out); break;
    default: c = capsnet_mat_t_vec4_q7(m, stride, v, rows, cols, out); break;
    }
#endif
    /* Four columns per pass: each row's value loaded once for four products. */
    for (; c + 4 <= cols; c += 4) {
        int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        const int8_t *p = m + c;
        for (int32_t r = 0; r < rows; r++, p += stride) {
            const int32_t scale = v[r];
            s0 += scale * p[0];
            s1 += scale * p[1];
            s2 += scale * p[2];
            s3 += scale * p[3];
        }
        out[c] = s0;
        out[c + 1] = s1;
        out[c + 2] = s2;
        out[c + 3] = s3;
    }
    for (; c < cols; c++) {
        int32_t sum = 0;
        for (int32_t r = 0; r < rows; r++) {
            sum += (int32_t)v[r] * (int32_t)m[r * stride + c];
        }
        out[c] = sum;
    }
}

/**
 * The routing's logit update, b' = requantize(b * logit_scale + requantize(sum, agreement_shift) *
 * agreement_scale, update_shift), each requantization rounding half up and saturating to int8
 * (capsnet_requantize_q7). The sums and the scaled terms stay below INT32_MAX, as the capsule
 * layer's checks guarantee.
 */
typedef struct {
    int32_t agreement_shift, logit_scale, agreement_scale, update_shift;
} capsnet_logit_update;

/** b[k] updated with the agreement sums[k] (capsnet_logit_update), for k < count. */
static inline void capsnet_logits_q7(const int32_t *sums, int32_t count, const capsnet_logit_update *update, int8_t *b)
{
    const int32_t agreement_shift = update->agreement_shift, update_shift = update->update_shift;
    const int32_t logit_scale = update->logit_scale, agreement_scale = update->agreement_scale;
    int32_t k = 0;
#if defined(CAPSNET_ARM_MVE)
    /* VRSHL by a negative amount is the rounding right shift. */
    for (; k < count; k += 4) {
        const mve_pred16_t active = vctp32q((uint32_t)(count - k));
        const int32x4_t a = capsnet_mve_sat_q7(vrshlq_n_s32(vldrwq_z_s32(sums + k, active), -agreement_shift));
        const int32x4_t x = vmlaq_n_s32(vmulq_n_s32(vldrbq_z_s32(b + k, active), logit_scale), a, agreement_scale);
        vstrbq_p_s32(b + k, capsnet_mve_sat_q7(vrshlq_n_s32(x, -update_shift)), active);
    }
#elif defined(CAPSNET_ARM_NEON)
    /* SRSHL by a negative amount is the rounding right shift. */
    const int32x4_t agreement_right = vdupq_n_s32(-agreement_shift), update_right = vdupq_n_s32(-update_shift);
    for (; k + 4 <= count; k += 4) {
        const int32x4_t a = capsnet_neon_sat_q7(vrshlq_s32(vld1q_s32(sums + k), agreement_right));
        const int32x4_t x = vmlaq_n_s32(vmulq_n_s32(capsnet_neon_load4_q7(b + k), logit_scale), a, agreement_scale);
        capsnet_neon_store4_q7(b + k, capsnet_neon_sat_q7(vrshlq_s32(x, update_right)));
    }
#elif defined(CAPSNET_RISCV_VECTOR)
    /* VNCLIP rounds half up (RNU) and saturates, to 16 bits and then to 8. */
    for (size_t vl; k < count; k += (int32_t)vl) {
        vl = __riscv_vsetvl_e32m4((size_t)(count - k));
        const vint16m2_t a16 = __riscv_vnclip_wx_i16m2(__riscv_vle32_v_i32m4(sums + k, vl), (size_t)agreement_shift,
                                                        __RISCV_VXRM_RNU, vl);
        const vint32m4_t a = __riscv_vsext_vf4_i32m4(__riscv_vnclip_wx_i8m1(a16, 0, __RISCV_VXRM_RNU, vl), vl);
        vint32m4_t x = __riscv_vmul_vx_i32m4(__riscv_vsext_vf4_i32m4(__riscv_vle8_v_i8m1(b + k, vl), vl), logit_scale, vl);
        x = __riscv_vmacc_vx_i32m4(x, agreement_scale, a, vl);
        const vint16m2_t x16 = __riscv_vnclip_wx_i16m2(x, (size_t)update_shift, __RISCV_VXRM_RNU, vl);
        __riscv_vse8_v_i8m1(b + k, __riscv_vnclip_wx_i8m1(x16, 0, __RISCV_VXRM_RNU, vl), vl);
    }
#endif
    const capsnet_rounding agreement_rounding = capsnet_rounding_of(agreement_shift);
    const capsnet_rounding update_rounding = capsnet_rounding_of(update_shift);
    for (; k < count; k++) {
        const int32_t a = capsnet_sat_q7(capsnet_round(sums[k], agreement_rounding));
        b[k] = (int8_t)capsnet_sat_q7(capsnet_round(b[k] * logit_scale + a * agreement_scale, update_rounding));
    }
}

#if defined(CAPSNET_ARM_DSP)
/* One pair of rows of capsnet_agreement_logits4_q7, at p and p + stride, into the sums of four
 * columns, then p moved two rows on. PKH rearranges the rows' words a (row r) and b (row r + 1) into
 * the bytes a0 a1 b0 b1 and a2 a3 b2 b3, so that SXTB16 gives each column's pair of rows as two
 * halfwords, (a0, b0) and, rotated, (a1, b1), for one SMLAD against vv = (v_r, v_r+1): thirteen
 * instructions for eight products. Written out because GCC 12 spills the sums around it. */
#define CAPSNET_AGREEMENT_ROW_PAIR(p, stride, vv)                                                     \
    do {                                                                                               \
        int32_t a_, b_, t_;                                                                            \
        __asm__("ldr %[a], [%[p]]\n\t"                                                               \
                "ldr %[b], [%[p], %[st]]\n\t"                                                        \
                "add %[p], %[p], %[st], lsl #1\n\t"                                                  \
                "pkhbt %[t], %[a], %[b], lsl #16\n\t"                                                \
                "pkhtb %[b], %[b], %[a], asr #16\n\t"                                                \
                "sxtb16 %[a], %[t]\n\t"                                                              \
                "smlad %[s0], %[a], %[v], %[s0]\n\t"                                                 \
                "sxtb16 %[a], %[t], ror #8\n\t"                                                      \
                "smlad %[s1], %[a], %[v], %[s1]\n\t"                                                 \
                "sxtb16 %[a], %[b]\n\t"                                                              \
                "smlad %[s2], %[a], %[v], %[s2]\n\t"                                                 \
                "sxtb16 %[a], %[b], ror #8\n\t"                                                      \
                "smlad %[s3], %[a], %[v], %[s3]"                                                      \
                : [s0] "+r"(s0), [s1] "+r"(s1), [s2] "+r"(s2), [s3] "+r"(s3), [p] "+r"(p), [a] "=&r"(a_),   \
                  [b] "=&r"(b_), [t] "=&r"(t_)                                                        \
                : [st] "r"(stride), [v] "r"(vv)                                                        \
                : "memory");                                                                           \
    } while (0)

/* The most rows capsnet_agreement_logits4_q7 takes: its pairs of v values live on the stack. */
#define CAPSNET_AGREEMENT_ROWS_MAX 32

/* capsnet_agreement_logits_q7's columns in fours, each column's agreement updating its logit in
 * registers. Rows go in pairs (CAPSNET_AGREEMENT_ROW_PAIR); an odd last row, SMLABB and SMLATB. The sums start at the agreement's
 * rounding constant, so that its requantization is one shift and one SSAT, and the update's
 * rounding constant is folded into its multiply-adds; the caller checked that no sum can overflow
 * that way. Inlined with a constant `rows` for the common capsule sizes, so the row loop unrolls. */
static CAPSNET_INLINE_HOT __attribute__((always_inline)) int32_t capsnet_agreement_logits4_q7(
    const int8_t *m, ptrdiff_t stride, const int8_t *v, int32_t rows, int32_t cols, const capsnet_logit_update *update,
    int8_t *b)
{
    const int32_t a_shift = update->agreement_shift > 0 ? update->agreement_shift : 0;
    const int32_t u_shift = update->update_shift > 0 ? update->update_shift : 0;
    const int32_t a_half = a_shift > 0 ? (int32_t)1 << (a_shift - 1) : 0;
    const int32_t u_half = u_shift > 0 ? (int32_t)1 << (u_shift - 1) : 0;
    const int32_t logit_scale = update->logit_scale, agreement_scale = update->agreement_scale;
    /* (v_r, v_r+1) as the halfwords of one word, for each pair of rows. */
    int32_t v_pairs[CAPSNET_AGREEMENT_ROWS_MAX / 2];
    for (int32_t r = 0; r + 2 <= rows; r += 2) {
        v_pairs[r / 2] = (int32_t)(((uint32_t)v[r] & 0xffffu) | ((uint32_t)v[r + 1] << 16));
    }
    const int32_t v_last = v[rows - 1];
    int32_t c = 0;
    for (; c + 4 <= cols; c += 4) {
        int32_t s0 = a_half, s1 = a_half, s2 = a_half, s3 = a_half;
        const int8_t *p = m + c;
#pragma GCC unroll 16
        for (int32_t r = 0; r + 2 <= rows; r += 2) {
            CAPSNET_AGREEMENT_ROW_PAIR(p, stride, v_pairs[r / 2]);
        }
        if (rows % 2 != 0) {
            const capsnet_q7x4 x = capsnet_prepare_q7x4(p);
            s0 = __smlabb(x.lo, v_last, s0);
            s2 = __smlatb(x.lo, v_last, s2);
            s1 = __smlabb(x.hi, v_last, s1);
            s3 = __smlatb(x.hi, v_last, s3);
        }
        /* Each update as two multiply-adds: a * agreement_scale + u_half, then b * logit_scale + that. */
        int8_t *o = b + c;
        o[0] = (int8_t)__ssat((o[0] * logit_scale + (__ssat(s0 >> a_shift, 8) * agreement_scale + u_half)) >> u_shift, 8);
        o[1] = (int8_t)__ssat((o[1] * logit_scale + (__ssat(s1 >> a_shift, 8) * agreement_scale + u_half)) >> u_shift, 8);
        o[2] = (int8_t)__ssat((o[2] * logit_scale + (__ssat(s2 >> a_shift, 8) * agreement_scale + u_half)) >> u_shift, 8);
        o[3] = (int8_t)__ssat((o[3] * logit_scale + (__ssat(s3 >> a_shift, 8) * agreement_scale + u_half)) >> u_shift, 8);
    }
    return c;
}
#undef CAPSNET_AGREEMENT_ROW_PAIR
#endif

/**
 * The agreements of `cols` input capsules and their logit updates: b[c] updated
 * (capsnet_logit_update) with sum_r v[r] * m[r * stride + c], for c < cols (capsnet_mat_t_vec_q7
 * then capsnet_logits_q7, which the Arm DSP path does in registers).
 */
static inline void capsnet_agreement_logits_q7(const int8_t *m, ptrdiff_t stride, const int8_t *v, int32_t rows,
                                               int32_t cols, const capsnet_logit_update *update, int8_t *b)
{
    int32_t c = 0;
#if defined(CAPSNET_ARM_DSP) && !defined(CAPSNET_ARM_MVE)
    /* The rounding constants added before the shifts, not after, give the same values (floor((x +
     * 2^(s-1)) / 2^s) either way) when the sums cannot overflow: at most 2^30 each added to rows
     * products of 2^14 at most, or to 128 times the two scales. */
    const int64_t a_half = update->agreement_shift > 0 ? (int64_t)1 << (update->agreement_shift - 1) : 0;
    const int64_t u_half = update->update_shift > 0 ? (int64_t)1 << (update->update_shift - 1) : 0;
    if (rows <= CAPSNET_AGREEMENT_ROWS_MAX && (int64_t)rows * CAPSNET_MAX_PRODUCT + a_half <= INT32_MAX &&
        128 * ((int64_t)update->logit_scale + update->agreement_scale) + u_half <= INT32_MAX) {
        switch (rows) {
        case 4: c = capsnet_agreement_logits4_q7(m, stride, v, 4, cols, update, b); break;
        case 6: c = capsnet_agreement_logits4_q7(m, stride, v, 6, cols, update, b); break;
        case 8: c = capsnet_agreement_logits4_q7(m, stride, v, 8, cols, update, b); break;
        case 16: c = capsnet_agreement_logits4_q7(m, stride, v, 16, cols, update, b); break;
        default: c = capsnet_agreement_logits4_q7(m, stride, v, rows, cols, update, b); break;
        }
    }
#endif
    /* The sums of a block of columns on the stack, then their updates. */
    enum { BLOCK = 32 };
    int32_t sums[BLOCK];
    for (; c < cols; c += BLOCK) {
        const int32_t count = cols - c < BLOCK ? cols - c : BLOCK;
        capsnet_mat_t_vec_q7(m + c, stride, v, rows, count, sums);
        capsnet_logits_q7(sums, count, update, b + c);
    }
}

/**
 * The softmax of each of `cols` columns of `rows` logits, capsnet_softmax_row_q7 down every
 * column: logits[r * stride + c] to out[r * stride + c], for c < cols.
 */
static inline void capsnet_softmax_columns_q7(const uint32_t *exp_q15, const int8_t *logits, ptrdiff_t stride,
                                              int32_t rows, int32_t cols, int8_t *out)
{
    int32_t c = 0;
#if defined(CAPSNET_ARM_MVE)
    /* Four columns per vector of int32 lanes: VMAX for the maxima, a gather (VLDRW) of the four
     * exponentials per row; Helium has no vector division, so the couplings divide one lane at a
     * time. */
    for (; c + 4 <= cols; c += 4) {
        const int8_t *b = logits + c;
        int32x4_t max = vldrbq_s32(b);
        for (int32_t r = 1; r < rows; r++) {
            max = vmaxq_s32(max, vldrbq_s32(b + r * stride));
        }
        uint32x4_t sum = vdupq_n_u32(0);
        for (int32_t r = 0; r < rows; r++) {
            const uint32x4_t index = vreinterpretq_u32_s32(vsubq_s32(max, vldrbq_s32(b + r * stride)));
            sum = vaddq_u32(sum, vldrwq_gather_shifted_offset_u32(exp_q15, index));
        }
        const uint32_t s0 = vgetq_lane_u32(sum, 0), s1 = vgetq_lane_u32(sum, 1);
        const uint32_t s2 = vgetq_lane_u32(sum, 2), s3 = vgetq_lane_u32(sum, 3);
        for (int32_t r = 0; r < rows; r++) {
            const uint32x4_t index = vreinterpretq_u32_s32(vsubq_s32(max, vldrbq_s32(b + r * stride)));
            /* The numerators e * 256 + sum as a vector, the divisions lane by lane. */
            const uint32x4_t n = vaddq_u32(vshlq_n_u32(vldrwq_gather_shifted_offset_u32(exp_q15, index), 8), sum);
            int8_t *o = out + r * stride + c;
            o[0] = capsnet_coupling_of_numerator_q7(vgetq_lane_u32(n, 0), s0);
            o[1] = capsnet_coupling_of_numerator_q7(vgetq_lane_u32(n, 1), s1);
            o[2] = capsnet_coupling_of_numerator_q7(vgetq_lane_u32(n, 2), s2);
            o[3] = capsnet_coupling_of_numerator_q7(vgetq_lane_u32(n, 3), s3);
        }
    }
#elif defined(CAPSNET_ARM_DSP)
    /* Four columns per word: SSUB8 and SEL keep each column's maximum, USUB8 gives the four table
     * indices max - b (0 to 255) at once; the lookups, sums and divisions stay one per value. The
     * rows are walked with pointers to their end, and each column's divisor 2 * sum is formed once. */
    const ptrdiff_t span = rows * stride;
    for (; c + 4 <= cols; c += 4) {
        const int8_t *const first = logits + c;
        const int8_t *const end = first + span;
        uint32_t max = (uint32_t)capsnet_load_q7x4(first);
        for (const int8_t *b = first + stride; b != end; b += stride) {
            const uint32_t x = (uint32_t)capsnet_load_q7x4(b);
            (void)__ssub8((int8x4_t)x, (int8x4_t)max);
            max = (uint32_t)__sel((uint8x4_t)x, (uint8x4_t)max);
        }
        uint32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (const int8_t *b = first; b != end; b += stride) {
            const uint32_t d = (uint32_t)__usub8((uint8x4_t)max, (uint8x4_t)capsnet_load_q7x4(b));
            s0 += exp_q15[d & 0xffu];
            s1 += exp_q15[(d >> 8) & 0xffu];
            s2 += exp_q15[(d >> 16) & 0xffu];
            s3 += exp_q15[d >> 24];
        }
        int8_t *o = out + c;
        for (const int8_t *b = first; b != end; b += stride, o += stride) {
            const uint32_t d = (uint32_t)__usub8((uint8x4_t)max, (uint8x4_t)capsnet_load_q7x4(b));
            o[0] = capsnet_coupling_of_numerator_q7((exp_q15[d & 0xffu] << 8) + s0, s0);
            o[1] = capsnet_coupling_of_numerator_q7((exp_q15[(d >> 8) & 0xffu] << 8) + s1, s1);
            o[2] = capsnet_coupling_of_numerator_q7((exp_q15[(d >> 16) & 0xffu] << 8) + s2, s2);
            o[3] = capsnet_coupling_of_numerator_q7((exp_q15[d >> 24] << 8) + s3, s3);
        }
    }
#elif defined(CAPSNET_ARM_NEON)
    /* Sixteen columns per pass: SMAX for the maxima and SUB for the sixteen table indices max - b
     * (0 to 255) of a row at once; the lookups, sums and divisions stay one per value. */
    for (; c + 16 <= cols; c += 16) {
        const int8_t *b = logits + c;
        int8x16_t max = vld1q_s8(b);
        for (int32_t r = 1; r < rows; r++) {
            max = vmaxq_s8(max, vld1q_s8(b + r * stride));
        }
        uint32_t sums[16] = {0};
        uint8_t index[16];
        for (int32_t r = 0; r < rows; r++) {
            vst1q_u8(index, vreinterpretq_u8_s8(vsubq_s8(max, vld1q_s8(b + r * stride))));
            for (int32_t k = 0; k < 16; k++) {
                sums[k] += exp_q15[index[k]];
            }
        }
        for (int32_t r = 0; r < rows; r++) {
            vst1q_u8(index, vreinterpretq_u8_s8(vsubq_s8(max, vld1q_s8(b + r * stride))));
            int8_t *o = out + r * stride + c;
            for (int32_t k = 0; k < 16; k++) {
                    o[k] = capsnet_coupling_q7(exp_q15[index[k]], sums[k]);
            }
        }
    }
#elif defined(CAPSNET_RISCV_VECTOR)
    /* One lane per column: VMAX for the maxima, indexed loads (VLUXEI32) for the table, and
     * capsnet_coupling_q7's rule as vectors (VDIVU). */
    for (size_t vl; c < cols; c += (int32_t)vl) {
        vl = __riscv_vsetvl_e32m4((size_t)(cols - c));
        capsnet_rvv_softmax_columns(exp_q15, logits + c, stride, rows, out + c, vl, 0);
    }
#endif
    for (; c < cols; c++) {
        capsnet_softmax_row_q7(exp_q15, logits + c, stride, rows, out + c);
    }
}

/**
 * acc[l] += sum_t a[t * step + l] * b[t * step + l] for l < lanes and t < taps: one row of a
 * depthwise window, `lanes` neighbouring channels at once, each channel its own sum. a is the
 * input and b the filters, both with `step` channels per position.
 */
static inline void capsnet_channel_macs_q7(int32_t *acc, const int8_t *a, const int8_t *b, ptrdiff_t step,
                                           int32_t taps, int32_t lanes)
{
    int32_t l = 0;
#if defined(CAPSNET_ARM_MVE)
    /* Four channels per vector: Helium's integer VMLA takes a scalar, so a multiply and an add. */
    for (; l < lanes; l += 4) {
        const mve_pred16_t active = vctp32q((uint32_t)(lanes - l));
        int32x4_t sum = vldrwq_z_s32(acc + l, active);
        for (int32_t t = 0; t < taps; t++) {
            const ptrdiff_t at = t * step + l;
            sum = vaddq_s32(sum, vmulq_s32(vldrbq_z_s32(a + at, active), vldrbq_z_s32(b + at, active)));
        }
        vstrwq_p_s32(acc + l, sum, active);
    }
#elif defined(CAPSNET_ARM_NEON)
    /* Eight channels per pass: SMULL into int16 lanes, SADDW into two vectors of int32 lanes. */
    for (; l + 8 <= lanes; l += 8) {
        int32x4_t s0 = vld1q_s32(acc + l), s1 = vld1q_s32(acc + l + 4);
        for (int32_t t = 0; t < taps; t++) {
            const ptrdiff_t at = t * step + l;
            const int16x8_t products = vmull_s8(vld1_s8(a + at), vld1_s8(b + at));
            s0 = vaddw_s16(s0, vget_low_s16(products));
            s1 = vaddw_high_s16(s1, products);
        }
        vst1q_s32(acc + l, s0);
        vst1q_s32(acc + l + 4, s1);
    }
#elif defined(CAPSNET_RISCV_VECTOR)
    for (size_t vl; l < lanes; l += (int32_t)vl) {
        vl = __riscv_vsetvl_e16m2((size_t)(lanes - l));
        vint32m4_t sum = __riscv_vle32_v_i32m4(acc + l, vl);
        for (int32_t t = 0; t < taps; t++) {
            const ptrdiff_t at = t * step + l;
            sum = __riscv_vwmacc_vv_i32m4(sum, capsnet_rvv_load(a + at, vl), capsnet_rvv_load(b + at, vl), vl);
        }
        __riscv_vse32_v_i32m4(acc + l, sum, vl);
    }
#elif defined(CAPSNET_ARM_DSP)
    /* Four channels per word: SXTB16 splits them into channels 0, 2 and 1, 3, and SMLABB / SMLATT
     * multiply-accumulate one halfword each into its channel's register. */
    for (; l + 4 <= lanes; l += 4) {
        int32_t s0 = acc[l], s1 = acc[l + 1], s2 = acc[l + 2], s3 = acc[l + 3];
        for (int32_t t = 0; t < taps; t++) {
            const ptrdiff_t at = t * step + l;
            const capsnet_q7x4 x = capsnet_prepare_q7x4(a + at);
            const capsnet_q7x4 w = capsnet_prepare_q7x4(b + at);
            s0 = __smlabb(x.lo, w.lo, s0);
            s2 = __smlatt(x.lo, w.lo, s2);
            s1 = __smlabb(x.hi, w.hi, s1);
            s3 = __smlatt(x.hi, w.hi, s3);
        }
        acc[l] = s0;
        acc[l + 1] = s1;
        acc[l + 2] = s2;
        acc[l + 3] = s3;
    }
#endif
    for (; l < lanes; l++) {
        int32_t sum = acc[l];
        for (int32_t t = 0; t < taps; t++) {
            sum += (int32_t)a[t * step + l] * (int32_t)b[t * step + l];
        }
        acc[l] = sum;
    }
}

/**
 * acc[d] += scale * a[d] for d < length, scale an int8 value: a prediction vector weighted by its
 * coupling into an output capsule's sum. On the Arm DSP path this stays scalar: the accumulators'
 * loads and stores are most of its instructions, and SXTB16 saves none of them (measured: a
 * four-value block with SMLABB / SMLATB made the lean routing's weighted sums 28% slower).
 */
static inline void capsnet_scale_add_q7(int32_t *acc, int32_t scale, const int8_t *a, int32_t length)
{
    int32_t d = 0;
#if defined(CAPSNET_ARM_MVE)
    for (; d < length; d += 4) {
        const mve_pred16_t active = vctp32q((uint32_t)(length - d));
        const int32x4_t sum = vmlaq_n_s32(vldrwq_z_s32(acc + d, active), vldrbq_z_s32(a + d, active), scale);
        vstrwq_p_s32(acc + d, sum, active);
    }
#elif defined(CAPSNET_ARM_NEON)
    for (; d + 8 <= length; d += 8) {
        const int16x8_t x = vmovl_s8(vld1_s8(a + d));
        vst1q_s32(acc + d, vmlal_n_s16(vld1q_s32(acc + d), vget_low_s16(x), (int16_t)scale));
        vst1q_s32(acc + d + 4, vmlal_high_n_s16(vld1q_s32(acc + d + 4), x, (int16_t)scale));
    }
#elif defined(CAPSNET_RISCV_VECTOR)
    for (size_t vl; d < length; d += (int32_t)vl) {
        vl = __riscv_vsetvl_e16m2((size_t)(length - d));
        const vint32m4_t sum =
            __riscv_vwmacc_vx_i32m4(__riscv_vle32_v_i32m4(acc + d, vl), (int16_t)scale, capsnet_rvv_load(a + d, vl), vl);
        __riscv_vse32_v_i32m4(acc + d, sum, vl);
    }
#endif
    for (; d < length; d++) {
        acc[d] += scale * a[d];
    }
}

/* capsnet_scale_add_rows_q7's body, inlined with a constant `length` for the common capsule sizes,
 * so that each row unrolls. */
static CAPSNET_INLINE_HOT __attribute__((always_inline)) void capsnet_scale_add_rows_body_q7(
    int32_t *acc, const int8_t *scales, const int8_t *a, int32_t rows, int32_t length)
{
    for (int32_t r = 0; r < rows; r++, acc += length, a += length) {
#if defined(CAPSNET_ARM_MVE) || defined(CAPSNET_ARM_NEON) || defined(CAPSNET_RISCV_VECTOR)
        capsnet_scale_add_q7(acc, scales[r], a, length);
#else
        const int32_t scale = scales[r];
#pragma GCC unroll 16
        for (int32_t d = 0; d < length; d++) {
            acc[d] += scale * a[d];
        }
#endif
    }
}

/** acc[r][d] += scales[r] * a[r][d] for r < rows, d < length: each output capsule's sum gains its
 * prediction weighted by its coupling. */
static inline void capsnet_scale_add_rows_q7(int32_t *acc, const int8_t *scales, const int8_t *a, int32_t rows,
                                             int32_t length)
{
    switch (length) {
    case 4: capsnet_scale_add_rows_body_q7(acc, scales, a, rows, 4); return;
    case 6: capsnet_scale_add_rows_body_q7(acc, scales, a, rows, 6); return;
    case 8: capsnet_scale_add_rows_body_q7(acc, scales, a, rows, 8); return;
    case 16: capsnet_scale_add_rows_body_q7(acc, scales, a, rows, 16); return;
    default: capsnet_scale_add_rows_body_q7(acc, scales, a, rows, length); return;
    }
}

/**
 * sum_d a[d] * b[d] for an int8 vector and an int32 one (a prediction and its output capsule's
 * total of predictions); the caller keeps the sum in range. The Arm DSP path has no 8-by-32-bit
 * SIMD multiply and stays scalar.
 */
static inline int32_t capsnet_dot_q7_s32(const int8_t *a, const int32_t *b, int32_t length)
{
    int32_t sum = 0;
    int32_t d = 0;
#if defined(CAPSNET_ARM_MVE)
    for (; d < length; d += 4) {
        const mve_pred16_t active = vctp32q((uint32_t)(length - d));
        sum = vmladavaq_s32(sum, vldrbq_z_s32(a + d, active), vldrwq_z_s32(b + d, active));
    }
#elif defined(CAPSNET_ARM_NEON)
    int32x4_t products = vdupq_n_s32(0);
    for (; d + 8 <= length; d += 8) {
        const int16x8_t x = vmovl_s8(vld1_s8(a + d));
        products = vmlaq_s32(products, vmovl_s16(vget_low_s16(x)), vld1q_s32(b + d));
        products = vmlaq_s32(products, vmovl_high_s16(x), vld1q_s32(b + d + 4));
    }
    sum = vaddvq_s32(products);
#elif defined(CAPSNET_RISCV_VECTOR)
    const size_t lanes = __riscv_vsetvlmax_e32m4();
    vint32m4_t products = __riscv_vmv_v_x_i32m4(0, lanes);
    for (size_t vl; d < length; d += (int32_t)vl) {
        vl = __riscv_vsetvl_e32m4((size_t)(length - d));
        const vint32m4_t wide = __riscv_vsext_vf4_i32m4(__riscv_vle8_v_i8m1(a + d, vl), vl);
        products = __riscv_vmacc_vv_i32m4_tu(products, wide, __riscv_vle32_v_i32m4(b + d, vl), vl);
    }
    sum = capsnet_rvv_sum(products, lanes);
#endif
    for (; d < length; d++) {
        sum += (int32_t)a[d] * b[d];
    }
    return sum;
}

/* ---- The 16-bit routing (CAPSNET_ROUTING_Q15): int16 predictions and couplings. ----
 * Products of two int16 values reach 2^30, so their sums over input capsules are 64-bit; every path
 * forms the same exact sums. */

/* Two consecutive int16 values as one word, at any 2-byte alignment. */
static inline int32_t capsnet_load_q15x2(const int16_t *p)
{
    int32_t word;
    __builtin_memcpy(&word, p, sizeof word);
    return word;
}

/** sum_i a[i] for int16 values; the caller keeps it below 2^31 (at most 65535 terms). */
static inline int32_t capsnet_sum_q15(const int16_t *a, int32_t length)
{
    int32_t sum = 0;
    int32_t i = 0;
#if defined(CAPSNET_ARM_MVE)
    for (; i < length; i += 8) {
        const mve_pred16_t active = vctp16q((uint32_t)(length - i));
        sum = vaddvaq_p_s16(sum, vldrhq_z_s16(a + i, active), active);
    }
#elif defined(CAPSNET_ARM_DSP)
    /* SMLAD by (1, 1): both halfwords of a word added at once. */
    for (; i + 2 <= length; i += 2) {
        sum = __smlad(capsnet_load_q15x2(a + i), 0x00010001, sum);
    }
#elif defined(CAPSNET_ARM_NEON)
    int32x4_t lanes = vdupq_n_s32(0);
    for (; i + 8 <= length; i += 8) {
        lanes = vpadalq_s16(lanes, vld1q_s16(a + i));
    }
    sum = vaddvq_s32(lanes);
#elif defined(CAPSNET_RISCV_VECTOR)
    vint32m1_t total = __riscv_vmv_s_x_i32m1(0, 1);
    for (size_t vl; i < length; i += (int32_t)vl) {
        vl = __riscv_vsetvl_e16m2((size_t)(length - i));
        total = __riscv_vwredsum_vs_i16m2_i32m1(__riscv_vle16_v_i16m2(a + i, vl), total, vl);
    }
    sum = __riscv_vmv_x_s_i32m1_i32(total);
#endif
    for (; i < length; i++) {
        sum += a[i];
    }
    return sum;
}

/** sum_i a[i] * b[i] in 64 bits for two int16 vectors of at most 65535 values (the RISC-V vector
 * path's limit). */
static inline int64_t capsnet_dot_q15(const int16_t *a, const int16_t *b, int32_t length)
{
    int64_t sum = 0;
    int32_t i = 0;
#if defined(CAPSNET_ARM_MVE)
    /* VMLALDAVA: eight products summed into a 64-bit pair of registers; the tail predicated. */
    for (; i < length; i += 8) {
        const mve_pred16_t active = vctp16q((uint32_t)(length - i));
        sum = vmlaldavaq_p_s16(sum, vldrhq_z_s16(a + i, active), vldrhq_z_s16(b + i, active), active);
    }
#elif defined(CAPSNET_ARM_DSP)
    /* SMLALD: two products into a 64-bit accumulator, from one word of each vector. */
    for (; i + 4 <= length; i += 4) {
        sum = __smlald(capsnet_load_q15x2(a + i), capsnet_load_q15x2(b + i), sum);
        sum = __smlald(capsnet_load_q15x2(a + i + 2), capsnet_load_q15x2(b + i + 2), sum);
    }
#elif defined(CAPSNET_ARM_NEON)
    /* SMULL into int32 lanes (each product below 2^30), SADALP into int64 lanes. */
    int64x2_t lanes = vdupq_n_s64(0);
    for (; i + 8 <= length; i += 8) {
        const int16x8_t x = vld1q_s16(a + i), y = vld1q_s16(b + i);
        lanes = vpadalq_s32(lanes, vmull_s16(vget_low_s16(x), vget_low_s16(y)));
        lanes = vpadalq_s32(lanes, vmull_high_s16(x, y));
    }
    sum = vaddvq_s64(lanes);
#elif defined(CAPSNET_RISCV_VECTOR)
    /* Zve32x has no 64-bit lanes: each product is split into its signed high half (VMULH) and its
     * unsigned low half (VMUL), p = hi * 2^16 + lo, and the halves are summed apart in 32-bit lanes
     * (VWADD, VWADDU), which at most 65535 terms cannot overflow, then joined in 64 bits. */
    const size_t lanes = __riscv_vsetvlmax_e16m2();
    vint32m4_t high = __riscv_vmv_v_x_i32m4(0, lanes);
    vuint32m4_t low = __riscv_vmv_v_x_u32m4(0, lanes);
    for (size_t vl; i < length; i += (int32_t)vl) {
        vl = __riscv_vsetvl_e16m2((size_t)(length - i));
        const vint16m2_t x = __riscv_vle16_v_i16m2(a + i, vl), y = __riscv_vle16_v_i16m2(b + i, vl);
        high = __riscv_vwadd_wv_i32m4_tu(high, high, __riscv_vmulh_vv_i16m2(x, y, vl), vl);
        low = __riscv_vwaddu_wv_u32m4_tu(low, low, __riscv_vreinterpret_v_i16m2_u16m2(__riscv_vmul_vv_i16m2(x, y, vl)), vl);
    }
    const int32_t high_sum = capsnet_rvv_sum(high, lanes);
    const uint32_t low_sum = __riscv_vmv_x_s_u32m1_u32(__riscv_vredsum_vs_u32m4_u32m1(low, __riscv_vmv_s_x_u32m1(0, 1), lanes));
    sum = (int64_t)high_sum * 65536 + low_sum;
#endif
    for (; i < length; i++) {
        sum += (int32_t)a[i] * (int32_t)b[i];
    }
    return sum;
}

/** out[r] = sum_i c[i] * a[r * stride + i] in 64 bits, for r < rows: one output capsule's
 * couplings against its int16 prediction rows (capsnet_vec_rows_dot_q7 for the 16-bit routing). */
static inline void capsnet_vec_rows_dot_q15(const int16_t *c, const int16_t *a, ptrdiff_t stride, int32_t rows,
                                            int32_t length, int64_t *out)
{
    for (int32_t r = 0; r < rows; r++, a += stride) {
        out[r] = capsnet_dot_q15(c, a, length);
    }
}

/**
 * out[c] = sum_r v[r] * m[r * stride + c] for c < cols: an int8 vector times the rows of an int16
 * matrix (capsnet_mat_t_vec_q7 for the 16-bit routing); the caller keeps each sum of rows
 * products of at most 2^22 below 2^31.
 */
static inline void capsnet_mat_t_vec_q15(const int16_t *m, ptrdiff_t stride, const int8_t *v, int32_t rows,
                                         int32_t cols, int32_t *out)
{
    int32_t c = 0;
#if defined(CAPSNET_ARM_MVE)
    /* Four columns per vector, widened as they load (VLDRH to int32 lanes). */
    for (; c < cols; c += 4) {
        const mve_pred16_t active = vctp32q((uint32_t)(cols - c));
        int32x4_t sum = vdupq_n_s32(0);
        for (int32_t r = 0; r < rows; r++) {
            sum = vmlaq_n_s32(sum, vldrhq_z_s32(m + r * stride + c, active), v[r]);
        }
        vstrwq_p_s32(out + c, sum, active);
    }
#elif defined(CAPSNET_ARM_DSP)
    /* Two columns per word: SMLABB and SMLATB multiply each halfword by the row's value. */
    for (; c + 4 <= cols; c += 4) {
        int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        const int16_t *p = m + c;
        for (int32_t r = 0; r < rows; r++, p += stride) {
            const int32_t scale = v[r];
            const int32_t x = capsnet_load_q15x2(p), y = capsnet_load_q15x2(p + 2);
            s0 = __smlabb(x, scale, s0);
            s1 = __smlatb(x, scale, s1);
            s2 = __smlabb(y, scale, s2);
            s3 = __smlatb(y, scale, s3);
        }
        out[c] = s0;
        out[c + 1] = s1;
        out[c + 2] = s2;
        out[c + 3] = s3;
    }
#elif defined(CAPSNET_ARM_NEON)
    /* Eight columns per pass: SMLAL by the row's value into two int32x4. */
    for (; c + 8 <= cols; c += 8) {
        int32x4_t lo = vdupq_n_s32(0), hi = vdupq_n_s32(0);
        for (int32_t r = 0; r < rows; r++) {
            const int16x8_t x = vld1q_s16(m + r * stride + c);
            lo = vmlal_n_s16(lo, vget_low_s16(x), v[r]);
            hi = vmlal_high_n_s16(hi, x, v[r]);
        }
        vst1q_s32(out + c, lo);
        vst1q_s32(out + c + 4, hi);
    }
#elif defined(CAPSNET_RISCV_VECTOR)
    /* One lane per column: VWMACC of each row by its value. */
    for (size_t vl; c < cols; c += (int32_t)vl) {
        vl = __riscv_vsetvl_e16m2((size_t)(cols - c));
        vint32m4_t sum = __riscv_vmv_v_x_i32m4(0, vl);
        for (int32_t r = 0; r < rows; r++) {
            sum = __riscv_vwmacc_vx_i32m4(sum, (int16_t)v[r], __riscv_vle16_v_i16m2(m + r * stride + c, vl), vl);
        }
        __riscv_vse32_v_i32m4(out + c, sum, vl);
    }
#endif
    for (; c < cols; c++) {
        int32_t sum = 0;
        for (int32_t r = 0; r < rows; r++) {
            sum += (int32_t)v[r] * (int32_t)m[r * stride + c];
        }
        out[c] = sum;
    }
}

/** capsnet_agreement_logits_q7 on int16 predictions: b[c] updated (capsnet_logit_update) with
 * sum_r v[r] * m[r * stride + c], for c < cols. */
static inline void capsnet_agreement_logits_q15(const int16_t *m, ptrdiff_t stride, const int8_t *v, int32_t rows,
                                                int32_t cols, const capsnet_logit_update *update, int8_t *b)
{
    enum { BLOCK = 32 };
    int32_t sums[BLOCK];
    for (int32_t c = 0; c < cols; c += BLOCK) {
        const int32_t count = cols - c < BLOCK ? cols - c : BLOCK;
        capsnet_mat_t_vec_q15(m + c, stride, v, rows, count, sums);
        capsnet_logits_q7(sums, count, update, b + c);
    }
}

/** The softmax of each of `cols` columns of `rows` int8 logits into Q0.15 couplings,
 * capsnet_softmax_row_q15 down every column: logits[r * stride + c] to out[r * stride + c]. */
static inline void capsnet_softmax_columns_q15(const uint32_t *exp_q15, const int8_t *logits, ptrdiff_t stride,
                                               int32_t rows, int32_t cols, int16_t *out)
{
    int32_t c = 0;
#if defined(CAPSNET_RISCV_VECTOR)
    /* capsnet_softmax_columns_q7's vector path with capsnet_coupling_q15's rule. */
    for (size_t vl; c < cols; c += (int32_t)vl) {
        vl = __riscv_vsetvl_e32m4((size_t)(cols - c));
        capsnet_rvv_softmax_columns(exp_q15, logits + c, stride, rows, out + c, vl, 1);
    }
#endif
    for (; c < cols; c++) {
        capsnet_softmax_row_q15(exp_q15, logits + c, stride, rows, out + c);
    }
}

/** out[r] = sum_k a[r][k] * b[r][k] for r < rows: an int8 matrix's rows against an int16 one's
 * (one input capsule's agreements with the outputs v); each sum at most length * 2^22. */
static inline void capsnet_rows_dot_q15(const int8_t *a, const int16_t *b, int32_t rows, int32_t length, int32_t *out)
{
    for (int32_t r = 0; r < rows; r++, a += length, b += length) {
        int32_t sum = 0;
        for (int32_t k = 0; k < length; k++) {
            sum += (int32_t)a[k] * (int32_t)b[k];
        }
        out[r] = sum;
    }
}

/** acc[r][d] += scales[r] * a[r][d] in 64 bits, for r < rows, d < length: each output capsule's sum
 * gains one input capsule's int16 prediction weighted by its Q0.15 coupling. */
static inline void capsnet_scale_add_rows_q15(int64_t *acc, const int16_t *scales, const int16_t *a, int32_t rows,
                                              int32_t length)
{
    for (int32_t r = 0; r < rows; r++, acc += length, a += length) {
        const int32_t scale = scales[r];
        for (int32_t d = 0; d < length; d++) {
            acc[d] += scale * (int32_t)a[d];
        }
    }
}

#endif /* CAPSNET_SIMD_H */
