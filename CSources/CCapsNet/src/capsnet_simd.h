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
 */
#ifndef CAPSNET_SIMD_H
#define CAPSNET_SIMD_H

#include <stddef.h>
#include <stdint.h>

/* CAPSNET_PORTABLE_ONLY builds the portable path on any core, to measure the others against it. */
#if defined(__ARM_FEATURE_DSP) && !defined(CAPSNET_PORTABLE_ONLY)
#define CAPSNET_ARM_DSP 1
#include <arm_acle.h>
#endif

#if defined(CAPSNET_ARM_DSP)

/* Four int8 values from any address (Cortex-M with the DSP extension allows unaligned LDR). */
static inline int32_t capsnet_load_q7x4(const int8_t *p)
{
    int32_t value;
    __builtin_memcpy(&value, p, sizeof value);
    return value;
}

/* Bytes 0 and 2 of x as two sign-extended halfwords; with the rotation, bytes 1 and 3. */
static inline int32_t capsnet_even_q15x2(int32_t x) { return (int32_t)__sxtb16(x); }
static inline int32_t capsnet_odd_q15x2(int32_t x)
{
    /* SXTB16 with its built-in rotation; GCC 12 would emit a separate ROR for __sxtb16(__ror(x, 8)). */
    int32_t result;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(result) : "r"(x));
    return result;
}

#endif

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
#if defined(CAPSNET_ARM_DSP)
    /* SXTB16 unpacks four int8 into two pairs of int16, SMLAD multiplies and adds a pair at once. */
    for (; i + 4 <= length; i += 4) {
        const int32_t va = capsnet_load_q7x4(a + i);
        const int32_t a_even = capsnet_even_q15x2(va);
        const int32_t a_odd = capsnet_odd_q15x2(va);
        const int32_t v0 = capsnet_load_q7x4(b0 + i);
        const int32_t v1 = capsnet_load_q7x4(b1 + i);
        sum0 = __smlad(a_even, capsnet_even_q15x2(v0), sum0);
        sum0 = __smlad(a_odd, capsnet_odd_q15x2(v0), sum0);
        sum1 = __smlad(a_even, capsnet_even_q15x2(v1), sum1);
        sum1 = __smlad(a_odd, capsnet_odd_q15x2(v1), sum1);
    }
#endif
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
#if defined(CAPSNET_ARM_DSP)
    /* Advancing pointers and one filter at a time keep everything in registers (no spills). */
    const int8_t *p0 = a0, *p1 = a1, *q0 = b0, *q1 = b1;
    for (; i + 4 <= length; i += 4) {
        const int32_t x0 = capsnet_load_q7x4(p0);
        const int32_t x1 = capsnet_load_q7x4(p1);
        const int32_t x0e = capsnet_even_q15x2(x0), x0o = capsnet_odd_q15x2(x0);
        const int32_t x1e = capsnet_even_q15x2(x1), x1o = capsnet_odd_q15x2(x1);
        int32_t w = capsnet_load_q7x4(q0);
        int32_t we = capsnet_even_q15x2(w), wo = capsnet_odd_q15x2(w);
        s00 = __smlad(x0o, wo, __smlad(x0e, we, s00));
        s10 = __smlad(x1o, wo, __smlad(x1e, we, s10));
        w = capsnet_load_q7x4(q1);
        we = capsnet_even_q15x2(w);
        wo = capsnet_odd_q15x2(w);
        s01 = __smlad(x0o, wo, __smlad(x0e, we, s01));
        s11 = __smlad(x1o, wo, __smlad(x1e, we, s11));
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
#if defined(CAPSNET_ARM_DSP)
    for (; i + 4 <= length; i += 4) {
        const int32_t va = capsnet_load_q7x4(a + i);
        const int32_t vb = capsnet_load_q7x4(b + i);
        sum = __smlad(capsnet_even_q15x2(va), capsnet_even_q15x2(vb), sum);
        sum = __smlad(capsnet_odd_q15x2(va), capsnet_odd_q15x2(vb), sum);
    }
#endif
    for (; i < length; i++) {
        sum += (int32_t)a[i] * (int32_t)b[i];
    }
    return sum;
}

#endif /* CAPSNET_SIMD_H */
