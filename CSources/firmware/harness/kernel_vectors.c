/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kernel test vectors, the same on every target: each case draws its shapes, formats and int8 data
 * from a fixed pseudo-random sequence, runs one kernel, and folds the status and every output byte
 * into an FNV-1a digest. The host build and every emulated target must print identical lines.
 *
 * Shapes include the awkward ones: 1x1 and non-square kernels, strides and padding on both axes,
 * odd sizes, one input capsule, one output capsule, one routing iteration, extreme values.
 */
#include <stdint.h>

#include "capsnet/capsnet.h"
#include "kernel_vectors.h"

static uint32_t state;

static uint32_t next(void)
{
    /* xorshift32: deterministic and identical on every target */
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
}

static int32_t between(int32_t low, int32_t high) { return low + (int32_t)(next() % (uint32_t)(high - low + 1)); }

static void fill(int8_t *values, int32_t count)
{
    for (int32_t k = 0; k < count; k++) {
        const uint32_t r = next();
        /* One value in 16 is an extreme, the rest uniform. */
        values[k] = (r & 15u) == 0 ? ((r & 16u) ? 127 : -128) : (int8_t)(int32_t)((r >> 8) % 256u - 128u);
    }
}

static uint32_t digest;
static int32_t successes;

static void fold(const int8_t *values, int32_t count, capsnet_status status)
{
    successes += status == CAPSNET_OK;
    digest ^= (uint32_t)status;
    digest *= 16777619u;
    for (int32_t k = 0; k < count; k++) {
        digest ^= (uint8_t)values[k];
        digest *= 16777619u;
    }
}

enum { BUFFER = 16384 };
static int8_t input[BUFFER], weights[BUFFER], bias[256], output[BUFFER], other[BUFFER];
static uint64_t scratch_storage[8192];

/* Every draw is its own statement: C leaves the order of evaluation inside an initializer list or
 * an argument list unspecified, and the sequence must be the same for every compiler. */

/* A convolution's formats: input, weights and bias in [3, 7], the output 2 to 9 bits coarser than
 * their products. */
static void draw_conv_formats(capsnet_conv_params *params)
{
    params->input_frac = between(3, 7);
    params->weight_frac = between(3, 7);
    params->bias_frac = between(3, 7);
    params->output_frac = params->input_frac + params->weight_frac - between(2, 9);
}

static void convolution_case(void)
{
    capsnet_hwc in;
    capsnet_conv_params params;
    capsnet_hwc out;
    in.h = between(1, 9);
    in.w = between(1, 9);
    in.c = between(1, 4);
    params.kernel.h = between(1, 4);
    params.kernel.w = between(1, 4);
    params.stride.h = between(1, 3);
    params.stride.w = between(1, 3);
    params.padding.h = between(0, params.kernel.h - 1);
    params.padding.w = between(0, params.kernel.w - 1);
    draw_conv_formats(&params);
    params.weight_fracs = 0;
    /* No activation, a ReLU, a leaky ReLU, or another clamp with or without a leak. */
    params.activation.leak = 0;
    switch (between(0, 3)) {
    case 0:
        params.activation.min = CAPSNET_Q7_MIN;
        params.activation.max = CAPSNET_Q7_MAX;
        break;
    case 1:
        params.activation.min = 0;
        params.activation.max = CAPSNET_Q7_MAX;
        break;
    case 2:
        params.activation.min = CAPSNET_Q7_MIN;
        params.activation.max = CAPSNET_Q7_MAX;
        params.activation.leak = between(1, ((int32_t)1 << CAPSNET_LEAK_FRAC) - 1);
        break;
    default:
        params.activation.min = between(CAPSNET_Q7_MIN, CAPSNET_Q7_MAX - 1);
        params.activation.max = between(params.activation.min + 1, CAPSNET_Q7_MAX);
        params.activation.leak = between(0, ((int32_t)1 << CAPSNET_LEAK_FRAC) - 1);
        break;
    }
    const int32_t span_h = in.h + params.padding.h - params.kernel.h;
    const int32_t span_w = in.w + params.padding.w - params.kernel.w;
    out.h = span_h < 0 ? 1 : span_h / params.stride.h + 1;
    out.w = span_w < 0 ? 1 : span_w / params.stride.w + 1;
    out.c = between(1, 5);
    fill(input, in.h * in.w * in.c);
    fill(weights, out.c * params.kernel.h * params.kernel.w * in.c);
    fill(bias, out.c);
    const int8_t *const chosen_bias = (next() & 1u) ? bias : 0;
    /* Exactly the scratch the kernel asks for. */
    const capsnet_context ctx = {scratch_storage, capsnet_conv_hwc_q7_get_buffer_size(&params, &in)};
    const capsnet_status status = capsnet_conv_hwc_q7(&ctx, &params, &in, input, weights, chosen_bias, &out, output);
    fold(output, status == CAPSNET_OK ? out.h * out.w * out.c : 0, status);
    /* The same on three cores, one after the other, each in its share of one scratch buffer. */
    const capsnet_context shared = {scratch_storage, capsnet_conv_hwc_q7_split_get_buffer_size(&params, &in, 3)};
    for (int32_t core = 0; core < 3; core++) {
        const capsnet_core_split split = {core, 3, 0, 0};
        const capsnet_status part =
            capsnet_conv_hwc_q7_split(&shared, &params, &in, input, weights, chosen_bias, &out, other, &split);
        fold(other, 0, part);
    }
    fold(other, status == CAPSNET_OK ? out.h * out.w * out.c : 0, status);
}

/* The input and geometry of the cases with many filters: inputs of 3 to 8 rows and columns, kernels
 * up to 3x3, strides up to 2, any padding, and the formats. */
static void draw_bank_geometry(capsnet_hwc *in, capsnet_conv_params *params)
{
    in->h = between(3, 8);
    in->w = between(3, 8);
    in->c = between(1, 5);
    params->kernel.h = between(1, 3);
    params->kernel.w = between(1, 3);
    params->stride.h = between(1, 2);
    params->stride.w = between(1, 2);
    params->padding.h = between(0, params->kernel.h - 1);
    params->padding.w = between(0, params->kernel.w - 1);
    draw_conv_formats(params);
}

/* A convolution given more scratch than it needs, which it may fill with a bank of prepared filters
 * (the packed-SIMD paths): in blocks of about ten filters, then all of them, on one core and on
 * two, whose output must be the bytes of the run with exactly the scratch it asks for. */
static void convolution_bank_case(void)
{
    capsnet_hwc in;
    capsnet_conv_params params;
    capsnet_hwc out;
    draw_bank_geometry(&in, &params);
    params.weight_fracs = 0;
    params.activation.leak = 0;
    params.activation.min = (next() & 1u) ? 0 : CAPSNET_Q7_MIN;
    params.activation.max = CAPSNET_Q7_MAX;
    out.h = (in.h + params.padding.h - params.kernel.h) / params.stride.h + 1;
    out.w = (in.w + params.padding.w - params.kernel.w) / params.stride.w + 1;
    out.c = between(9, 31);
    fill(input, in.h * in.w * in.c);
    fill(weights, out.c * params.kernel.h * params.kernel.w * in.c);
    fill(bias, out.c);
    const int8_t *const chosen_bias = (next() & 1u) ? bias : 0;
    const int32_t needed = capsnet_conv_hwc_q7_get_buffer_size(&params, &in);
    const capsnet_context exact = {scratch_storage, needed};
    const capsnet_status status = capsnet_conv_hwc_q7(&exact, &params, &in, input, weights, chosen_bias, &out, output);
    const int32_t count = status == CAPSNET_OK ? out.h * out.w * out.c : 0;
    fold(output, count, status);
    /* A pair of filters prepared: two groups of 8 bytes per four window values. */
    const int32_t pair_bytes = 16 * ((params.kernel.h * params.kernel.w * in.c + 3) / 4);
    const int32_t sizes[2] = {needed + 5 * pair_bytes + 8, (int32_t)sizeof scratch_storage / 2};
    for (int32_t k = 0; k < 2; k++) {
        const capsnet_context more = {scratch_storage, sizes[k]};
        fold(other, count, capsnet_conv_hwc_q7(&more, &params, &in, input, weights, chosen_bias, &out, other));
        const capsnet_context shared = {scratch_storage, 2 * sizes[k]};
        for (int32_t core = 0; core < 2; core++) {
            const capsnet_core_split split = {core, 2, 0, 0};
            fold(other, 0, capsnet_conv_hwc_q7_split(&shared, &params, &in, input, weights, chosen_bias, &out, other, &split));
        }
        fold(other, count, status);
    }
}

/* A convolution whose filters each have a format of their own (weight_fracs, up to 4 bits finer
 * than weight_frac): 9 to 31 filters, so that the pair loops, the filter bank and the one-window
 * loop (edge windows, a leak) all meet per-filter shifts, with exactly the scratch asked for and
 * with room for a bank, on one core and on two; then the depthwise kernel on the same input with
 * per-channel formats. One case in eight gives a filter a format the kernels refuse. */
static void convolution_filters_case(void)
{
    static int8_t fracs[64];
    capsnet_hwc in;
    capsnet_conv_params params;
    capsnet_hwc out;
    draw_bank_geometry(&in, &params);
    params.activation.min = (next() & 1u) ? 0 : CAPSNET_Q7_MIN;
    params.activation.max = CAPSNET_Q7_MAX;
    params.activation.leak = between(0, 3) == 0 ? between(1, ((int32_t)1 << CAPSNET_LEAK_FRAC) - 1) : 0;
    out.h = (in.h + params.padding.h - params.kernel.h) / params.stride.h + 1;
    out.w = (in.w + params.padding.w - params.kernel.w) / params.stride.w + 1;
    out.c = between(9, 31);
    for (int32_t c = 0; c < out.c; c++) {
        fracs[c] = (int8_t)(params.weight_frac + between(0, 4));
    }
    if (between(0, 7) == 0) {
        fracs[between(0, out.c - 1)] = (int8_t)(CAPSNET_FRAC_MAX + 1);
    }
    params.weight_fracs = fracs;
    fill(input, in.h * in.w * in.c);
    fill(weights, out.c * params.kernel.h * params.kernel.w * in.c);
    fill(bias, out.c);
    const int8_t *const chosen_bias = (next() & 1u) ? bias : 0;
    const int32_t needed = capsnet_conv_hwc_q7_get_buffer_size(&params, &in);
    const capsnet_context exact = {scratch_storage, needed};
    const capsnet_status status = capsnet_conv_hwc_q7(&exact, &params, &in, input, weights, chosen_bias, &out, output);
    const int32_t count = status == CAPSNET_OK ? out.h * out.w * out.c : 0;
    fold(output, count, status);
    const capsnet_context more = {scratch_storage, (int32_t)sizeof scratch_storage / 2};
    fold(other, count, capsnet_conv_hwc_q7(&more, &params, &in, input, weights, chosen_bias, &out, other));
    const capsnet_context shared = {scratch_storage, (int32_t)sizeof scratch_storage};
    for (int32_t core = 0; core < 2; core++) {
        const capsnet_core_split split = {core, 2, 0, 0};
        fold(other, 0, capsnet_conv_hwc_q7_split(&shared, &params, &in, input, weights, chosen_bias, &out, other, &split));
    }
    fold(other, count, status);
    const capsnet_hwc depthwise_out = {out.h, out.w, in.c};
    const capsnet_context none = {scratch_storage, 0};
    const capsnet_status depthwise =
        capsnet_depthwise_conv_hwc_q7(&none, &params, &in, input, weights, chosen_bias, &depthwise_out, other);
    fold(other, depthwise == CAPSNET_OK ? out.h * out.w * in.c : 0, depthwise);
}

/* The library's integer square root (internal to the kernels: squash, capsule length, instance
 * normalization), against the digit-by-digit definition: 1,000 arguments per case, the squash's
 * (a sum of squares shifted by 32), squares and their neighbours, and any 64-bit value; a case
 * whose roots all agree counts as a success. */
uint32_t capsnet_isqrt_u64(uint64_t x);

static uint32_t isqrt_definition(uint64_t x)
{
    uint64_t root = 0;
    for (uint64_t bit = (uint64_t)1 << 62; bit != 0; bit >>= 2) {
        if (x >= root + bit) {
            x -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
    }
    return (uint32_t)root;
}

static void isqrt_case(void)
{
    int8_t roots[4 * 1000];
    int32_t wrong = 0;
    for (int32_t k = 0; k < 1000; k++) {
        const uint64_t r = ((uint64_t)next() << 32) | next();
        uint64_t x;
        switch (k % 4) {
        case 0: x = (uint64_t)(next() >> (next() % 32)) << 32; break;
        case 1: x = (r >> 32) * (r >> 32) + (uint64_t)(int64_t)between(-1, 1); break;
        case 2: x = r >> (next() % 64); break;
        default: x = k < 8 ? ~(uint64_t)0 - (uint64_t)k : r; break;
        }
        const uint32_t root = capsnet_isqrt_u64(x);
        wrong += root != isqrt_definition(x);
        for (int32_t b = 0; b < 4; b++) {
            roots[4 * k + b] = (int8_t)(uint8_t)(root >> (8 * b));
        }
    }
    fold(roots, 4 * 1000, wrong == 0 ? CAPSNET_OK : CAPSNET_ERROR_ARGUMENT);
}

static void squash_case(void)
{
    const int32_t capsules = between(1, 20);
    const int32_t dim = between(1, 8);
    const int32_t input_frac = between(-2, 8);
    const int32_t output_frac = between(0, 7);
    fill(input, capsules * dim);
    fold(output, capsules * dim, capsnet_squash_q7(input, capsules, dim, input_frac, output_frac, output));
}

static void softmax_case(void)
{
    const int32_t rows = between(1, 12);
    const int32_t length = between(1, 12);
    const int32_t frac = between(-3, 9);
    const capsnet_context ctx = {scratch_storage, (int32_t)sizeof scratch_storage};
    fill(input, rows * length);
    fold(output, rows * length, capsnet_softmax_q7(&ctx, input, rows, length, frac, output));
}

static void matrix_case(void)
{
    const int32_t m = between(1, 9);
    const int32_t k = between(1, 40);
    const int32_t n = between(1, 9);
    capsnet_mat_formats formats;
    capsnet_mat_formats sum;
    formats.a_frac = between(3, 7);
    formats.b_frac = between(3, 7);
    formats.out_frac = between(0, 6);
    sum.a_frac = between(2, 7);
    sum.b_frac = between(2, 7);
    sum.out_frac = between(0, 2);
    fill(input, m * k);
    fill(weights, k * n);
    fill(other, m * k);
    fold(output, m * n, capsnet_mat_mult_q7(input, weights, m, k, n, &formats, output));
    fold(output, m * n, capsnet_mat_mult_trans_b_q7(input, weights, m, k, n, &formats, output));
    fold(output, m * k, capsnet_mat_add_q7(input, other, m * k, &sum, output));
    fold(output, m * k, capsnet_mat_transpose_q7(input, m, k, output));
    fold(other, m * k, capsnet_leaky_relu_q7(other, m * k, between(0, ((int32_t)1 << CAPSNET_LEAK_FRAC) - 1)));
    fold(input, m * k, capsnet_relu_q7(input, m * k));
}

/* A capsule layer; with `per_capsule`, each output capsule's matrices in a format of their own, up
 * to three bits finer than weight_frac (weight_fracs), drawn after everything else so that the
 * other cases' sequence does not change; with `sixteen_bit`, the 16-bit routing, its predictions
 * up to eight bits finer (and per-capsule formats in every other case). */
static void capsule_layer_case(int per_capsule, int sixteen_bit)
{
    static int8_t capsule_fracs[8];
    capsnet_capsule_dims dims;
    capsnet_routing_formats iterations[3];
    /* The routing kernels unroll their loops for capsules of 4, 6, 8 and 16 values: some cases have
     * output capsules of 8 or 16 (and fewer inputs, to fit the buffers); and their sums over the
     * input capsules work in blocks of up to 1,024 on the Arm DSP path: some cases have 1,100 to
     * 2,000 inputs (and tiny capsules). */
    const int32_t kind = between(0, 3);
    const int32_t wide = kind == 1 || kind == 2 ? kind : 0;
    const int32_t long_rows = kind == 3;
    dims.num_inputs = long_rows ? between(1100, 2000) : between(1, wide == 0 ? 40 : 20);
    dims.input_dim = between(1, long_rows ? 2 : 6);
    dims.num_outputs = between(1, long_rows ? 2 : 6);
    dims.output_dim = long_rows ? between(1, 2) : wide == 0 ? between(1, 6) : 8 * wide;
    const int32_t routings = between(1, 3);
    for (int32_t r = 0; r < 3; r++) {
        iterations[r].logit_frac = between(4, 6);
        iterations[r].sum_frac = between(3, 5);
        iterations[r].output_frac = 7;
        iterations[r].agreement_frac = between(3, 5);
        /* b_r = b_(r-1) + a_(r-1) cannot be finer than the finer of its two terms. */
        if (r > 0) {
            const int32_t finest = iterations[r - 1].logit_frac > iterations[r - 1].agreement_frac
                                       ? iterations[r - 1].logit_frac
                                       : iterations[r - 1].agreement_frac;
            if (iterations[r].logit_frac > finest) {
                iterations[r].logit_frac = finest;
            }
        }
    }
    capsnet_capsule_params params = {7, 6, 5, routings, iterations, CAPSNET_ROUTING_KEEP_PREDICTIONS, 0, CAPSNET_ROUTING_Q7};
    if (sixteen_bit) {
        params.precision = CAPSNET_ROUTING_Q15;
        params.prediction_frac += between(0, 8);
        per_capsule = between(0, 1);
    }
    if (per_capsule) {
        for (int32_t j = 0; j < dims.num_outputs; j++) {
            capsule_fracs[j] = (int8_t)(params.weight_frac + between(0, 3));
        }
        params.weight_fracs = capsule_fracs;
    }
    const capsnet_context ctx = {scratch_storage, (int32_t)sizeof scratch_storage};
    fill(input, dims.num_inputs * dims.input_dim);
    fill(weights, dims.num_outputs * dims.num_inputs * dims.output_dim * dims.input_dim);
    const capsnet_status status = capsnet_capsule_layer_q7(&ctx, &params, &dims, input, weights, output);
    fold(output, status == CAPSNET_OK ? dims.num_outputs * dims.output_dim : 0, status);
    if (status == CAPSNET_OK) {
        fold(other, dims.num_outputs,
             capsnet_capsule_length_q7(output, dims.num_outputs, dims.output_dim, 7, 7, other));
    }
    /* Lean-memory routing must write the same bytes. */
    params.memory = CAPSNET_ROUTING_RECOMPUTE_PREDICTIONS;
    const capsnet_status lean = capsnet_capsule_layer_q7(&ctx, &params, &dims, input, weights, other);
    fold(other, lean == CAPSNET_OK ? dims.num_outputs * dims.output_dim : 0, lean);
}

static void capsule_case(void) { capsule_layer_case(0, 0); }

static void capsule_formats_case(void) { capsule_layer_case(1, 0); }

static void capsule_q15_case(void) { capsule_layer_case(0, 1); }

static void primary_case(void)
{
    capsnet_hwc in;
    capsnet_hwc out;
    capsnet_primary_capsule_params params = {
        .conv = {.kernel = {.h = 3, .w = 3}, .stride = {.h = 1, .w = 1}, .padding = {.h = 0, .w = 0},
                 .input_frac = 7, .weight_frac = 6, .bias_frac = 6, .output_frac = 3,
                 .activation = {.min = CAPSNET_Q7_MIN, .max = CAPSNET_Q7_MAX, .leak = 0}},
        .capsule_dim = 1,
        .output_frac = 7};
    in.h = between(3, 8);
    in.w = between(3, 8);
    in.c = between(1, 3);
    params.capsule_dim = between(1, 4);
    params.conv.stride.h = between(1, 2);
    params.conv.stride.w = between(1, 2);
    out.h = (in.h - 3) / params.conv.stride.h + 1;
    out.w = (in.w - 3) / params.conv.stride.w + 1;
    out.c = params.capsule_dim * between(1, 3);
    fill(input, in.h * in.w * in.c);
    fill(weights, out.c * 9 * in.c);
    fill(bias, out.c);
    const capsnet_context ctx = {scratch_storage, capsnet_primary_capsule_q7_get_buffer_size(&params, &in)};
    fold(output, out.h * out.w * out.c,
         capsnet_primary_capsule_q7(&ctx, &params, &in, input, weights, bias, &out, output));
}

static void exp_squash_case(void)
{
    const int32_t capsules = between(1, 20);
    const int32_t dim = between(1, 16);
    const int32_t input_frac = between(-8, 15);
    const int32_t output_frac = between(0, 15);
    fill(input, capsules * dim);
    fold(output, capsules * dim, capsnet_exp_squash_q7(input, capsules, dim, input_frac, output_frac, output));
}

/* Efficient-CapsNet's primary capsules: a depthwise convolution (any kernel, stride and padding;
 * up to 48 channels, so that blocks of 16 and every tail of the fast paths are crossed) and the
 * exponential squash. */
static void depthwise_primary_case(void)
{
    capsnet_hwc in;
    capsnet_hwc out;
    capsnet_primary_capsule_params params = {
        .conv = {.kernel = {.h = 3, .w = 3}, .stride = {.h = 1, .w = 1}, .padding = {.h = 0, .w = 0},
                 .input_frac = 7, .weight_frac = 6, .bias_frac = 6, .output_frac = 3,
                 .activation = {.min = CAPSNET_Q7_MIN, .max = CAPSNET_Q7_MAX, .leak = 0}},
        .capsule_dim = 1,
        .output_frac = 7};
    params.capsule_dim = between(1, 4);
    in.h = between(5, 9);
    in.w = between(5, 9);
    in.c = params.capsule_dim * between(1, 12);
    params.conv.kernel.h = between(1, 5);
    params.conv.kernel.w = between(1, 5);
    params.conv.stride.h = between(1, 2);
    params.conv.stride.w = between(1, 2);
    params.conv.padding.h = between(0, params.conv.kernel.h - 1);
    params.conv.padding.w = between(0, params.conv.kernel.w - 1);
    params.conv.output_frac = between(0, 6);
    params.output_frac = between(4, 7);
    out.h = (in.h + params.conv.padding.h - params.conv.kernel.h) / params.conv.stride.h + 1;
    out.w = (in.w + params.conv.padding.w - params.conv.kernel.w) / params.conv.stride.w + 1;
    out.c = in.c;
    fill(input, in.h * in.w * in.c);
    fill(weights, params.conv.kernel.h * params.conv.kernel.w * in.c);
    fill(bias, in.c);
    const capsnet_context ctx = {scratch_storage, capsnet_depthwise_primary_capsule_q7_get_buffer_size(&params, &in)};
    fold(output, out.h * out.w * out.c,
         capsnet_depthwise_primary_capsule_q7(&ctx, &params, &in, input, weights, bias, &out, output));
}

/* Efficient-CapsNet's self-attention routing layer, formats drawn within its shift rules. */
static void self_attention_case(void)
{
    capsnet_capsule_dims dims;
    dims.num_inputs = between(1, 24);
    dims.input_dim = between(1, 8);
    dims.num_outputs = between(1, 10);
    dims.output_dim = between(1, 16);
    capsnet_self_attention_params params;
    params.input_frac = between(4, 7);
    params.weight_frac = between(4, 8);
    params.prediction_frac = between(params.input_frac + params.weight_frac - 12, params.input_frac + params.weight_frac - 6);
    params.agreement_frac = between(-4, 6);
    params.bias_frac = between(5, 9);
    params.coupling_frac = between(4, params.bias_frac > 7 ? params.bias_frac : 7);
    params.sum_frac = between(params.coupling_frac + params.prediction_frac - 10, params.coupling_frac + params.prediction_frac - 4);
    params.output_frac = between(5, 8);
    const capsnet_context ctx = {scratch_storage, (int32_t)sizeof scratch_storage};
    fill(input, dims.num_inputs * dims.input_dim);
    fill(weights, dims.num_outputs * dims.num_inputs * dims.output_dim * dims.input_dim);
    fill(bias, dims.num_outputs * dims.num_inputs);
    const capsnet_status status = capsnet_self_attention_capsule_q7(&ctx, &params, &dims, input, weights, bias, output);
    fold(output, status == CAPSNET_OK ? dims.num_outputs * dims.output_dim : 0, status);
}

static void affine_case(void)
{
    static int16_t scales[16];
    static int8_t scale_fracs[16];
    static int32_t offsets[16];
    capsnet_channel_affine_params params;
    params.channels = between(1, 16);
    const int32_t positions = between(1, 60);
    params.input_frac = between(-2, 9);
    params.output_frac = between(-2, 7);
    for (int32_t c = 0; c < params.channels; c++) {
        scales[c] = (int16_t)(int32_t)(next() % 65536u - 32768u);
        /* Mostly valid shifts; now and then a negative one, which must be refused. */
        scale_fracs[c] = (int8_t)between(params.output_frac - params.input_frac - 1, 15);
        offsets[c] = (int32_t)(next() % 2097152u) - 1048576;
    }
    params.scales = scales;
    params.scale_fracs = scale_fracs;
    params.offsets = offsets;
    fill(other, positions * params.channels);
    fold(other, positions * params.channels, capsnet_channel_affine_q7(other, positions, &params));
}

/* Efficient-CapsNet's smallNORB normalization: each channel by its own statistics, some channels
 * constant, and now and then an output format one bit too fine, which must be refused. */
static void instance_norm_case(void)
{
    static int16_t gammas[16];
    static int8_t gamma_fracs[16];
    static int16_t betas[16];
    capsnet_instance_norm_params params;
    params.channels = between(1, 16);
    const int32_t positions = between(1, 200);
    params.input_frac = between(-2, 9);
    params.output_frac = between(-2, 9);
    params.epsilon = (uint32_t)between(0, 1 << 20);
    for (int32_t c = 0; c < params.channels; c++) {
        gammas[c] = (int16_t)(int32_t)(next() % 65536u - 32768u);
        gamma_fracs[c] = (int8_t)between(params.output_frac > 8 ? params.output_frac - 8 : 0, 15);
        betas[c] = (int16_t)between(-300, 300);
    }
    if (between(0, 7) == 0) {
        gamma_fracs[0] = (int8_t)(params.output_frac - 9);
    }
    params.gammas = gammas;
    params.gamma_fracs = gamma_fracs;
    params.betas = betas;
    fill(other, positions * params.channels);
    if (between(0, 3) == 0) {
        for (int32_t p = 0; p < positions; p++) {
            other[p * params.channels] = 17;
        }
    }
    fold(other, positions * params.channels, capsnet_instance_norm_q7(other, positions, &params));
}

void kernel_vectors_run(void (*report)(const char *kernel, int32_t calls, int32_t successes, uint32_t digest))
{
    static const struct {
        const char *name;
        void (*run)(void);
        int32_t cases;
    } kernels[] = {{"conv_hwc", convolution_case, 60}, {"conv_hwc_bank", convolution_bank_case, 30}, {"isqrt", isqrt_case, 20}, {"squash", squash_case, 60}, {"softmax", softmax_case, 60},
                   {"matrix", matrix_case, 60},        {"primary_capsule", primary_case, 30},
                   {"capsule_layer", capsule_case, 60}, {"channel_affine", affine_case, 60},
                   {"exp_squash", exp_squash_case, 60}, {"depthwise_primary_capsule", depthwise_primary_case, 30},
                   {"self_attention", self_attention_case, 30}, {"instance_norm", instance_norm_case, 60},
                   {"conv_hwc_filters", convolution_filters_case, 40}, {"capsule_formats", capsule_formats_case, 40},
                   {"capsule_q15", capsule_q15_case, 60}};
    for (uint32_t kernel = 0; kernel < sizeof kernels / sizeof kernels[0]; kernel++) {
        state = 0x9E3779B9u + kernel;
        digest = 2166136261u;
        successes = 0;
        for (int32_t c = 0; c < kernels[kernel].cases; c++) {
            kernels[kernel].run();
        }
        report(kernels[kernel].name, kernels[kernel].cases, successes, digest);
    }
}
