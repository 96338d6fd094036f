/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file capsnet_softmax_row_q7.c
 * @brief Internal: the softmax of one row (into Q0.7 or Q0.15) and its table of exponentials,
 * shared by capsnet_softmax_q7 and the capsule layer.
 */
#include "../capsnet_support.h"

/* round(exp(-2^-f) * 2^30) for f = CAPSNET_FRAC_MIN .. CAPSNET_FRAC_MAX: the factor by which the
 * exponential falls per step of one logit LSB. */
static const uint32_t exp_step_q30[CAPSNET_FRAC_MAX - CAPSNET_FRAC_MIN + 1] = {
    0u,          0u,          0u,          0u,          121u,        360200u,
    19666268u,   145315154u,  395007542u,  651257337u,  836230973u,  947573834u,
    1008687096u, 1040706261u, 1057095000u, 1065385899u, 1069555701u, 1071646719u,
    1072693760u, 1073217664u, 1073479712u, 1073610760u, 1073676290u, 1073709056u,
};

/* exp(-d * 2^-f) in Q15 from its Q30 value. */
static uint32_t q15(uint32_t e_q30)
{
    return (e_q30 + ((uint32_t)1 << 14)) >> 15;
}

void capsnet_exp_table_fill(uint32_t *exp_q15, int32_t logit_frac)
{
    /* The recurrence runs in Q30, each entry from the one before with one rounding; each is then
     * rounded to Q15 once, which is all the softmax reads. */
    const uint64_t step = exp_step_q30[logit_frac - CAPSNET_FRAC_MIN];
    uint64_t e_q30 = CAPSNET_Q30_ONE;
    exp_q15[0] = q15((uint32_t)e_q30);
    for (int32_t d = 1; d < CAPSNET_EXP_TABLE_LEN; d++) {
        e_q30 = (e_q30 * step + (CAPSNET_Q30_ONE >> 1)) >> 30;
        exp_q15[d] = q15((uint32_t)e_q30);
    }
}

/* The row's largest logit into *max, and the sum of its exponentials: at most
 * CAPSNET_SOFTMAX_ROW_MAX Q15 values of at most 2^15, so that the doubled sum stays under 2^32. */
static uint32_t row_sum(const uint32_t *exp_q15, const int8_t *logits, ptrdiff_t stride, int32_t length,
                        int32_t *max)
{
    const int8_t *const end = logits + stride * length;
    int32_t top = logits[0];
    for (const int8_t *b = logits + stride; b != end; b += stride) {
        top = *b > top ? *b : top;
    }
    uint32_t sum = 0;
    for (const int8_t *b = logits; b != end; b += stride) {
        sum += exp_q15[top - *b];
    }
    *max = top;
    return sum;
}

void capsnet_softmax_row_q7(const uint32_t *exp_q15, const int8_t *logits, ptrdiff_t stride, int32_t length,
                            int8_t *output)
{
    const int8_t *const end = logits + stride * length;
    int32_t max;
    const uint32_t sum = row_sum(exp_q15, logits, stride, length, &max);
    /* Every value is read before it is overwritten, so output may alias logits. */
    int8_t *out = output;
    for (const int8_t *b = logits; b != end; b += stride, out += stride) {
        *out = capsnet_coupling_q7(exp_q15[max - *b], sum);
    }
}

int8_t capsnet_softmax_uniform_q7(int32_t length)
{
    const uint32_t e = q15(CAPSNET_Q30_ONE);
    return capsnet_coupling_q7(e, (uint32_t)length * e);
}

void capsnet_softmax_row_q15(const uint32_t *exp_q15, const int8_t *logits, ptrdiff_t stride, int32_t length,
                             int16_t *output)
{
    const int8_t *const end = logits + stride * length;
    int32_t max;
    const uint32_t sum = row_sum(exp_q15, logits, stride, length, &max);
    int16_t *out = output;
    for (const int8_t *b = logits; b != end; b += stride, out += stride) {
        *out = capsnet_coupling_q15(exp_q15[max - *b], sum);
    }
}

int16_t capsnet_softmax_uniform_q15(int32_t length)
{
    const uint32_t e = q15(CAPSNET_Q30_ONE);
    return capsnet_coupling_q15(e, (uint32_t)length * e);
}
