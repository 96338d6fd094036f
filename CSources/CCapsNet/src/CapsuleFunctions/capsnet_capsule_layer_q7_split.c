/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file capsnet_capsule_layer_q7_split.c
 * @brief Capsule layer with dynamic routing, int8, on one or more cores.
 *
 * Two loop orders give the same bytes, chosen by params->memory:
 * - Predictions kept: phase by phase over all of a core's input capsules. The predictions are kept
 *   transposed, u_hat[j][d][i], so that every phase's inner loop runs along i, the long axis: the
 *   weighted sums s[j][d] are dot products of a coupling row c[j][.] with a prediction row, and the
 *   agreements of output capsule j are one vector times D prediction rows. The logits b[j][i] and
 *   couplings c[j][i] are kept between phases, so b_(r+1) is b_r plus one agreement.
 * - Predictions recomputed (lean memory): one input capsule at a time. Its J*D predictions are
 *   computed once per iteration, and serve both its agreements with the previous iteration's
 *   outputs (into its kept logits b[i][.], J*I bytes in all) and its weighted sums; no
 *   prediction is stored beyond the capsule's own.
 * Every value is the one the matrix formulation of capsnet_functions.h gives: the same products,
 * requantized with the same shifts, and integer sums that are exact in any order.
 *
 * With params->precision CAPSNET_ROUTING_Q15 the predictions and couplings are int16 and the weighted
 * sums 64-bit: the same phases in both loop orders, in functions of their own (the _q15 ones below),
 * so that the int8 routing's tuned loops are left as they are.
 */
#include "capsnet/capsnet.h"
#include "../capsnet_simd.h"
#include "../capsnet_support.h"

/* Scratch, from its first aligned byte (4 bytes, 8 for the 16-bit routing, or a line for several
 * cores), with the predictions and couplings int16 and the partial sums int64 in the 16-bit routing
 * (each of those arrays then starting 4-byte aligned):
 *   exp table     uint32 [256]           shared, filled by core 0 between iterations
 *   partial sums  int32  [cores][J][D]   each core's share of s in the current iteration
 *   history       int8   [R-1][J][D]     v of every iteration but the last
 * then, with the predictions kept:
 *   predictions   int8   [J][D][I]       u_hat, transposed
 *   logits        int8   [J][I]          b of the current iteration (none when R = 1)
 *   couplings     int8   [J][I]          c of the current iteration (one row when R = 1)
 * or, with them recomputed:
 *   logits        int8   [I][J]          b of the current iteration (none when R = 1)
 *   per core      int8   [cores][J][1 + D]  one input capsule's couplings and predictions
 * With several cores, each core's partial sums and per-core bytes take whole lines: cores with data
 * caches would otherwise write the same line for every input capsule (false sharing). Each core
 * writes only its own input capsules' columns of the kept tensors. */
/* The 16-bit routing's limits (see capsnet_capsule_layer_q7_split). */
#define CAPSULE_Q15_DIM_MAX 511
#define CAPSULE_Q15_INPUTS_MAX 65535

typedef struct {
    int64_t partials, history, per_core, per_core_stride, predictions, logits, couplings, total;
} scratch_offsets;

static int keeps_predictions(const capsnet_capsule_params *params)
{
    return params->memory == CAPSNET_ROUTING_KEEP_PREDICTIONS;
}

static int is_wide(const capsnet_capsule_params *params)
{
    return params->precision == CAPSNET_ROUTING_Q15;
}

/* Bytes of one partial sum. */
static int64_t partial_size(const capsnet_capsule_params *params)
{
    return is_wide(params) ? (int64_t)sizeof(int64_t) : (int64_t)sizeof(int32_t);
}

/* The start of an array of int16 values: 4-byte aligned in the 16-bit routing, so that its words
 * load whole; the int8 routing's offsets are left as they were. */
static int64_t values_start(const capsnet_capsule_params *params, int64_t offset)
{
    return is_wide(params) ? capsnet_align4(offset) : offset;
}

static scratch_offsets layout(const capsnet_capsule_params *params, const capsnet_capsule_dims *dims,
                              int32_t num_cores)
{
    const int64_t jd = (int64_t)dims->num_outputs * dims->output_dim;
    const int64_t ji = (int64_t)dims->num_outputs * dims->num_inputs;
    const int64_t value = is_wide(params) ? 2 : 1; /* bytes of a prediction or a coupling */
    scratch_offsets at;
    at.partials = CAPSNET_EXP_TABLE_LEN * (int64_t)sizeof(uint32_t);
    at.history = at.partials + num_cores * capsnet_core_stride(jd * partial_size(params), num_cores);
    at.per_core = capsnet_core_stride(at.history + (params->routings - 1) * jd, num_cores);
    if (keeps_predictions(params)) {
        at.per_core_stride = 0;
        at.predictions = values_start(params, at.per_core);
        at.logits = at.predictions + jd * dims->num_inputs * value;
        at.couplings = values_start(params, at.logits + (params->routings > 1 ? ji : 0));
        at.total = at.couplings + (params->routings > 1 ? ji : dims->num_inputs) * value;
    } else {
        at.logits = at.per_core;
        at.per_core = capsnet_core_stride(values_start(params, at.logits + (params->routings > 1 ? ji : 0)), num_cores);
        /* J * (1 + D) can pass INT32_MAX where J * D does not, so it is formed in 64 bits. */
        at.per_core_stride = capsnet_core_stride(
            values_start(params, dims->num_outputs * (1 + (int64_t)dims->output_dim) * value), num_cores);
        at.predictions = at.couplings = at.per_core;
        at.total = at.per_core + num_cores * at.per_core_stride;
    }
    /* One core's base is raised from 4- to 8-byte alignment for int64 partial sums: 4 more bytes. */
    at.total += capsnet_scratch_slack(num_cores) + (is_wide(params) && num_cores == 1 ? 4 : 0);
    return at;
}

/* The scratch's aligned start (see layout()). */
static uint8_t *scratch_base(void *buf, const capsnet_capsule_params *params, int32_t num_cores)
{
    uint8_t *base = capsnet_scratch_base(buf, num_cores);
    return is_wide(params) && (uintptr_t)base % 8u != 0 ? base + 4 : base;
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
    if ((params->memory != CAPSNET_ROUTING_KEEP_PREDICTIONS && params->memory != CAPSNET_ROUTING_RECOMPUTE_PREDICTIONS) ||
        (params->precision != CAPSNET_ROUTING_Q7 && params->precision != CAPSNET_ROUTING_Q15)) {
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
    int32_t prediction; /* output capsule j's: this plus capsnet_capsule_frac_delta(params, j) */
    int32_t sum[CAPSNET_ROUTINGS_MAX];
    int32_t agreement[CAPSNET_ROUTINGS_MAX];
    int32_t update[CAPSNET_ROUTINGS_MAX];
    int32_t logit_scale[CAPSNET_ROUTINGS_MAX];
    int32_t agreement_scale[CAPSNET_ROUTINGS_MAX];
} routing_shifts;

/* How much finer output capsule j's matrices are than the layer's weight_frac (0 without their own
 * formats): its prediction shift is the layer's plus this. */
static int32_t capsule_frac_delta(const capsnet_capsule_params *params, int32_t j)
{
    return params->weight_fracs != NULL ? params->weight_fracs[j] - params->weight_frac : 0;
}

static capsnet_status derive_shifts(const capsnet_capsule_params *params, const capsnet_capsule_dims *dims,
                                    routing_shifts *shifts)
{
    CAPSNET_RETURN_IF_ERROR(capsnet_product_shift(params->input_frac, params->weight_frac, params->prediction_frac,
                                                  &shifts->prediction));
    for (int32_t j = 0; params->weight_fracs != NULL && j < dims->num_outputs; j++) {
        int32_t shift;
        CAPSNET_RETURN_IF_ERROR(
            capsnet_product_shift(params->input_frac, params->weight_fracs[j], params->prediction_frac, &shift));
    }
    for (int32_t r = 0; r < params->routings; r++) {
        const capsnet_routing_formats *it = &params->iterations[r];
        if (!capsnet_frac_is_valid(it->logit_frac) ||
            !capsnet_squash_formats_are_valid(it->sum_frac, it->output_frac)) {
            return CAPSNET_ERROR_SHIFT;
        }
        const int32_t coupling_frac = is_wide(params) ? CAPSNET_SOFTMAX_FRAC_Q15 : CAPSNET_SOFTMAX_FRAC;
        CAPSNET_RETURN_IF_ERROR(
            capsnet_product_shift(coupling_frac, params->prediction_frac, it->sum_frac, &shifts->sum[r]));
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
    uint32_t *exp_q15;
    int32_t *partials; /* all cores', partial_stride() apart */
    int8_t *history;
    int8_t *predictions; /* kept: everyone's [J][D][I]; recomputed: this core's [J][D] */
    int8_t *logits;      /* kept: [J][I]; recomputed: [I][J] */
    int8_t *couplings;   /* kept: [J][I]; recomputed: this core's [J] */
    /* The 16-bit routing's, in place of partials, predictions and couplings. */
    int64_t *partials_q15;
    int16_t *predictions_q15;
    int16_t *couplings_q15;
    int32_t begin, end;  /* this core's input capsules */
} routing_call;

/* Partial sums from one core's to the next core's (not kept in routing_call: GCC keeps its fields in
 * registers, and the hot loops have none to spare). */
static int32_t partial_stride(const routing_call *call)
{
    const int64_t jd = (int64_t)call->dims->num_outputs * call->dims->output_dim;
    const int64_t size = partial_size(call->params);
    return (int32_t)(capsnet_core_stride(jd * size, call->split->num_cores) / size);
}

/* ---- Predictions kept: phase by phase, along the input capsules. ---- */

/* u_hat[j][.][i] = W[j][i] u[i] for this core's i, every j: the weights in their stored order. */
static CAPSNET_NOINLINE void predict_all(const routing_call *call)
{
    const capsnet_capsule_dims *dims = call->dims;
    const int32_t d_in = dims->input_dim, d_out = dims->output_dim, num_in = dims->num_inputs;
    const capsnet_prediction_layout along_inputs = {(ptrdiff_t)d_out * d_in, d_in, num_in, 1};
    for (int32_t j = 0; j < dims->num_outputs; j++) {
        capsnet_predictions_q7(call->weights + ((ptrdiff_t)j * num_in + call->begin) * d_out * d_in,
                               call->input + (ptrdiff_t)call->begin * d_in, call->end - call->begin, d_out, d_in,
                               call->shifts.prediction + capsule_frac_delta(call->params, j),
                               call->predictions + (ptrdiff_t)j * d_out * num_in + call->begin, &along_inputs);
    }
}

/* The logit update of iteration r (from 1): b_1 = 0 * logit_scale + a, the zero logits of
 * iteration 0 never read. */
static capsnet_logit_update logit_update(const routing_shifts *shifts, int32_t r)
{
    const capsnet_logit_update update = {shifts->agreement[r - 1], r > 1 ? shifts->logit_scale[r - 1] : 0,
                                         shifts->agreement_scale[r - 1], shifts->update[r - 1]};
    return update;
}

/* b_r[j][i] for this core's i, from b_(r-1) and the agreement of u_hat[j][.][i] with v_(r-1)[j]. */
static CAPSNET_NOINLINE void agree_all(const routing_call *call, int32_t r)
{
    const capsnet_capsule_dims *dims = call->dims;
    const int32_t d_out = dims->output_dim, num_in = dims->num_inputs;
    const capsnet_logit_update update = logit_update(&call->shifts, r);
    const int8_t *v = call->history + (ptrdiff_t)(r - 1) * dims->num_outputs * d_out;
    for (int32_t j = 0; j < dims->num_outputs; j++, v += d_out) {
        const int8_t *u_hat = call->predictions + (ptrdiff_t)j * d_out * num_in;
        int8_t *b = call->logits + (ptrdiff_t)j * num_in;
        capsnet_agreement_logits_q7(u_hat + call->begin, num_in, v, d_out, call->end - call->begin, &update,
                                    b + call->begin);
    }
}

/* c[.][i] = softmax of b[.][i] for this core's i. */
static CAPSNET_NOINLINE void couple_all(const routing_call *call)
{
    const int32_t num_in = call->dims->num_inputs;
    capsnet_softmax_columns_q7(call->exp_q15, call->logits + call->begin, num_in, call->dims->num_outputs,
                               call->end - call->begin, call->couplings + call->begin);
}

/* This core's partial s[j][d] = sum over its i of c[j][i] u_hat[j][d][i]. In iteration 0 every
 * coupling is the one in row 0. */
static CAPSNET_NOINLINE void weigh_all(const routing_call *call, int32_t r)
{
    const capsnet_capsule_dims *dims = call->dims;
    const int32_t d_out = dims->output_dim, num_in = dims->num_inputs, count = call->end - call->begin;
    int32_t *s = call->partials + (ptrdiff_t)call->split->core_id * partial_stride(call);
    for (int32_t j = 0; j < dims->num_outputs; j++, s += d_out) {
        const int8_t *c = call->couplings + (r == 0 ? 0 : (ptrdiff_t)j * num_in) + call->begin;
        const int8_t *u_hat = call->predictions + (ptrdiff_t)j * d_out * num_in + call->begin;
        if (r == 0) {
            /* One coupling for every route: c times the sum of the predictions, the same integer. */
            for (int32_t d = 0; d < d_out; d++) {
                s[d] = c[0] * capsnet_sum_q7(u_hat + (ptrdiff_t)d * num_in, count);
            }
            continue;
        }
        capsnet_vec_rows_dot_q7(c, u_hat, num_in, d_out, count, s);
    }
}

/* Iteration r's work on this core's input capsules, predictions kept. */
static void route_kept(const routing_call *call, int32_t r)
{
    if (r == 0) {
        CAPSNET_PHASE(CAPSNET_PHASE_PREDICTIONS);
        predict_all(call);
    } else {
        CAPSNET_PHASE(CAPSNET_PHASE_AGREEMENTS);
        agree_all(call, r);
        CAPSNET_PHASE(CAPSNET_PHASE_SOFTMAX);
        couple_all(call);
    }
    CAPSNET_PHASE(CAPSNET_PHASE_WEIGHTED_SUMS);
    weigh_all(call, r);
}

/* ---- Predictions recomputed: one input capsule at a time. ---- */

/* u_hat[j][i] = W[j][i] u[i] for every j: J*D dot products of Din, into J*D bytes. */
static void predict(const routing_call *call, int32_t i, int8_t *u_hat_i)
{
    const capsnet_capsule_dims *dims = call->dims;
    const int32_t d_in = dims->input_dim, d_out = dims->output_dim;
    const ptrdiff_t matrix = (ptrdiff_t)d_out * d_in;
    const capsnet_prediction_layout along_outputs = {dims->num_inputs * matrix, 0, 1, d_out};
    capsnet_predictions_q7(call->weights + i * matrix, call->input + (ptrdiff_t)i * d_in, dims->num_outputs, d_out,
                           d_in, call->shifts.prediction, u_hat_i, &along_outputs);
}

/* predict() for output capsules with formats of their own: one call per output capsule, each with
 * its shift, to the primitive out of line (capsnet_predictions_outline_q7), so that this file keeps
 * the inlining predict() and predict_all() were tuned with. */
static CAPSNET_NOINLINE void predict_per_capsule(const routing_call *call, int32_t i, int8_t *u_hat_i)
{
    const capsnet_capsule_dims *dims = call->dims;
    const int32_t d_in = dims->input_dim, d_out = dims->output_dim;
    const ptrdiff_t matrix = (ptrdiff_t)d_out * d_in;
    const capsnet_prediction_layout one = {0, 0, 1, d_out};
    for (int32_t j = 0; j < dims->num_outputs; j++) {
        capsnet_predictions_outline_q7(call->weights + ((ptrdiff_t)j * dims->num_inputs + i) * matrix,
                                       call->input + (ptrdiff_t)i * d_in, 1, d_out, d_in,
                                       call->shifts.prediction + capsule_frac_delta(call->params, j),
                                       u_hat_i + (ptrdiff_t)j * d_out, &one);
    }
}

/* Iteration r's work on this core's input capsules, predictions recomputed: each capsule's
 * predictions once, its agreements with v_(r-1) into its kept logits b[i][.] (from r = 1), their
 * softmax, and partial s[j] += c[j][i] u_hat[j][i]. The phase marks, when counted, cost a few
 * instructions per capsule. */
static __attribute__((always_inline)) inline void route_each_capsule(const routing_call *call, int32_t r,
                                                                     int per_capsule)
{
    const capsnet_capsule_dims *dims = call->dims;
    const int32_t num_out = dims->num_outputs, d_out = dims->output_dim;
    const int32_t jd = num_out * d_out;
    /* v_(r-1) and the logit update, from iteration 1 on. */
    const int8_t *v = r > 0 ? call->history + (ptrdiff_t)(r - 1) * jd : NULL;
    const capsnet_logit_update update = r > 0 ? logit_update(&call->shifts, r) : (capsnet_logit_update){0, 0, 0, 0};
    int32_t *partial = call->partials + (ptrdiff_t)call->split->core_id * partial_stride(call);
    for (int32_t k = 0; k < jd; k++) {
        partial[k] = 0;
    }
    enum { AGREEMENT_BLOCK = 32 };
    int32_t sums[AGREEMENT_BLOCK];
    for (int32_t i = call->begin; i < call->end; i++) {
        CAPSNET_PHASE(CAPSNET_PHASE_PREDICTIONS);
        if (per_capsule) {
            predict_per_capsule(call, i, call->predictions);
        } else {
            predict(call, i, call->predictions);
        }
        /* b_0 is all zeros: the couplings of iteration 0 are the same for every i, set by the caller. */
        if (r > 0) {
            CAPSNET_PHASE(CAPSNET_PHASE_AGREEMENTS);
            int8_t *b = call->logits + (ptrdiff_t)i * num_out;
            for (int32_t j0 = 0; j0 < num_out; j0 += AGREEMENT_BLOCK) {
                const int32_t count = num_out - j0 < AGREEMENT_BLOCK ? num_out - j0 : AGREEMENT_BLOCK;
                const ptrdiff_t at = (ptrdiff_t)j0 * d_out;
                capsnet_rows_dot_q7(v + at, call->predictions + at, count, d_out, sums);
                capsnet_logits_q7(sums, count, &update, b + j0);
            }
            CAPSNET_PHASE(CAPSNET_PHASE_SOFTMAX);
            capsnet_softmax_row_q7(call->exp_q15, b, 1, num_out, call->couplings);
        }
        CAPSNET_PHASE(CAPSNET_PHASE_WEIGHTED_SUMS);
        capsnet_scale_add_rows_q7(partial, call->couplings, call->predictions, num_out, d_out);
    }
}

/* The lean loop in two copies, so that per-capsule formats (a constant `per_capsule` where it is
 * inlined) cost the layers without them nothing: its registers are tuned to the last. */
static CAPSNET_NOINLINE void route_recomputed(const routing_call *call, int32_t r)
{
    route_each_capsule(call, r, 0);
}

static CAPSNET_NOINLINE void route_recomputed_per_capsule(const routing_call *call, int32_t r)
{
    route_each_capsule(call, r, 1);
}


/* ---- The 16-bit routing: the same phases with int16 predictions and couplings. ---- */

/* predict_all() into int16. */
static CAPSNET_NOINLINE void predict_all_q15(const routing_call *call)
{
    const capsnet_capsule_dims *dims = call->dims;
    const int32_t d_in = dims->input_dim, d_out = dims->output_dim, num_in = dims->num_inputs;
    const capsnet_prediction_layout along_inputs = {(ptrdiff_t)d_out * d_in, d_in, num_in, 1};
    for (int32_t j = 0; j < dims->num_outputs; j++) {
        capsnet_predictions_q15(call->weights + ((ptrdiff_t)j * num_in + call->begin) * d_out * d_in,
                                call->input + (ptrdiff_t)call->begin * d_in, call->end - call->begin, d_out, d_in,
                                call->shifts.prediction + capsule_frac_delta(call->params, j),
                                call->predictions_q15 + (ptrdiff_t)j * d_out * num_in + call->begin, &along_inputs);
    }
}

/* agree_all() on int16 predictions. */
static CAPSNET_NOINLINE void agree_all_q15(const routing_call *call, int32_t r)
{
    const capsnet_capsule_dims *dims = call->dims;
    const int32_t d_out = dims->output_dim, num_in = dims->num_inputs;
    const capsnet_logit_update update = logit_update(&call->shifts, r);
    const int8_t *v = call->history + (ptrdiff_t)(r - 1) * dims->num_outputs * d_out;
    for (int32_t j = 0; j < dims->num_outputs; j++, v += d_out) {
        const int16_t *u_hat = call->predictions_q15 + (ptrdiff_t)j * d_out * num_in;
        int8_t *b = call->logits + (ptrdiff_t)j * num_in;
        capsnet_agreement_logits_q15(u_hat + call->begin, num_in, v, d_out, call->end - call->begin, &update,
                                     b + call->begin);
    }
}

/* couple_all() into Q0.15. */
static CAPSNET_NOINLINE void couple_all_q15(const routing_call *call)
{
    const int32_t num_in = call->dims->num_inputs;
    capsnet_softmax_columns_q15(call->exp_q15, call->logits + call->begin, num_in, call->dims->num_outputs,
                                call->end - call->begin, call->couplings_q15 + call->begin);
}

/* weigh_all() in 64 bits. */
static CAPSNET_NOINLINE void weigh_all_q15(const routing_call *call, int32_t r)
{
    const capsnet_capsule_dims *dims = call->dims;
    const int32_t d_out = dims->output_dim, num_in = dims->num_inputs, count = call->end - call->begin;
    int64_t *s = call->partials_q15 + (ptrdiff_t)call->split->core_id * partial_stride(call);
    for (int32_t j = 0; j < dims->num_outputs; j++, s += d_out) {
        const int16_t *c = call->couplings_q15 + (r == 0 ? 0 : (ptrdiff_t)j * num_in) + call->begin;
        const int16_t *u_hat = call->predictions_q15 + (ptrdiff_t)j * d_out * num_in + call->begin;
        if (r == 0) {
            for (int32_t d = 0; d < d_out; d++) {
                s[d] = (int64_t)c[0] * capsnet_sum_q15(u_hat + (ptrdiff_t)d * num_in, count);
            }
            continue;
        }
        capsnet_vec_rows_dot_q15(c, u_hat, num_in, d_out, count, s);
    }
}

static void route_kept_q15(const routing_call *call, int32_t r)
{
    if (r == 0) {
        CAPSNET_PHASE(CAPSNET_PHASE_PREDICTIONS);
        predict_all_q15(call);
    } else {
        CAPSNET_PHASE(CAPSNET_PHASE_AGREEMENTS);
        agree_all_q15(call, r);
        CAPSNET_PHASE(CAPSNET_PHASE_SOFTMAX);
        couple_all_q15(call);
    }
    CAPSNET_PHASE(CAPSNET_PHASE_WEIGHTED_SUMS);
    weigh_all_q15(call, r);
}

/* route_each_capsule() with int16 predictions and couplings and 64-bit partial sums; with
 * per-capsule formats, one prediction call per output capsule, each with its own shift. */
static CAPSNET_NOINLINE void route_recomputed_q15(const routing_call *call, int32_t r)
{
    const capsnet_capsule_dims *dims = call->dims;
    const int32_t num_out = dims->num_outputs, d_out = dims->output_dim, d_in = dims->input_dim;
    const int32_t jd = num_out * d_out;
    const ptrdiff_t matrix = (ptrdiff_t)d_out * d_in;
    const capsnet_prediction_layout one = {0, 0, 1, d_out};
    const capsnet_prediction_layout along_outputs = {dims->num_inputs * matrix, 0, 1, d_out};
    const int8_t *v = r > 0 ? call->history + (ptrdiff_t)(r - 1) * jd : NULL;
    const capsnet_logit_update update = r > 0 ? logit_update(&call->shifts, r) : (capsnet_logit_update){0, 0, 0, 0};
    int64_t *partial = call->partials_q15 + (ptrdiff_t)call->split->core_id * partial_stride(call);
    for (int32_t k = 0; k < jd; k++) {
        partial[k] = 0;
    }
    enum { AGREEMENT_BLOCK = 32 };
    int32_t sums[AGREEMENT_BLOCK];
    for (int32_t i = call->begin; i < call->end; i++) {
        CAPSNET_PHASE(CAPSNET_PHASE_PREDICTIONS);
        if (call->params->weight_fracs == NULL) {
            capsnet_predictions_q15(call->weights + i * matrix, call->input + (ptrdiff_t)i * d_in, num_out, d_out, d_in,
                                    call->shifts.prediction, call->predictions_q15, &along_outputs);
        }
        for (int32_t j = 0; call->params->weight_fracs != NULL && j < num_out; j++) {
            capsnet_predictions_q15(call->weights + ((ptrdiff_t)j * dims->num_inputs + i) * matrix,
                                    call->input + (ptrdiff_t)i * d_in, 1, d_out, d_in,
                                    call->shifts.prediction + capsule_frac_delta(call->params, j),
                                    call->predictions_q15 + (ptrdiff_t)j * d_out, &one);
        }
        if (r > 0) {
            CAPSNET_PHASE(CAPSNET_PHASE_AGREEMENTS);
            int8_t *b = call->logits + (ptrdiff_t)i * num_out;
            for (int32_t j0 = 0; j0 < num_out; j0 += AGREEMENT_BLOCK) {
                const int32_t count = num_out - j0 < AGREEMENT_BLOCK ? num_out - j0 : AGREEMENT_BLOCK;
                const ptrdiff_t at = (ptrdiff_t)j0 * d_out;
                capsnet_rows_dot_q15(v + at, call->predictions_q15 + at, count, d_out, sums);
                capsnet_logits_q7(sums, count, &update, b + j0);
            }
            CAPSNET_PHASE(CAPSNET_PHASE_SOFTMAX);
            capsnet_softmax_row_q15(call->exp_q15, b, 1, num_out, call->couplings_q15);
        }
        CAPSNET_PHASE(CAPSNET_PHASE_WEIGHTED_SUMS);
        capsnet_scale_add_rows_q15(partial, call->couplings_q15, call->predictions_q15, num_out, d_out);
    }
}

/* ---- Both. ---- */

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
        if (call->partials_q15 != NULL) {
            int64_t s = 0;
            for (int32_t core = 0; core < call->split->num_cores; core++) {
                s += call->partials_q15[(ptrdiff_t)core * stride + k];
            }
            v[k] = capsnet_requantize_s64_q7(s, call->shifts.sum[r]);
            continue;
        }
        int32_t s = 0;
        for (int32_t core = 0; core < call->split->num_cores; core++) {
            s += call->partials[(ptrdiff_t)core * stride + k];
        }
        v[k] = capsnet_requantize_q7(s, call->shifts.sum[r]);
    }
    CAPSNET_PHASE(CAPSNET_PHASE_SQUASH);
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
    CAPSNET_RETURN_IF_ERROR(derive_shifts(params, dims, &call.shifts));
    /* Accumulators: u_hat sums Din products, s sums I, the agreement and squash sum D; the softmax
     * normalises rows of J. */
    if (!capsnet_accumulator_fits(dims->input_dim, 0) || !capsnet_accumulator_fits(dims->num_inputs, 0) ||
        !capsnet_accumulator_fits(dims->output_dim, 0) || dims->num_outputs > CAPSNET_SOFTMAX_ROW_MAX) {
        return CAPSNET_ERROR_OVERFLOW;
    }
    /* The 16-bit routing's agreements sum D products of up to 2^22 in 32 bits, and its sums over the
     * input capsules run on at most 65535 (capsnet_sum_q15, capsnet_dot_q15). */
    if (is_wide(params) && (dims->output_dim > CAPSULE_Q15_DIM_MAX || dims->num_inputs > CAPSULE_Q15_INPUTS_MAX)) {
        return CAPSNET_ERROR_OVERFLOW;
    }
    const scratch_offsets at = layout(params, dims, split->num_cores);
    if (ctx->size < at.total) {
        return CAPSNET_ERROR_BUFFER_SIZE;
    }

    uint8_t *base = scratch_base(ctx->buf, params, split->num_cores);
    call.params = params;
    call.dims = dims;
    call.input = input;
    call.weights = weights;
    call.output = output;
    call.split = split;
    call.exp_q15 = (uint32_t *)(void *)base;
    call.history = (int8_t *)(base + at.history);
    capsnet_split_range(dims->num_inputs, split, &call.begin, &call.end);
    const int keep = keeps_predictions(params);
    const int wide = is_wide(params);
    call.logits = (int8_t *)(base + at.logits);
    uint8_t *predictions = base + at.predictions;
    uint8_t *couplings = base + at.couplings;
    if (!keep) {
        couplings = base + at.per_core + split->core_id * at.per_core_stride;
        predictions = couplings + dims->num_outputs * (wide ? 2 : 1);
    }
    call.partials = wide ? NULL : (int32_t *)(void *)(base + at.partials);
    call.predictions = wide ? NULL : (int8_t *)predictions;
    call.couplings = wide ? NULL : (int8_t *)couplings;
    call.partials_q15 = wide ? (int64_t *)(void *)(base + at.partials) : NULL;
    call.predictions_q15 = wide ? (int16_t *)(void *)predictions : NULL;
    call.couplings_q15 = wide ? (int16_t *)(void *)couplings : NULL;

    /* Iteration 0 softmaxes all-zero logits: one coupling for every route, set for this core's input
     * capsules in row 0 (kept) or for one capsule's J outputs (recomputed). */
    const int32_t first = keep ? call.begin : 0;
    const int32_t last = keep ? call.end : dims->num_outputs;
    if (wide) {
        const int16_t uniform = capsnet_softmax_uniform_q15(dims->num_outputs);
        for (int32_t k = first; k < last; k++) {
            call.couplings_q15[k] = uniform;
        }
    } else {
        const int8_t uniform = capsnet_softmax_uniform_q7(dims->num_outputs);
        for (int32_t k = first; k < last; k++) {
            call.couplings[k] = uniform;
        }
    }

    for (int32_t r = 0; r < params->routings; r++) {
        if (wide) {
            if (keep) {
                route_kept_q15(&call, r);
            } else {
                route_recomputed_q15(&call, r);
            }
        } else if (keep) {
            route_kept(&call, r);
        } else if (params->weight_fracs != NULL) {
            route_recomputed_per_capsule(&call, r);
        } else {
            route_recomputed(&call, r);
        }
        CAPSNET_PHASE(CAPSNET_PHASE_WEIGHTED_SUMS);
        capsnet_wait_for_cores(split);
        squash_outputs(&call, r);
        if (r + 1 < params->routings && split->core_id == 0) {
            CAPSNET_PHASE(CAPSNET_PHASE_SOFTMAX);
            capsnet_exp_table_fill(call.exp_q15, params->iterations[r + 1].logit_frac);
        }
        capsnet_wait_for_cores(split);
    }
    return CAPSNET_OK;
}
