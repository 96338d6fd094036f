/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file capsnet_self_attention_capsule_q7_split.c
 * @brief Capsule layer with Efficient-CapsNet's self-attention routing, int8, on one or more cores.
 *
 * The agreements a[j][i] = u_hat[j][i] . sum_k u_hat[j][k] / sqrt(D) need every prediction before
 * the first of them, so the layer runs in four phases with a barrier between each two:
 * predictions (input capsules shared out), the totals T[j] = sum_k u_hat[j][k] (output capsules
 * shared out), agreements, softmax, bias and partial sums (input capsules), and the reduction and
 * squash (output capsules). The predictions are kept: they are J*I*D bytes, no more than the layer's
 * weights divided by Din.
 */
#include "capsnet/capsnet.h"
#include "../capsnet_simd.h"
#include "../capsnet_support.h"

/* Scratch, from its first aligned byte (4 bytes, or a line for several cores):
 *   exp table     uint32 [256]        filled by core 0 in the first phase
 *   totals        int32  [J][D]       T, in prediction_frac
 *   partial sums  int32  [cores][J][D]  each core's share of s
 *   per core      int8   [cores][2 J]   logits and couplings of the current input capsule
 *   predictions   int8   [I][J][D]      input capsule by input capsule */
typedef struct {
    int64_t totals, partials, partial_stride, per_core, per_core_stride, predictions, total;
} scratch_offsets;

static scratch_offsets layout(const capsnet_capsule_dims *dims, int32_t num_cores)
{
    const int64_t jd = (int64_t)dims->num_outputs * dims->output_dim;
    scratch_offsets at;
    at.totals = CAPSNET_EXP_TABLE_LEN * (int64_t)sizeof(uint32_t);
    at.partials = capsnet_core_stride(at.totals + jd * (int64_t)sizeof(int32_t), num_cores);
    at.partial_stride = capsnet_core_stride(jd * (int64_t)sizeof(int32_t), num_cores);
    at.per_core = at.partials + num_cores * at.partial_stride;
    at.per_core_stride = capsnet_core_stride(2 * (int64_t)dims->num_outputs, num_cores);
    at.predictions = at.per_core + num_cores * at.per_core_stride;
    at.total = at.predictions + jd * dims->num_inputs + capsnet_scratch_slack(num_cores);
    return at;
}

static capsnet_status check_shape(const capsnet_capsule_dims *dims, int32_t num_cores)
{
    if (dims == NULL) {
        return CAPSNET_ERROR_NULL_POINTER;
    }
    const int32_t routes = capsnet_count2(dims->num_outputs, dims->num_inputs);
    if (routes < 0 || num_cores < 1 || num_cores > CAPSNET_CORES_MAX ||
        capsnet_count2(dims->num_inputs, dims->input_dim) < 0 ||
        capsnet_count3(routes, dims->output_dim, dims->input_dim) < 0 ||
        capsnet_count2(dims->num_inputs, dims->output_dim) < 0) {
        return CAPSNET_ERROR_DIMENSION;
    }
    return layout(dims, num_cores).total <= INT32_MAX ? CAPSNET_OK : CAPSNET_ERROR_DIMENSION;
}

int32_t capsnet_self_attention_capsule_q7_split_get_buffer_size(const capsnet_capsule_dims *dims, int32_t num_cores)
{
    const capsnet_status status = check_shape(dims, num_cores);
    return status == CAPSNET_OK ? (int32_t)layout(dims, num_cores).total : (int32_t)status;
}

/* Every shift of the layer, and the agreement's scale, checked once. */
typedef struct {
    int32_t prediction;
    int32_t agreement; /* applied to dot * scale, 30 + 2 * prediction_frac - agreement_frac */
    int32_t coupling;  /* the aligned sum of the Q0.7 coefficient and the bias, into coupling_frac */
    int32_t sum;
    int64_t scale; /* floor(2^30 / sqrt(D)) */
} attention_shifts;

static capsnet_status derive_shifts(const capsnet_self_attention_params *params, int32_t output_dim,
                                    attention_shifts *shifts)
{
    CAPSNET_RETURN_IF_ERROR(capsnet_product_shift(params->input_frac, params->weight_frac, params->prediction_frac,
                                                  &shifts->prediction));
    if (!capsnet_frac_is_valid(params->agreement_frac) ||
        !capsnet_squash_formats_are_valid(params->sum_frac, params->output_frac)) {
        return CAPSNET_ERROR_SHIFT;
    }
    shifts->agreement = 30 + 2 * params->prediction_frac - params->agreement_frac;
    if (shifts->agreement < 0 || shifts->agreement > 62) {
        return CAPSNET_ERROR_SHIFT;
    }
    CAPSNET_RETURN_IF_ERROR(
        capsnet_sum_shift(CAPSNET_SOFTMAX_FRAC, params->bias_frac, params->coupling_frac, &shifts->coupling));
    CAPSNET_RETURN_IF_ERROR(
        capsnet_product_shift(params->coupling_frac, params->prediction_frac, params->sum_frac, &shifts->sum));
    /* 2^30 / sqrt(D) = sqrt(2^60 / D), and the floor of a square root of a floor is the floor of the root. */
    shifts->scale = capsnet_isqrt_u64(((uint64_t)1 << 60) / (uint64_t)output_dim);
    return CAPSNET_OK;
}

/* What every phase of one call needs. */
typedef struct {
    const capsnet_self_attention_params *params;
    const capsnet_capsule_dims *dims;
    const int8_t *input;
    const int8_t *weights;
    const int8_t *bias;
    int8_t *output;
    const capsnet_core_split *split;
    attention_shifts shifts;
    uint32_t *exp_q15;
    int32_t *totals;
    int32_t *partials; /* all cores', partial_stride apart */
    int32_t partial_stride;
    int8_t *logits;      /* this core's [J] */
    int8_t *couplings;   /* this core's [J] */
    int8_t *predictions; /* [I][J][D] */
} attention_call;

/* Phase 1, this core's input capsules: u_hat[i][j] = W[j][i] u[i]. */
static void predict(const attention_call *call)
{
    const capsnet_capsule_dims *dims = call->dims;
    const int32_t d_in = dims->input_dim, d_out = dims->output_dim;
    int32_t begin;
    int32_t end;
    capsnet_split_range(dims->num_inputs, call->split, &begin, &end);
    const ptrdiff_t matrix = (ptrdiff_t)d_out * d_in;
    const capsnet_prediction_layout along_outputs = {dims->num_inputs * matrix, 0, 1, d_out};
    for (int32_t i = begin; i < end; i++) {
        capsnet_predictions_q7(call->weights + i * matrix, call->input + (ptrdiff_t)i * d_in, dims->num_outputs, d_out,
                               d_in, call->shifts.prediction,
                               call->predictions + (ptrdiff_t)i * dims->num_outputs * d_out, &along_outputs);
    }
}

/* Phase 2, this core's output capsules: T[j] = sum_i u_hat[i][j], exact. */
static void sum_predictions(const attention_call *call)
{
    const capsnet_capsule_dims *dims = call->dims;
    const int32_t d_out = dims->output_dim, jd = dims->num_outputs * d_out;
    int32_t begin;
    int32_t end;
    capsnet_split_range(dims->num_outputs, call->split, &begin, &end);
    for (int32_t k = begin * d_out; k < end * d_out; k++) {
        int32_t total = 0;
        for (int32_t i = 0; i < dims->num_inputs; i++) {
            total += call->predictions[(ptrdiff_t)i * jd + k];
        }
        call->totals[k] = total;
    }
}

/* Phase 3, this core's input capsules: the agreements, couplings and partial s[j] += c[j][i] u_hat[i][j]. */
static void accumulate(const attention_call *call)
{
    const capsnet_capsule_dims *dims = call->dims;
    const attention_shifts *shifts = &call->shifts;
    const int32_t num_out = dims->num_outputs, d_out = dims->output_dim, jd = num_out * d_out;
    int32_t *partial = call->partials + (ptrdiff_t)call->split->core_id * call->partial_stride;
    for (int32_t k = 0; k < jd; k++) {
        partial[k] = 0;
    }
    const int32_t bias_scale = (int32_t)1 << (shifts->coupling + call->params->coupling_frac - call->params->bias_frac);
    const int32_t softmax_scale = (int32_t)1 << (shifts->coupling + call->params->coupling_frac - CAPSNET_SOFTMAX_FRAC);
    int32_t begin;
    int32_t end;
    capsnet_split_range(dims->num_inputs, call->split, &begin, &end);
    for (int32_t i = begin; i < end; i++) {
        const int8_t *u_hat_i = call->predictions + (ptrdiff_t)i * jd;
        CAPSNET_PHASE(CAPSNET_PHASE_AGREEMENTS);
        for (int32_t j = 0; j < num_out; j++) {
            const int8_t *u_hat = u_hat_i + (ptrdiff_t)j * d_out;
            const int32_t *total = call->totals + (ptrdiff_t)j * d_out;
            const int32_t dot = capsnet_dot_q7_s32(u_hat, total, d_out);
            const int64_t agreement = capsnet_round_shift_s64((int64_t)dot * shifts->scale, shifts->agreement);
            call->logits[j] = (int8_t)(agreement > CAPSNET_Q7_MAX ? CAPSNET_Q7_MAX
                                       : agreement < CAPSNET_Q7_MIN ? CAPSNET_Q7_MIN
                                                                    : agreement);
        }
        CAPSNET_PHASE(CAPSNET_PHASE_SOFTMAX);
        capsnet_softmax_row_q7(call->exp_q15, call->logits, 1, num_out, call->couplings);
        CAPSNET_PHASE(CAPSNET_PHASE_WEIGHTED_SUMS);
        for (int32_t j = 0; j < num_out; j++) {
            const int32_t b = call->bias[(ptrdiff_t)j * dims->num_inputs + i];
            const int32_t c =
                capsnet_requantize_q7(call->couplings[j] * softmax_scale + b * bias_scale, shifts->coupling);
            capsnet_scale_add_q7(partial + (ptrdiff_t)j * d_out, c, u_hat_i + (ptrdiff_t)j * d_out, d_out);
        }
    }
}

/* Phase 4, this core's output capsules: s from every core's partial sums, then v = squash(s). */
static void squash_outputs(const attention_call *call)
{
    const capsnet_capsule_dims *dims = call->dims;
    const int32_t d_out = dims->output_dim;
    int32_t begin;
    int32_t end;
    capsnet_split_range(dims->num_outputs, call->split, &begin, &end);
    if (begin == end) {
        return;
    }
    for (int32_t k = begin * d_out; k < end * d_out; k++) {
        int32_t s = 0;
        for (int32_t core = 0; core < call->split->num_cores; core++) {
            s += call->partials[(ptrdiff_t)core * call->partial_stride + k];
        }
        call->output[k] = capsnet_requantize_q7(s, call->shifts.sum);
    }
    int8_t *v = call->output + (ptrdiff_t)begin * d_out;
    CAPSNET_PHASE(CAPSNET_PHASE_SQUASH);
    /* Cannot fail: the formats were checked before the first barrier. */
    (void)capsnet_exp_squash_q7(v, end - begin, d_out, call->params->sum_frac, call->params->output_frac, v);
}

capsnet_status capsnet_self_attention_capsule_q7_split(const capsnet_context *ctx,
                                                       const capsnet_self_attention_params *params,
                                                       const capsnet_capsule_dims *dims, const int8_t *input,
                                                       const int8_t *weights, const int8_t *bias, int8_t *output,
                                                       const capsnet_core_split *split)
{
    if (ctx == NULL || ctx->buf == NULL || params == NULL || dims == NULL || input == NULL || weights == NULL ||
        bias == NULL || output == NULL || split == NULL) {
        return CAPSNET_ERROR_NULL_POINTER;
    }
    CAPSNET_RETURN_IF_ERROR(capsnet_check_barrier_split(split));
    CAPSNET_RETURN_IF_ERROR(check_shape(dims, split->num_cores));
    attention_call call;
    CAPSNET_RETURN_IF_ERROR(derive_shifts(params, dims->output_dim, &call.shifts));
    /* Accumulators: u_hat sums Din products; T sums I predictions and the agreement D products of a
     * prediction and a total, |u_hat . T| <= D * I * 2^14; s sums I products and the squash D; the
     * softmax normalises rows of J. */
    if (!capsnet_accumulator_fits(dims->input_dim, 0) ||
        !capsnet_accumulator_fits(capsnet_count2(dims->num_inputs, dims->output_dim), 0) ||
        dims->num_outputs > CAPSNET_SOFTMAX_ROW_MAX) {
        return CAPSNET_ERROR_OVERFLOW;
    }
    const scratch_offsets at = layout(dims, split->num_cores);
    if (ctx->size < at.total) {
        return CAPSNET_ERROR_BUFFER_SIZE;
    }

    uint8_t *base = capsnet_scratch_base(ctx->buf, split->num_cores);
    int8_t *mine = (int8_t *)(base + at.per_core + split->core_id * at.per_core_stride);
    call.params = params;
    call.dims = dims;
    call.input = input;
    call.weights = weights;
    call.bias = bias;
    call.output = output;
    call.split = split;
    call.exp_q15 = (uint32_t *)(void *)base;
    call.totals = (int32_t *)(void *)(base + at.totals);
    call.partials = (int32_t *)(void *)(base + at.partials);
    call.partial_stride = (int32_t)(at.partial_stride / (int64_t)sizeof(int32_t));
    call.logits = mine;
    call.couplings = mine + dims->num_outputs;
    call.predictions = (int8_t *)(base + at.predictions);

    /* The phase marks, when counted, cost a few instructions per input capsule in phase 3. */
    CAPSNET_PHASE(CAPSNET_PHASE_PREDICTIONS);
    predict(&call);
    if (split->core_id == 0) {
        CAPSNET_PHASE(CAPSNET_PHASE_SOFTMAX);
        capsnet_exp_table_fill(call.exp_q15, params->agreement_frac);
    }
    capsnet_wait_for_cores(split);
    CAPSNET_PHASE(CAPSNET_PHASE_AGREEMENTS);
    sum_predictions(&call);
    capsnet_wait_for_cores(split);
    accumulate(&call);
    CAPSNET_PHASE(CAPSNET_PHASE_WEIGHTED_SUMS);
    capsnet_wait_for_cores(split);
    squash_outputs(&call);
    return CAPSNET_OK;
}
