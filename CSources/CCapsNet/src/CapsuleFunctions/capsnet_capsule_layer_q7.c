/**
 * @file capsnet_capsule_layer_q7.c
 * @brief Capsule layer with dynamic routing, int8.
 */
#include "capsnet/capsnet.h"
#include "../capsnet_support.h"

/* Scratch layout: softmax table | u_hat [J][I][D] | b [J][I] | transposed [I][J] | c [J][I]. */
typedef struct {
    capsnet_context softmax;
    int8_t *predictions;
    int8_t *logits;
    int8_t *transposed;
    int8_t *coefficients;
} scratch_layout;

static scratch_layout layout_scratch(void *buf, const capsnet_capsule_dims *dims)
{
    const ptrdiff_t routes = (ptrdiff_t)dims->num_outputs * dims->num_inputs;
    scratch_layout scratch;
    scratch.softmax.buf = buf;
    scratch.softmax.size = capsnet_softmax_q7_get_buffer_size();
    scratch.predictions = (int8_t *)buf + scratch.softmax.size;
    scratch.logits = scratch.predictions + routes * dims->output_dim;
    scratch.transposed = scratch.logits + routes;
    scratch.coefficients = scratch.transposed + routes;
    return scratch;
}

int32_t capsnet_capsule_layer_q7_get_buffer_size(const capsnet_capsule_dims *dims)
{
    if (dims == NULL) {
        return CAPSNET_ERROR_NULL_POINTER;
    }
    const int32_t routes = capsnet_count2(dims->num_outputs, dims->num_inputs);
    if (routes < 0 || dims->input_dim < 1 || dims->output_dim < 1) {
        return CAPSNET_ERROR_DIMENSION;
    }
    const int64_t bytes = (int64_t)capsnet_softmax_q7_get_buffer_size() + (int64_t)routes * dims->output_dim +
                          3 * (int64_t)routes;
    return bytes <= INT32_MAX ? (int32_t)bytes : CAPSNET_ERROR_DIMENSION;
}

static capsnet_status check_formats(const capsnet_capsule_params *params)
{
    int32_t shift;
    CAPSNET_RETURN_IF_ERROR(
        capsnet_product_shift(params->input_frac, params->weight_frac, params->prediction_frac, &shift));
    for (int32_t r = 0; r < params->routings; r++) {
        const capsnet_routing_formats *it = &params->iterations[r];
        if (!capsnet_frac_is_valid(it->logit_frac) ||
            !capsnet_squash_formats_are_valid(it->sum_frac, it->output_frac)) {
            return CAPSNET_ERROR_SHIFT;
        }
        CAPSNET_RETURN_IF_ERROR(
            capsnet_product_shift(CAPSNET_SOFTMAX_FRAC, params->prediction_frac, it->sum_frac, &shift));
        if (r + 1 < params->routings) {
            CAPSNET_RETURN_IF_ERROR(
                capsnet_product_shift(it->output_frac, params->prediction_frac, it->agreement_frac, &shift));
            CAPSNET_RETURN_IF_ERROR(capsnet_sum_shift(it->logit_frac, it->agreement_frac, it[1].logit_frac, &shift));
        }
    }
    return CAPSNET_OK;
}

/* u_hat[j][i] = W[j][i] u[i]: J*I small matrix-vector products, in the order W is stored. */
static void predict(const int8_t *input, const int8_t *weights, const capsnet_capsule_dims *dims, int32_t shift,
                    int8_t *predictions)
{
    const int8_t *w = weights;
    int8_t *u_hat = predictions;
    for (int32_t j = 0; j < dims->num_outputs; j++) {
        for (int32_t i = 0; i < dims->num_inputs; i++) {
            const int8_t *u = input + (ptrdiff_t)i * dims->input_dim;
            for (int32_t d = 0; d < dims->output_dim; d++) {
                *u_hat++ = capsnet_requantize_q7(capsnet_dot_q7(w, u, dims->input_dim, 1), shift);
                w += dims->input_dim;
            }
        }
    }
}

capsnet_status capsnet_capsule_layer_q7(const capsnet_context *ctx, const capsnet_capsule_params *params,
                                        const capsnet_capsule_dims *dims, const int8_t *input,
                                        const int8_t *weights, int8_t *output)
{
    if (ctx == NULL || ctx->buf == NULL || params == NULL || params->iterations == NULL || dims == NULL ||
        input == NULL || weights == NULL || output == NULL) {
        return CAPSNET_ERROR_NULL_POINTER;
    }
    const int32_t num_in = dims->num_inputs, num_out = dims->num_outputs, out_dim = dims->output_dim;
    const int32_t routes = capsnet_count2(num_out, num_in);
    const int32_t scratch_size = capsnet_capsule_layer_q7_get_buffer_size(dims);
    if (scratch_size < 0 || params->routings < 1 || capsnet_count2(num_in, dims->input_dim) < 0 ||
        capsnet_count3(routes, out_dim, dims->input_dim) < 0 || capsnet_count2(num_out, out_dim) < 0) {
        return CAPSNET_ERROR_DIMENSION;
    }
    CAPSNET_RETURN_IF_ERROR(check_formats(params));
    /* Accumulators: u_hat sums Din products, s sums I, the agreement and squash sum D; the softmax
     * normalises rows of J. */
    if (!capsnet_accumulator_fits(dims->input_dim, 0) || !capsnet_accumulator_fits(num_in, 0) ||
        !capsnet_accumulator_fits(out_dim, 0) || num_out > 65535) {
        return CAPSNET_ERROR_OVERFLOW;
    }
    if (ctx->size < scratch_size) {
        return CAPSNET_ERROR_BUFFER_SIZE;
    }

    const scratch_layout scratch = layout_scratch(ctx->buf, dims);
    const int32_t u_hat_frac = params->prediction_frac;
    predict(input, weights, dims, params->input_frac + params->weight_frac - u_hat_frac, scratch.predictions);
    for (int32_t k = 0; k < routes; k++) {
        scratch.logits[k] = 0;
    }

    for (int32_t r = 0; r < params->routings; r++) {
        const capsnet_routing_formats *it = &params->iterations[r];
        /* c[:, i] = softmax over j of b[:, i]: the softmax works on rows, so on b transposed. */
        CAPSNET_RETURN_IF_ERROR(capsnet_mat_transpose_q7(scratch.logits, num_out, num_in, scratch.transposed));
        CAPSNET_RETURN_IF_ERROR(capsnet_softmax_q7(&scratch.softmax, scratch.transposed, num_in, num_out,
                                                   it->logit_frac, scratch.transposed));
        CAPSNET_RETURN_IF_ERROR(capsnet_mat_transpose_q7(scratch.transposed, num_in, num_out, scratch.coefficients));

        /* s[j] = c[j] u_hat[j]: a 1 x I by I x D product per output capsule, then v = squash(s) in place. */
        const capsnet_mat_formats sum_formats = {CAPSNET_SOFTMAX_FRAC, u_hat_frac, it->sum_frac};
        for (int32_t j = 0; j < num_out; j++) {
            const int8_t *u_hat_j = scratch.predictions + (ptrdiff_t)j * num_in * out_dim;
            CAPSNET_RETURN_IF_ERROR(capsnet_mat_mult_q7(scratch.coefficients + (ptrdiff_t)j * num_in, u_hat_j, 1,
                                                        num_in, out_dim, &sum_formats, output + (ptrdiff_t)j * out_dim));
        }
        CAPSNET_RETURN_IF_ERROR(capsnet_squash_q7(output, num_out, out_dim, it->sum_frac, it->output_frac, output));
        if (r + 1 == params->routings) {
            break;
        }

        /* a[j][i] = u_hat[j][i] . v[j] (the transposed buffer is free again), then b += a. */
        const capsnet_mat_formats agreement_formats = {it->output_frac, u_hat_frac, it->agreement_frac};
        for (int32_t j = 0; j < num_out; j++) {
            const int8_t *u_hat_j = scratch.predictions + (ptrdiff_t)j * num_in * out_dim;
            CAPSNET_RETURN_IF_ERROR(capsnet_mat_mult_trans_b_q7(output + (ptrdiff_t)j * out_dim, u_hat_j, 1, out_dim,
                                                                num_in, &agreement_formats,
                                                                scratch.transposed + (ptrdiff_t)j * num_in));
        }
        const capsnet_mat_formats update_formats = {it->logit_frac, it->agreement_frac, it[1].logit_frac};
        CAPSNET_RETURN_IF_ERROR(
            capsnet_mat_add_q7(scratch.logits, scratch.transposed, routes, &update_formats, scratch.logits));
    }
    return CAPSNET_OK;
}
