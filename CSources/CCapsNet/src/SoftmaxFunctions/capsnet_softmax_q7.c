/**
 * @file capsnet_softmax_q7.c
 * @brief Natural-base softmax of Qm.n logits into Q0.7 coupling coefficients.
 */
#include "capsnet/capsnet.h"
#include "../capsnet_support.h"

/* Logit differences are int8 differences: 0 to 255. */
#define EXP_TABLE_LEN 256
#define Q30_ONE ((uint32_t)1 << 30)

/* round(exp(-2^-f) * 2^30) for f = CAPSNET_FRAC_MIN .. CAPSNET_FRAC_MAX: the factor by which the
 * exponential falls per step of one logit LSB. */
static const uint32_t exp_step_q30[CAPSNET_FRAC_MAX - CAPSNET_FRAC_MIN + 1] = {
    0u,          0u,          0u,          0u,          121u,        360200u,
    19666268u,   145315154u,  395007542u,  651257337u,  836230973u,  947573834u,
    1008687096u, 1040706261u, 1057095000u, 1065385899u, 1069555701u, 1071646719u,
    1072693760u, 1073217664u, 1073479712u, 1073610760u, 1073676290u, 1073709056u,
};

int32_t capsnet_softmax_q7_get_buffer_size(void)
{
    /* The table is uint32; up to 3 bytes go to aligning the caller's buffer. */
    return (int32_t)(EXP_TABLE_LEN * sizeof(uint32_t) + sizeof(uint32_t) - 1);
}

static uint32_t *aligned_table(void *buf)
{
    const uintptr_t misalignment = (uintptr_t)buf % sizeof(uint32_t);
    const uintptr_t padding = misalignment == 0 ? 0 : sizeof(uint32_t) - misalignment;
    return (uint32_t *)(void *)((uint8_t *)buf + padding);
}

/* exp(-d * 2^-f) in Q15 from its Q30 value. */
static uint32_t q15(uint32_t e_q30)
{
    return (e_q30 + ((uint32_t)1 << 14)) >> 15;
}

capsnet_status capsnet_softmax_q7(const capsnet_context *ctx, const int8_t *logits, int32_t num_rows,
                                  int32_t row_len, int32_t logit_frac, int8_t *output)
{
    if (ctx == NULL || ctx->buf == NULL || logits == NULL || output == NULL) {
        return CAPSNET_ERROR_NULL_POINTER;
    }
    if (capsnet_count2(num_rows, row_len) < 0) {
        return CAPSNET_ERROR_DIMENSION;
    }
    if (!capsnet_frac_is_valid(logit_frac)) {
        return CAPSNET_ERROR_SHIFT;
    }
    /* The sum of a row's Q15 exponentials, doubled for rounding, must stay below 2^32. */
    if (row_len > 65535) {
        return CAPSNET_ERROR_OVERFLOW;
    }
    if (ctx->size < capsnet_softmax_q7_get_buffer_size()) {
        return CAPSNET_ERROR_BUFFER_SIZE;
    }

    /* The table of exp(-d * 2^-f) is filled only as far as the rows need it. */
    uint32_t *exp_q30 = aligned_table(ctx->buf);
    const uint64_t step = exp_step_q30[logit_frac - CAPSNET_FRAC_MIN];
    int32_t filled = 0;
    exp_q30[0] = Q30_ONE;

    for (int32_t r = 0; r < num_rows; r++) {
        const int8_t *in = logits + (ptrdiff_t)r * row_len;
        int8_t *out = output + (ptrdiff_t)r * row_len;
        int32_t max = in[0];
        int32_t min = in[0];
        for (int32_t j = 1; j < row_len; j++) {
            max = in[j] > max ? in[j] : max;
            min = in[j] < min ? in[j] : min;
        }
        for (; filled < max - min; filled++) {
            exp_q30[filled + 1] = (uint32_t)((exp_q30[filled] * step + (Q30_ONE >> 1)) >> 30);
        }
        uint32_t sum = 0;
        for (int32_t j = 0; j < row_len; j++) {
            sum += q15(exp_q30[max - in[j]]);
        }
        /* Every value is read before it is overwritten, so output may alias logits. */
        for (int32_t j = 0; j < row_len; j++) {
            const uint32_t e = q15(exp_q30[max - in[j]]);
            const uint32_t c = (e * 256u + sum) / (2u * sum);
            out[j] = (int8_t)(c > 127u ? 127u : c);
        }
    }
    return CAPSNET_OK;
}
