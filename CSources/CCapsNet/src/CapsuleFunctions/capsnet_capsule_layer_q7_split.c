/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file capsnet_capsule_layer_q7_split.c
 * @brief Capsule layer with dynamic routing, int8, on one or more cores, one input capsule at a time.
 *
 * Routing touches u_hat[.][i] only together with the couplings of input capsule i, so the kernel
 * works column by column: the logits b[.][i] are rebuilt from u_hat[.][i] and the kept outputs of
 * the earlier iterations (r dot products of D per output capsule, cheaper than storing J*I logits
 * in RAM), softmaxed, and multiplied into 32-bit partial sums of s. Every value is the one the
 * matrix formulation of capsnet_functions.h gives: the same products, requantized with the same
 * shifts, and integer sums that are exact in any order.
 */
#include "capsnet/capsnet.h"
#include "../capsnet_simd.h"
#include "../capsnet_support.h"

/* Scratch, from its first aligned byte (4 bytes, or a line for several cores):
 *   exp table     uint32 [256]           shared, filled by core 0 between iterations
 *   partial sums  int32  [cores][J][D]   each core's share of s in the current iteration
 *   history       int8   [R-1][J][D]     v of every iteration but the last
 *   per core      int8   [cores][J][2 + D or 2]  logits and couplings, and recomputed predictions
 *   predictions   int8   [I][J][D]       kept predictions, input capsule by input capsule
 * With several cores, each core's partial sums and per-core bytes take whole lines: cores with data
 * caches would otherwise write the same line for every input capsule (false sharing). */
typedef struct {
    int64_t partials, history, per_core, per_core_stride, predictions, total;
} scratch_offsets;

/* J * (2 + D) can pass INT32_MAX where J * D does not, so it is formed in 64 bits. */
static int64_t per_core_bytes(const capsnet_capsule_params *params, const capsnet_capsule_dims *dims)
{
    const int64_t recomputed = params->memory == CAPSNET_ROUTING_RECOMPUTE_PREDICTIONS ? dims->output_dim : 0;
    return dims->num_outputs * (2 + recomputed);
}

static scratch_offsets layout(const capsnet_capsule_params *params, const capsnet_capsule_dims *dims,
                              int32_t num_cores)
{
    const int64_t jd = (int64_t)dims->num_outputs * dims->output_dim;
    scratch_offsets at;
    at.partials = CAPSNET_EXP_TABLE_LEN * (int64_t)sizeof(uint32_t);
    at.history = at.partials + num_cores * capsnet_core_stride(jd * (int64_t)sizeof(int32_t), num_cores);
    at.per_core = capsnet_core_stride(at.history + (params->routings - 1) * jd, num_cores);
    at.per_core_stride = capsnet_core_stride(per_core_bytes(params, dims), num_cores);
    at.predictions = at.per_core + num_cores * at.per_core_stride;
    const int64_t kept = params->memory == CAPSNET_ROUTING_KEEP_PREDICTIONS ? jd * dims->num_inputs : 0;
    at.total = at.predictions + kept + capsnet_scratch_slack(num_cores);
    return at;
}

static capsnet_status check_shape(const capsnet_capsule_params *params, const capsnet_capsule_dims *dims,
                                  int32_t num_cores)
{
    if (params == NULL || dims == NULL || params->iterations == NULL) {
        return CAPSNET_ERROR_NULL_POINTER;
    }
    const int32_t routes = capsnet_count2(dims->num_outputs, dims->num_inputs);
    if (routes < 0 || params->routings < 1 || params->routings > CAPSNET_ROUTINGS_MAX || num_cores < 1 || capsnet_count2(dims->num_inputs, dims->input_dim) < 0 ||
        capsnet_count3(routes, dims->output_dim, dims->input_dim) < 0 ||
        capsnet_count2(dims->num_outputs, dims->output_dim) < 0 || num_cores > CAPSNET_CORES_MAX) {
        return CAPSNET_ERROR_DIMENSION;
    }
    if (params->memory != CAPSNET_ROUTING_KEEP_PREDICTIONS && params->memory != CAPSNET_ROUTING_RECOMPUTE_PREDICTIONS) {
        return CAPSNET_ERROR_DIMENSION;
    }
    return layout(params, dims, num_cores).total <= INT32_MAX ? CAPSNET_OK : CAPSNET_ERROR_DIMENSION;
}

int32_t capsnet_capsule_layer_q7_split_get_buffer_size(const capsnet_capsule_params *params,
                                                       const capsnet_capsule_dims *dims, int32_t num_cores)
{
    const capsnet_status status = check_shape(params, dims, num_cores);
    return status == CAPSNET_OK ? (int32_t)layout(params, dims, num_cores).total : (int32_t)status;
}

/* Every shift of the layer, checked once. */
typedef struct {
    int32_t prediction;
    int32_t sum[CAPSNET_ROUTINGS_MAX];
    int32_t agreement[CAPSNET_ROUTINGS_MAX];
    int32_t update[CAPSNET_ROUTINGS_MAX];
    int32_t logit_scale[CAPSNET_ROUTINGS_MAX];
    int32_t agreement_scale[CAPSNET_ROUTINGS_MAX];
} routing_shifts;

static capsnet_status derive_shifts(const capsnet_capsule_params *params, routing_shifts *shifts)
{
    CAPSNET_RETURN_IF_ERROR(capsnet_product_shift(params->input_frac, params->weight_frac, params->prediction_frac,
                                                  &shifts->prediction));
    for (int32_t r = 0; r < params->routings; r++) {
        const capsnet_routing_formats *it = &params->iterations[r];
        if (!capsnet_frac_is_valid(it->logit_frac) ||
            !capsnet_squash_formats_are_valid(it->sum_frac, it->output_frac)) {
            return CAPSNET_ERROR_SHIFT;
        }
        CAPSNET_RETURN_IF_ERROR(
            capsnet_product_shift(CAPSNET_SOFTMAX_FRAC, params->prediction_frac, it->sum_frac, &shifts->sum[r]));
        if (r + 1 < params->routings) {
            CAPSNET_RETURN_IF_ERROR(capsnet_product_shift(it->output_frac, params->prediction_frac,
                                                          it->agreement_frac, &shifts->agreement[r]));
            /* b + a as capsnet_mat_add_q7 sums: both aligned to the finer format, then requantized. */
            CAPSNET_RETURN_IF_ERROR(
                capsnet_sum_shift(it->logit_frac, it->agreement_frac, it[1].logit_frac, &shifts->update[r]));
            const int32_t common_frac = it[1].logit_frac + shifts->update[r];
            shifts->logit_scale[r] = (int32_t)1 << (common_frac - it->logit_frac);
            shifts->agreement_scale[r] = (int32_t)1 << (common_frac - it->agreement_frac);
        }
    }
    return CAPSNET_OK;
}

/* What every step of one call needs. */
typedef struct {
    const capsnet_capsule_params *params;
    const capsnet_capsule_dims *dims;
    const int8_t *input;
    const int8_t *weights;
    int8_t *output;
    const capsnet_core_split *split;
    routing_shifts shifts;
    uint32_t *exp_q30;
    int32_t *partials; /* all cores', partial_stride() apart */
    int8_t *history;
    int8_t *logits;      /* this core's [J] */
    int8_t *couplings;   /* this core's [J] */
    int8_t *predictions; /* this core's [J][D] when recomputed, else everyone's [I][J][D] */
} routing_call;

/* int32 values from one core's partial sums to the next core's (not kept in routing_call: GCC keeps
 * its fields in registers, and the hot loops have none to spare). */
static int32_t partial_stride(const routing_call *call)
{
    const int64_t jd = (int64_t)call->dims->num_outputs * call->dims->output_dim;
    return (int32_t)(capsnet_core_stride(jd * (int64_t)sizeof(int32_t), call->split->num_cores) / (int64_t)sizeof(int32_t));
}

/* u_hat[j][i] = W[j][i] u[i] for every j: J*D dot products of Din, into J*D bytes. */
static void predict(const routing_call *call, int32_t i, int8_t *u_hat_i)
{
    const capsnet_capsule_dims *dims = call->dims;
    const int32_t d_in = dims->input_dim, d_out = dims->output_dim;
    const int8_t *u = call->input + (ptrdiff_t)i * d_in;
    for (int32_t j = 0; j < dims->num_outputs; j++) {
        const int8_t *w = call->weights + ((ptrdiff_t)j * dims->num_inputs + i) * d_out * d_in;
        capsnet_mat_vec_q7(w, u, d_out, d_in, call->shifts.prediction, u_hat_i + (ptrdiff_t)j * d_out);
    }
}

/* b_r[.][i] from b_0 = 0 and the agreements with v_0 .. v_(r-1). */
static void rebuild_logits(const routing_call *call, int32_t r, const int8_t *u_hat_i)
{
    const int32_t num_out = call->dims->num_outputs, d_out = call->dims->output_dim;
    const routing_shifts *s = &call->shifts;
    for (int32_t j = 0; j < num_out; j++) {
        const int8_t *u_hat = u_hat_i + (ptrdiff_t)j * d_out;
        int32_t b = 0;
        for (int32_t q = 0; q < r; q++) {
            const int8_t *v = call->history + ((ptrdiff_t)q * num_out + j) * d_out;
            const int32_t a = capsnet_requantize_q7(capsnet_dot1_q7(v, u_hat, d_out), s->agreement[q]);
            b = capsnet_requantize_q7(b * s->logit_scale[q] + a * s->agreement_scale[q], s->update[q]);
        }
        call->logits[j] = (int8_t)b;
    }
}

/* clang inlines accumulate into the kernel, where its loops run 1.9% more instructions on
 * rv32imcv; gcc's inlined copy is the faster one on the Cortex-M4 (3.5%). */
#if defined(__clang__)
#define ACCUMULATE_LINKAGE CAPSNET_NOINLINE
#else
#define ACCUMULATE_LINKAGE
#endif

/* This core's input capsules in iteration r: partial s[j] += c[j][i] u_hat[j][i]. */
static ACCUMULATE_LINKAGE void accumulate(const routing_call *call, int32_t r)
{
    const capsnet_capsule_dims *dims = call->dims;
    const int32_t num_out = dims->num_outputs, d_out = dims->output_dim;
    const int32_t jd = num_out * d_out;
    const int32_t keep = call->params->memory == CAPSNET_ROUTING_KEEP_PREDICTIONS;
    int32_t *partial = call->partials + (ptrdiff_t)call->split->core_id * partial_stride(call);
    for (int32_t k = 0; k < jd; k++) {
        partial[k] = 0;
    }
    int32_t begin;
    int32_t end;
    capsnet_split_range(dims->num_inputs, call->split, &begin, &end);
    for (int32_t i = begin; i < end; i++) {
        int8_t *u_hat_i = keep ? call->predictions + (ptrdiff_t)i * jd : call->predictions;
        if (!keep || r == 0) {
            predict(call, i, u_hat_i);
        }
        /* b_0 is all zeros: the couplings of iteration 0 are the same for every i, set by the caller. */
        if (r > 0) {
            rebuild_logits(call, r, u_hat_i);
            capsnet_softmax_row_q7(call->exp_q30, call->logits, num_out, call->couplings);
        }
        for (int32_t j = 0; j < num_out; j++) {
            const int32_t c = call->couplings[j];
            const int8_t *u_hat = u_hat_i + (ptrdiff_t)j * d_out;
            int32_t *s = partial + (ptrdiff_t)j * d_out;
            for (int32_t d = 0; d < d_out; d++) {
                s[d] += c * u_hat[d];
            }
        }
    }
}

/* This core's output capsules in iteration r: s from every core's partial sums, then v = squash(s). */
static void squash_outputs(const routing_call *call, int32_t r)
{
    const capsnet_capsule_dims *dims = call->dims;
    const capsnet_routing_formats *it = &call->params->iterations[r];
    const int32_t d_out = dims->output_dim, jd = dims->num_outputs * d_out;
    int8_t *v = r + 1 < call->params->routings ? call->history + (ptrdiff_t)r * jd : call->output;
    int32_t begin;
    int32_t end;
    capsnet_split_range(dims->num_outputs, call->split, &begin, &end);
    if (begin == end) {
        return;
    }
    const int32_t stride = partial_stride(call);
    for (int32_t k = begin * d_out; k < end * d_out; k++) {
        int32_t s = 0;
        for (int32_t core = 0; core < call->split->num_cores; core++) {
            s += call->partials[(ptrdiff_t)core * stride + k];
        }
        v[k] = capsnet_requantize_q7(s, call->shifts.sum[r]);
    }
    /* Cannot fail: the formats were checked before the first barrier. */
    (void)capsnet_squash_q7(v + (ptrdiff_t)begin * d_out, end - begin, d_out, it->sum_frac, it->output_frac,
                            v + (ptrdiff_t)begin * d_out);
}

capsnet_status capsnet_capsule_layer_q7_split(const capsnet_context *ctx, const capsnet_capsule_params *params,
                                              const capsnet_capsule_dims *dims, const int8_t *input,
                                              const int8_t *weights, int8_t *output,
                                              const capsnet_core_split *split)
{
    if (ctx == NULL || ctx->buf == NULL || params == NULL || params->iterations == NULL || dims == NULL ||
        input == NULL || weights == NULL || output == NULL || split == NULL) {
        return CAPSNET_ERROR_NULL_POINTER;
    }
    CAPSNET_RETURN_IF_ERROR(capsnet_check_barrier_split(split));
    CAPSNET_RETURN_IF_ERROR(check_shape(params, dims, split->num_cores));
    routing_call call;
    CAPSNET_RETURN_IF_ERROR(derive_shifts(params, &call.shifts));
    /* Accumulators: u_hat sums Din products, s sums I, the agreement and squash sum D; the softmax
     * normalises rows of J. */
    if (!capsnet_accumulator_fits(dims->input_dim, 0) || !capsnet_accumulator_fits(dims->num_inputs, 0) ||
        !capsnet_accumulator_fits(dims->output_dim, 0) || dims->num_outputs > CAPSNET_SOFTMAX_ROW_MAX) {
        return CAPSNET_ERROR_OVERFLOW;
    }
    const scratch_offsets at = layout(params, dims, split->num_cores);
    if (ctx->size < at.total) {
        return CAPSNET_ERROR_BUFFER_SIZE;
    }

    uint8_t *base = capsnet_scratch_base(ctx->buf, split->num_cores);
    int8_t *mine = (int8_t *)(base + at.per_core + split->core_id * at.per_core_stride);
    call.params = params;
    call.dims = dims;
    call.input = input;
    call.weights = weights;
    call.output = output;
    call.split = split;
    call.exp_q30 = (uint32_t *)(void *)base;
    call.partials = (int32_t *)(void *)(base + at.partials);
    call.history = (int8_t *)(base + at.history);
    call.logits = mine;
    call.couplings = mine + dims->num_outputs;
    call.predictions = params->memory == CAPSNET_ROUTING_KEEP_PREDICTIONS ? (int8_t *)(base + at.predictions)
                                                                          : mine + 2 * dims->num_outputs;

    /* Iteration 0 softmaxes all-zero logits, which only needs exp(0). */
    const uint32_t exp_zero = CAPSNET_Q30_ONE;
    for (int32_t j = 0; j < dims->num_outputs; j++) {
        call.logits[j] = 0;
    }
    capsnet_softmax_row_q7(&exp_zero, call.logits, dims->num_outputs, call.couplings);

    for (int32_t r = 0; r < params->routings; r++) {
        accumulate(&call, r);
        capsnet_wait_for_cores(split);
        squash_outputs(&call, r);
        if (r + 1 < params->routings && split->core_id == 0) {
            capsnet_exp_table_fill(call.exp_q30, params->iterations[r + 1].logit_frac, 1, CAPSNET_EXP_TABLE_LEN);
        }
        capsnet_wait_for_cores(split);
    }
    return CAPSNET_OK;
}
