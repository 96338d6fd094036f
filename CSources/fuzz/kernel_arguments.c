/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file kernel_arguments.c
 * @brief libFuzzer target for the argument validation of every public kernel (capsnet_functions.h).
 *
 * Built by .ci/fuzz with clang -fsanitize=fuzzer,address,undefined. The first input byte picks a
 * kernel; the bytes after it are its arguments, each drawn either from a small range that makes
 * valid calls likely or from a table of edge values (0, -1, INT32_MIN/MAX, 2^15, 2^16, ...), and
 * then the tensors' contents. Each call is checked against the header's contract:
 *
 * - arguments the contract forbids (a size below 1, a spatial size above CAPSNET_DIM_MAX, more
 *   than INT32_MAX elements, a format or shift out of range, an accumulator that could overflow,
 *   routings outside 1..16, a bad core split, a NULL tensor, a scratch smaller than the companion
 *   asks) must give an error, and the tensors then point at memory that cannot be read or written:
 *   a kernel that touches anything before it has checked everything faults;
 * - any other call small enough to run gets buffers of exactly the documented sizes, so that
 *   AddressSanitizer sees one byte too far; a refused call must leave every output as it was, and
 *   the split kernels must write what their one-core kernels write (every core of a convolution
 *   in turn, the capsule layer on 1 to 4 threads with a real barrier);
 * - every `_get_buffer_size` companion is called on every input, and a negative answer means the
 *   kernel must refuse.
 *
 * A violated rule aborts with a line naming it; UndefinedBehaviorSanitizer aborts on any signed
 * overflow, shift or conversion in the validation arithmetic.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "capsnet/capsnet.h"

/** Largest buffer and largest number of multiply-accumulates a call may have to be run. */
#define RUN_BYTES_MAX ((int64_t)1 << 16)
#define RUN_MACS_MAX ((int64_t)1 << 18)

/* ---------------------------------------------------------------------------------------------- */
/* Reading arguments from the fuzzer's bytes                                                       */
/* ---------------------------------------------------------------------------------------------- */

typedef struct {
    const uint8_t *bytes;
    size_t left;
} byte_stream;

static uint8_t next_byte(byte_stream *s)
{
    if (s->left == 0) {
        return 0;
    }
    s->left--;
    return *s->bytes++;
}

/** A value in [lo, hi] for most bytes; an edge value or four raw bytes for the top sixteen. */
static int32_t pick(byte_stream *s, int32_t lo, int32_t hi)
{
    static const int32_t edges[15] = {0,      -1,         INT32_MAX,     INT32_MIN, INT32_MAX - 1,
                                      1 << 15, (1 << 15) + 1, 1 << 16,   1 << 17,   46341,
                                      65535,  65536,      1 << 30,       -(1 << 15), CAPSNET_DIM_MAX + 1};
    const uint8_t b = next_byte(s);
    if (b < 0xF0) {
        return (int32_t)(lo + (int64_t)(b % (uint32_t)((int64_t)hi - lo + 1)));
    }
    if (b < 0xFF) {
        return edges[b - 0xF0];
    }
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
        v = v << 8 | next_byte(s);
    }
    return (int32_t)v;
}

static int32_t pick_size(byte_stream *s) { return pick(s, 1, 6); }
static int32_t pick_frac(byte_stream *s) { return pick(s, -2, 9); }

/* ---------------------------------------------------------------------------------------------- */
/* Buffers                                                                                         */
/* ---------------------------------------------------------------------------------------------- */

/** Memory that faults on any access: the tensors of a call that must be refused. */
static int8_t *no_access(void)
{
    static int8_t *page;
    if (page == NULL) {
        void *region = mmap(NULL, 3 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (region == MAP_FAILED) {
            abort();
        }
        page = (int8_t *)region + 4096;
    }
    return page;
}

/** The buffers of one call, freed together. */
typedef struct {
    void *owned[16];
    int count;
    byte_stream *data; /**< fills the buffers; a pattern once it runs out */
} buffers;

/** `count` bytes exactly, filled from the fuzzer's data. */
static int8_t *exact(buffers *b, int64_t count)
{
    int8_t *p = malloc((size_t)count);
    if (p == NULL || b->count == 16) {
        abort();
    }
    for (int64_t k = 0; k < count; k++) {
        p[k] = b->data->left ? (int8_t)next_byte(b->data) : (int8_t)(k * 37 + 11);
    }
    b->owned[b->count++] = p;
    return p;
}

static void free_all(buffers *b)
{
    for (int k = 0; k < b->count; k++) {
        free(b->owned[k]);
    }
}

static void fail(const char *kernel, const char *rule)
{
    fprintf(stderr, "kernel_arguments: %s: %s\n", kernel, rule);
    abort();
}

/** What became of each kernel's calls, printed when the fuzzer exits (.ci/fuzz reports it). */
enum { REFUSED_AS_REQUIRED, RAN_AND_ACCEPTED, RAN_AND_REFUSED, TOO_LARGE_TO_RUN, OUTCOMES };
#define KERNELS 17
static const char *kernel_names[KERNELS];
static int64_t outcomes[KERNELS][OUTCOMES];
static int current_kernel;

static void record_too_large(void) { outcomes[current_kernel][TOO_LARGE_TO_RUN]++; }

static void print_outcomes(void)
{
    fprintf(stderr, "kernel_arguments: calls per kernel (refused as the contract requires / run and accepted / "
                    "run and refused / valid but too large to run)\n");
    for (int k = 0; k < KERNELS; k++) {
        if (kernel_names[k] != NULL) {
            fprintf(stderr, "kernel_arguments:   %-28s %9lld %9lld %9lld %9lld\n", kernel_names[k],
                    (long long)outcomes[k][0], (long long)outcomes[k][1], (long long)outcomes[k][2],
                    (long long)outcomes[k][3]);
        }
    }
}

/** A copy of the `count` bytes at `output`, to compare with after the call; NULL when it does not run. */
static int8_t *snapshot(buffers *b, const int8_t *output, int64_t count, int run)
{
    if (!run) {
        return NULL;
    }
    int8_t *copy = exact(b, count);
    memcpy(copy, output, (size_t)count);
    return copy;
}

/**
 * Holds one call's status to the contract and records it: a call the contract forbids must be
 * refused, and a refused call must have left its output as `before` holds it. Returns whether
 * the kernel accepted the call.
 */
static int judge(const char *name, int must_refuse, capsnet_status status, const int8_t *before,
                 const int8_t *output, int64_t count)
{
    outcomes[current_kernel][must_refuse ? REFUSED_AS_REQUIRED
                             : status == CAPSNET_OK ? RAN_AND_ACCEPTED : RAN_AND_REFUSED]++;
    if (must_refuse && status == CAPSNET_OK) {
        fail(name, "accepted arguments its contract forbids");
    }
    if (status != CAPSNET_OK && before != NULL && memcmp(before, output, (size_t)count) != 0) {
        fail(name, "wrote its output and returned an error");
    }
    return status == CAPSNET_OK;
}

/** Whether a call of these sizes is small enough to run with real buffers. */
static int runnable(int64_t bytes, int64_t macs) { return bytes <= RUN_BYTES_MAX && macs <= RUN_MACS_MAX; }

static int frac_bad(int32_t frac) { return frac < CAPSNET_FRAC_MIN || frac > CAPSNET_FRAC_MAX; }

/** a*b*c for non-negative factors, saturated to INT64_MAX instead of overflowing. */
static int64_t product(int64_t a, int64_t b, int64_t c)
{
    if (a == 0 || b == 0 || c == 0) {
        return 0;
    }
    if (a > INT64_MAX / b) {
        return INT64_MAX;
    }
    const int64_t ab = a * b;
    return ab > INT64_MAX / c ? INT64_MAX : ab * c;
}

static int too_many(int64_t elements) { return elements > INT32_MAX; }

/** Whether a product shift a + b - out lies outside [0, CAPSNET_SHIFT_MAX] or any format is bad. */
static int product_shift_bad(int32_t a, int32_t b, int32_t out)
{
    if (frac_bad(a) || frac_bad(b) || frac_bad(out)) {
        return 1;
    }
    const int32_t shift = a + b - out;
    return shift < 0 || shift > CAPSNET_SHIFT_MAX;
}

/** Which pointer argument (0, 1, ...) the input makes NULL: none for most bytes (zeros among them). */
static int pick_null(byte_stream *s)
{
    const uint8_t b = next_byte(s);
    return b >= 0xF0 ? b - 0xF0 : 255;
}

/** Core splits every split kernel must refuse. */
static const capsnet_core_split bad_splits[] = {
    {0, CAPSNET_CORES_MAX + 1, NULL, NULL}, {0, 0, NULL, NULL}, {-1, 2, NULL, NULL}, {2, 2, NULL, NULL},
    {0, INT32_MIN, NULL, NULL}, {INT32_MAX, INT32_MAX, NULL, NULL},
};


/* ---------------------------------------------------------------------------------------------- */
/* Convolution and primary capsules                                                                */
/* ---------------------------------------------------------------------------------------------- */

typedef struct {
    capsnet_conv_params params;
    capsnet_hwc input_dims, output_dims;
    int has_bias;
    int depthwise; /**< capsnet_depthwise_conv_hwc_q7: one Kh x Kw filter per channel, no scratch */
    int8_t fracs[64]; /**< params.weight_fracs, when the call has per-filter formats */
} conv_call;

/** The filters' values: Cout*Kh*Kw*Cin, or Kh*Kw*C for a depthwise convolution. */
static int64_t conv_weights(const conv_call *c)
{
    const int64_t window = (int64_t)c->params.kernel.h * c->params.kernel.w;
    return c->depthwise ? window * c->input_dims.c : window * c->input_dims.c * c->output_dims.c;
}

static void read_conv(byte_stream *s, conv_call *c)
{
    memset(c, 0, sizeof *c);
    c->input_dims = (capsnet_hwc){pick(s, 1, 9), pick(s, 1, 9), pick_size(s)};
    c->params.kernel = (capsnet_hw){pick(s, 1, 4), pick(s, 1, 4)};
    c->params.stride = (capsnet_hw){pick(s, 1, 3), pick(s, 1, 3)};
    c->params.padding = (capsnet_hw){pick(s, 0, 2), pick(s, 0, 2)};
    c->output_dims = (capsnet_hwc){pick(s, 1, 9), pick(s, 1, 9), pick_size(s)};
    c->params.input_frac = pick_frac(s);
    c->params.weight_frac = pick_frac(s);
    c->params.bias_frac = pick_frac(s);
    c->params.output_frac = pick_frac(s);
    c->params.activation.min = pick(s, -128, 0);
    c->params.activation.max = pick(s, 1, 127);
    c->params.activation.leak = pick(s, 0, 3) == 3 ? pick(s, 0, 32767) : 0;
    c->has_bias = next_byte(s) & 1;
    /* Sometimes a format per filter: near the layer's, or anything. */
    if (c->output_dims.c >= 1 && c->output_dims.c <= (int32_t)sizeof c->fracs && pick(s, 0, 3) == 3) {
        /* All of them, so that a depthwise call, whose channel count may change below, reads drawn values. */
        for (int32_t k = 0; k < (int32_t)sizeof c->fracs; k++) {
            /* Unsigned: the layer's format may be any int32, and its neighbour must not overflow. */
            c->fracs[k] = (int8_t)(pick(s, 0, 7) == 7 ? (uint32_t)pick_frac(s)
                                                      : (uint32_t)c->params.weight_frac + (uint32_t)pick(s, 0, 3));
        }
        c->params.weight_fracs = c->fracs;
    }
}

static int axis_bad(int32_t size, int32_t kernel, int32_t stride, int32_t padding, int32_t out)
{
    if (size < 1 || kernel < 1 || stride < 1 || out < 1 || padding < 0 || padding >= kernel) {
        return 1;
    }
    if (size > CAPSNET_DIM_MAX || kernel > CAPSNET_DIM_MAX || stride > CAPSNET_DIM_MAX || out > CAPSNET_DIM_MAX) {
        return 1;
    }
    return (int64_t)(out - 1) * stride - padding > size - 1; /* the last window starts past the input */
}

/** Whether capsnet_conv_hwc_q7's contract forbids these arguments. */
static int conv_forbidden(const conv_call *c)
{
    const capsnet_conv_params *p = &c->params;
    const capsnet_hwc *in = &c->input_dims, *out = &c->output_dims;
    if (axis_bad(in->h, p->kernel.h, p->stride.h, p->padding.h, out->h) ||
        axis_bad(in->w, p->kernel.w, p->stride.w, p->padding.w, out->w) || in->c < 1 || out->c < 1) {
        return 1;
    }
    if (too_many(product(in->h, in->w, in->c)) || too_many(product(out->h, out->w, out->c)) ||
        too_many(product(out->c, p->kernel.h * (int64_t)p->kernel.w, c->depthwise ? 1 : in->c)) ||
        (c->depthwise && (out->c != in->c || too_many(product(p->kernel.h, p->kernel.w, in->c))))) {
        return 1;
    }
    if (product_shift_bad(p->input_frac, p->weight_frac, p->output_frac)) {
        return 1;
    }
    int32_t bias_shift = 0;
    if (c->has_bias) {
        if (frac_bad(p->bias_frac)) {
            return 1;
        }
        bias_shift = p->input_frac + p->weight_frac - p->bias_frac;
        if (bias_shift < 0 || bias_shift > CAPSNET_SHIFT_MAX) {
            return 1;
        }
    }
    /* Each filter's own format, when it has one, is checked like the layer's. */
    for (int32_t k = 0; p->weight_fracs != NULL && k < out->c; k++) {
        if (product_shift_bad(p->input_frac, p->weight_fracs[k], p->output_frac)) {
            return 1;
        }
        if (c->has_bias) {
            const int32_t shift = p->input_frac + p->weight_fracs[k] - p->bias_frac;
            if (shift < 0 || shift > CAPSNET_SHIFT_MAX) {
                return 1;
            }
            bias_shift = shift > bias_shift ? shift : bias_shift;
        }
    }
    const int64_t terms = product(p->kernel.h, p->kernel.w, c->depthwise ? 1 : in->c);
    if (terms > INT32_MAX || terms * 16384 + ((int64_t)128 << bias_shift) > INT32_MAX) {
        return 1;
    }
    const capsnet_activation *a = &p->activation;
    return a->min < CAPSNET_Q7_MIN || a->max > CAPSNET_Q7_MAX || a->min >= a->max || a->leak < 0 ||
           a->leak > 32767;
}

static int64_t conv_macs(const conv_call *c)
{
    return product(product(c->output_dims.h, c->output_dims.w, c->output_dims.c), c->params.kernel.h,
                   product(c->params.kernel.w, c->depthwise ? 1 : c->input_dims.c, 1));
}

static int64_t conv_bytes(const conv_call *c, int64_t scratch)
{
    const capsnet_hwc *in = &c->input_dims, *out = &c->output_dims;
    return product(in->h, in->w, in->c) + product(out->h, out->w, out->c) + conv_weights(c) + scratch;
}

/** A kernel's scratch from its companion's answer, or the no-access page; `short_by` bytes fewer. */
static capsnet_context scratch(buffers *b, int32_t size, int short_by, int run)
{
    if (!run || size < 0) {
        return (capsnet_context){no_access(), size < 0 ? 0 : size};
    }
    const int32_t given = size - (short_by && size > 0 ? 1 : 0);
    return (capsnet_context){exact(b, given), given};
}

/**
 * Runs a convolution-shaped kernel (the convolution or the primary capsules, one core and split):
 * `one` on the whole output, then `split` core by core into a second output, which must match.
 */
typedef capsnet_status (*conv_one_fn)(const void *params, const capsnet_context *ctx, const conv_call *c,
                                      const int8_t *input, const int8_t *weights, const int8_t *bias, int8_t *output);
typedef capsnet_status (*conv_split_fn)(const void *params, const capsnet_context *ctx, const conv_call *c,
                                        const int8_t *input, const int8_t *weights, const int8_t *bias,
                                        int8_t *output, const capsnet_core_split *split);

static capsnet_status conv_one(const void *params, const capsnet_context *ctx, const conv_call *c,
                               const int8_t *input, const int8_t *weights, const int8_t *bias, int8_t *output)
{
    return capsnet_conv_hwc_q7(ctx, params, &c->input_dims, input, weights, bias, &c->output_dims, output);
}

static capsnet_status conv_split(const void *params, const capsnet_context *ctx, const conv_call *c,
                                 const int8_t *input, const int8_t *weights, const int8_t *bias, int8_t *output,
                                 const capsnet_core_split *split)
{
    return capsnet_conv_hwc_q7_split(ctx, params, &c->input_dims, input, weights, bias, &c->output_dims, output,
                                     split);
}

static capsnet_status primary_one(const void *params, const capsnet_context *ctx, const conv_call *c,
                                  const int8_t *input, const int8_t *weights, const int8_t *bias, int8_t *output)
{
    return capsnet_primary_capsule_q7(ctx, params, &c->input_dims, input, weights, bias, &c->output_dims, output);
}

static capsnet_status primary_split(const void *params, const capsnet_context *ctx, const conv_call *c,
                                    const int8_t *input, const int8_t *weights, const int8_t *bias, int8_t *output,
                                    const capsnet_core_split *split)
{
    return capsnet_primary_capsule_q7_split(ctx, params, &c->input_dims, input, weights, bias, &c->output_dims,
                                            output, split);
}

static void check_conv_kind(const char *name, byte_stream *s, const conv_call *c, const void *params,
                            int forbidden, int32_t one_size, conv_one_fn one, conv_split_fn split_fn,
                            int32_t (*split_size)(const void *, const capsnet_hwc *, int32_t))
{
    const int null_arg = pick_null(s);
    const int short_by = next_byte(s) & 1;
    const int32_t cores = 1 + next_byte(s) % 8, core_id = next_byte(s) % 4;
    const int32_t split_bytes = split_size(params, &c->input_dims, cores);
    const int32_t any_cores = pick(s, 1, 8);
    if ((any_cores < 1 || any_cores > CAPSNET_CORES_MAX) && split_size(params, &c->input_dims, any_cores) >= 0) {
        fail(name, "the split companion accepted an invalid number of cores");
    }
    forbidden = forbidden || null_arg <= 3 || (null_arg == 4 && one_size > 0) || one_size < 0;
    const int run = !forbidden && runnable(conv_bytes(c, (int64_t)one_size + (split_bytes > 0 ? split_bytes : 0)),
                                           conv_macs(c));
    if (!forbidden && !run) {
        record_too_large(); /* valid but too large to run here */
        return;
    }
    buffers b = {.data = s};
    const capsnet_hwc *in = &c->input_dims, *out = &c->output_dims;
    const int64_t out_count = run ? product(out->h, out->w, out->c) : 0;
    const int8_t *input = run ? exact(&b, product(in->h, in->w, in->c)) : no_access();
    const int8_t *weights = run ? exact(&b, conv_weights(c)) : no_access();
    const int8_t *bias = !c->has_bias ? NULL : run ? exact(&b, out->c) : no_access();
    int8_t *output = run ? exact(&b, out_count) : no_access();
    const int8_t *before = snapshot(&b, output, out_count, run);
    capsnet_context ctx = scratch(&b, one_size, short_by, run);
    if (null_arg == 4) {
        ctx.buf = NULL;
    }
    const capsnet_status status =
        one(params, null_arg == 0 ? NULL : &ctx, c, null_arg == 1 ? NULL : input, null_arg == 2 ? NULL : weights,
            bias, null_arg == 3 ? NULL : output);
    if (!judge(name, forbidden || (short_by && one_size > 0), status, before, output, out_count)) {
        free_all(&b);
        return;
    }
    /* Every core in turn into a second output: together they must write the same bytes. */
    if (split_bytes < 0) {
        fail(name, "the split companion refuses what the kernel accepts");
    }
    int8_t *shared = exact(&b, out_count);
    const capsnet_context split_ctx = {exact(&b, split_bytes), split_bytes};
    for (int32_t core = 0; core < cores; core++) {
        const capsnet_core_split part = {core, cores, NULL, NULL};
        if (split_fn(params, &split_ctx, c, input, weights, bias, shared, &part) != CAPSNET_OK) {
            fail(name, "a core of the split refuses what the kernel accepts");
        }
    }
    if (memcmp(shared, output, (size_t)out_count) != 0) {
        fail(name, "the split's output differs from the one-core kernel's");
    }
    /* Invalid splits must be refused, however large the scratch claims to be. */
    const capsnet_core_split stray = {core_id + cores, cores, NULL, NULL};
    const capsnet_context roomy = {split_ctx.buf, INT32_MAX};
    if (split_fn(params, &roomy, c, input, weights, bias, shared, &stray) == CAPSNET_OK) {
        fail(name, "accepted a core id outside the split");
    }
    for (size_t k = 0; k < sizeof bad_splits / sizeof bad_splits[0]; k++) {
        if (split_fn(params, &roomy, c, input, weights, bias, shared, &bad_splits[k]) == CAPSNET_OK) {
            fail(name, "accepted an invalid core split");
        }
    }
    free_all(&b);
}

static capsnet_status depthwise_one(const void *params, const capsnet_context *ctx, const conv_call *c,
                                    const int8_t *input, const int8_t *weights, const int8_t *bias, int8_t *output)
{
    return capsnet_depthwise_conv_hwc_q7(ctx, params, &c->input_dims, input, weights, bias, &c->output_dims, output);
}

static capsnet_status depthwise_split(const void *params, const capsnet_context *ctx, const conv_call *c,
                                      const int8_t *input, const int8_t *weights, const int8_t *bias,
                                      int8_t *output, const capsnet_core_split *split)
{
    return capsnet_depthwise_conv_hwc_q7_split(ctx, params, &c->input_dims, input, weights, bias, &c->output_dims,
                                               output, split);
}

static int32_t depthwise_split_size(const void *params, const capsnet_hwc *input_dims, int32_t cores)
{
    return capsnet_depthwise_conv_hwc_q7_split_get_buffer_size(params, input_dims, cores);
}

static int32_t conv_split_size(const void *params, const capsnet_hwc *input_dims, int32_t cores)
{
    return capsnet_conv_hwc_q7_split_get_buffer_size(params, input_dims, cores);
}

static int32_t primary_split_size(const void *params, const capsnet_hwc *input_dims, int32_t cores)
{
    return capsnet_primary_capsule_q7_split_get_buffer_size(params, input_dims, cores);
}

static void fuzz_conv(byte_stream *s)
{
    conv_call c;
    read_conv(s, &c);
    const int32_t size = capsnet_conv_hwc_q7_get_buffer_size(&c.params, &c.input_dims);
    check_conv_kind("capsnet_conv_hwc_q7", s, &c, &c.params, conv_forbidden(&c), size, conv_one, conv_split,
                    conv_split_size);
}

static void fuzz_depthwise_conv(byte_stream *s)
{
    conv_call c;
    read_conv(s, &c);
    c.depthwise = 1;
    if (next_byte(s) < 0xF0) {
        c.output_dims.c = c.input_dims.c; /* mostly as the contract wants; else whatever was drawn */
    }
    if (c.input_dims.c > (int32_t)sizeof c.fracs || c.output_dims.c > (int32_t)sizeof c.fracs) {
        c.params.weight_fracs = NULL; /* more channels than formats drawn */
    }
    const int32_t size = capsnet_depthwise_conv_hwc_q7_get_buffer_size(&c.params, &c.input_dims);
    check_conv_kind("capsnet_depthwise_conv_hwc_q7", s, &c, &c.params, conv_forbidden(&c), size, depthwise_one,
                    depthwise_split, depthwise_split_size);
}

static void fuzz_primary_capsule(byte_stream *s)
{
    conv_call c;
    read_conv(s, &c);
    capsnet_primary_capsule_params p = {c.params, pick(s, 1, 4), pick(s, 0, 9)};
    const int forbidden = conv_forbidden(&c) || p.capsule_dim < 1 || c.output_dims.c % p.capsule_dim != 0 ||
                          frac_bad(p.output_frac) || p.output_frac < 0 || frac_bad(c.params.output_frac);
    const int32_t size = capsnet_primary_capsule_q7_get_buffer_size(&p, &c.input_dims);
    check_conv_kind("capsnet_primary_capsule_q7", s, &c, &p, forbidden, size, primary_one, primary_split,
                    primary_split_size);
}

/* ---------------------------------------------------------------------------------------------- */
/* Capsule layer                                                                                   */
/* ---------------------------------------------------------------------------------------------- */

/** One call of a routing layer's split kernel on `cores` threads: dynamic routing (`params`) or
 * self-attention routing (`attention`). */
typedef struct {
    pthread_barrier_t barrier;
    const capsnet_context *ctx;
    const capsnet_capsule_params *params;
    const capsnet_self_attention_params *attention;
    const capsnet_capsule_dims *dims;
    const int8_t *input, *weights, *bias;
    int8_t *output;
    int32_t cores;
} capsule_run;

typedef struct {
    capsule_run *run;
    int32_t core;
    capsnet_status status;
} capsule_core;

static void wait_barrier(void *arg) { pthread_barrier_wait(arg); }

static capsnet_status call_capsule_split(const capsule_run *r, const capsnet_context *ctx, int8_t *output,
                                         const capsnet_core_split *split)
{
    return r->attention != NULL
               ? capsnet_self_attention_capsule_q7_split(ctx, r->attention, r->dims, r->input, r->weights, r->bias,
                                                         output, split)
               : capsnet_capsule_layer_q7_split(ctx, r->params, r->dims, r->input, r->weights, output, split);
}

static void *capsule_thread(void *arg)
{
    capsule_core *core = arg;
    capsule_run *r = core->run;
    const capsnet_core_split split = {core->core, r->cores, wait_barrier, &r->barrier};
    core->status = call_capsule_split(r, r->ctx, r->output, &split);
    return NULL;
}

/**
 * Runs the split kernel of `r` on its threads and checks it against the one-core output `whole`
 * of `count` bytes; then checks that several cores without a barrier, and every invalid split,
 * are refused.
 */
static void check_capsule_split(const char *name, capsule_run *r, const int8_t *whole, int64_t count)
{
    pthread_barrier_init(&r->barrier, NULL, (unsigned)r->cores);
    pthread_t threads[4];
    capsule_core each[4];
    for (int32_t k = 0; k < r->cores; k++) {
        each[k] = (capsule_core){r, k, CAPSNET_OK};
        if (pthread_create(&threads[k], NULL, capsule_thread, &each[k]) != 0) {
            abort();
        }
    }
    for (int32_t k = 0; k < r->cores; k++) {
        pthread_join(threads[k], NULL);
        if (each[k].status != CAPSNET_OK) {
            fail(name, "a core of the split refuses what the kernel accepts");
        }
    }
    pthread_barrier_destroy(&r->barrier);
    if (memcmp(r->output, whole, (size_t)count) != 0) {
        fail(name, "the split's output differs from the one-core kernel's");
    }
    if (r->cores > 1) {
        const capsnet_core_split no_barrier = {0, r->cores, NULL, NULL};
        if (call_capsule_split(r, r->ctx, r->output, &no_barrier) == CAPSNET_OK) {
            fail(name, "accepted several cores without a barrier");
        }
    }
    /* Invalid splits, with a barrier (it must never be called) and a scratch that claims to be huge. */
    const capsnet_context roomy = {r->ctx->buf, INT32_MAX};
    for (size_t k = 0; k < sizeof bad_splits / sizeof bad_splits[0]; k++) {
        capsnet_core_split bad = bad_splits[k];
        bad.barrier = wait_barrier;
        bad.barrier_arg = NULL;
        if (call_capsule_split(r, &roomy, r->output, &bad) == CAPSNET_OK) {
            fail(name, "accepted an invalid core split");
        }
    }
}

/**
 * The refusals both routing layers share: a size below 1, more output capsules than a softmax row
 * takes, or a tensor over the limit. Sets *jd and *weights_count (J*D outputs, J*I*D*Din weights)
 * when the sizes are valid.
 */
static int capsule_dims_bad(const capsnet_capsule_dims *d, int64_t *jd, int64_t *weights_count)
{
    if (d->num_inputs < 1 || d->input_dim < 1 || d->num_outputs < 1 || d->output_dim < 1 ||
        d->num_outputs > CAPSNET_SOFTMAX_ROW_MAX) {
        return 1;
    }
    *jd = product(d->num_outputs, d->output_dim, 1);
    *weights_count = product(*jd, d->num_inputs, d->input_dim);
    return too_many(product(d->num_inputs, d->input_dim, 1)) || too_many(*jd) || too_many(*weights_count);
}

static void fuzz_capsule_layer(byte_stream *s)
{
    static const char *name = "capsnet_capsule_layer_q7";
    capsnet_capsule_dims d = {pick(s, 1, 12), pick(s, 1, 4), pick(s, 1, 4), pick(s, 1, 4)};
    capsnet_routing_formats iterations[CAPSNET_ROUTINGS_MAX];
    capsnet_capsule_params p = {pick_frac(s), pick_frac(s), pick_frac(s), pick(s, 1, 3), iterations,
                                (capsnet_routing_memory)pick(s, 0, 1), NULL, (capsnet_routing_precision)pick(s, 0, 2)};
    for (int r = 0; r < CAPSNET_ROUTINGS_MAX; r++) {
        iterations[r] = (capsnet_routing_formats){pick(s, 0, 7), pick_frac(s), pick(s, 0, 9), pick(s, 0, 7)};
    }
    /* Sometimes a format per output capsule: near the layer's, or anything. */
    int8_t capsule_fracs[16];
    if (d.num_outputs >= 1 && d.num_outputs <= (int32_t)sizeof capsule_fracs && pick(s, 0, 3) == 3) {
        for (int32_t j = 0; j < d.num_outputs; j++) {
            capsule_fracs[j] = (int8_t)(pick(s, 0, 7) == 7 ? (uint32_t)pick_frac(s)
                                                          : (uint32_t)p.weight_frac + (uint32_t)pick(s, 0, 3));
        }
        p.weight_fracs = capsule_fracs;
    }
    const int null_arg = pick_null(s);
    const int short_by = next_byte(s) & 1;
    const int32_t cores = 1 + next_byte(s) % 4; /* threads, each a core */
    const int32_t any_cores = pick(s, 1, 8);
    if ((any_cores < 1 || any_cores > CAPSNET_CORES_MAX) &&
        capsnet_capsule_layer_q7_split_get_buffer_size(&p, &d, any_cores) >= 0) {
        fail(name, "the split companion accepted an invalid number of cores");
    }

    int64_t jd = 0;
    int64_t weights_count = 0;
    int forbidden = p.routings < 1 || p.routings > CAPSNET_ROUTINGS_MAX ||
                    (p.memory != CAPSNET_ROUTING_KEEP_PREDICTIONS && p.memory != CAPSNET_ROUTING_RECOMPUTE_PREDICTIONS) ||
                    (p.precision != CAPSNET_ROUTING_Q7 && p.precision != CAPSNET_ROUTING_Q15) || null_arg <= 7 ||
                    capsule_dims_bad(&d, &jd, &weights_count);
    if (!forbidden) {
        forbidden = product_shift_bad(p.input_frac, p.weight_frac, p.prediction_frac);
        for (int32_t j = 0; p.weight_fracs != NULL && j < d.num_outputs && !forbidden; j++) {
            forbidden = product_shift_bad(p.input_frac, p.weight_fracs[j], p.prediction_frac);
        }
        for (int32_t r = 0; r < p.routings && !forbidden; r++) {
            const capsnet_routing_formats *f = &iterations[r];
            forbidden = frac_bad(f->logit_frac) || frac_bad(f->sum_frac) || frac_bad(f->output_frac) ||
                        f->output_frac < 0 || (r < p.routings - 1 && frac_bad(f->agreement_frac));
        }
    }
    const int32_t size = capsnet_capsule_layer_q7_get_buffer_size(&p, &d);
    const int32_t split_bytes = capsnet_capsule_layer_q7_split_get_buffer_size(&p, &d, cores);
    forbidden = forbidden || size < 0;
    const int64_t macs = forbidden ? 0 : product(weights_count, p.routings + 1, 1);
    const int run = !forbidden && runnable(weights_count + (int64_t)size + split_bytes, macs);
    if (!forbidden && !run) {
        record_too_large();
        return;
    }
    buffers b = {.data = s};
    const int8_t *input = run ? exact(&b, product(d.num_inputs, d.input_dim, 1)) : no_access();
    const int8_t *weights = run ? exact(&b, weights_count) : no_access();
    int8_t *output = run ? exact(&b, jd) : no_access();
    const int8_t *before = snapshot(&b, output, jd, run);
    capsnet_context ctx = scratch(&b, size, short_by, run);
    if (null_arg == 7) {
        ctx.buf = NULL;
    }
    capsnet_capsule_params called = p;
    if (null_arg == 6) {
        called.iterations = NULL;
    }
    const capsnet_status status = capsnet_capsule_layer_q7(null_arg == 0 ? NULL : &ctx, null_arg == 1 ? NULL : &called,
                                                           null_arg == 2 ? NULL : &d, null_arg == 3 ? NULL : input,
                                                           null_arg == 4 ? NULL : weights, null_arg == 5 ? NULL : output);
    if (!judge(name, forbidden || (short_by && size > 0), status, before, output, jd)) {
        free_all(&b);
        return;
    }
    if (split_bytes < 0) {
        fail(name, "the split companion refuses what the kernel accepts");
    }
    capsule_run r = {.ctx = &(capsnet_context){exact(&b, split_bytes), split_bytes},
                     .params = &p, .dims = &d, .input = input, .weights = weights,
                     .output = exact(&b, jd), .cores = cores};
    check_capsule_split(name, &r, output, jd);
    free_all(&b);
}

static void fuzz_self_attention(byte_stream *s)
{
    static const char *name = "capsnet_self_attention_capsule_q7";
    capsnet_capsule_dims d = {pick(s, 1, 12), pick(s, 1, 4), pick(s, 1, 4), pick(s, 1, 6)};
    const capsnet_self_attention_params p = {pick_frac(s), pick_frac(s), pick_frac(s), pick_frac(s),
                                             pick_frac(s), pick(s, -2, 7), pick_frac(s), pick(s, 0, 9)};
    const int null_arg = pick_null(s);
    const int short_by = next_byte(s) & 1;
    const int32_t cores = 1 + next_byte(s) % 4;
    const int32_t any_cores = pick(s, 1, 8);
    if ((any_cores < 1 || any_cores > CAPSNET_CORES_MAX) &&
        capsnet_self_attention_capsule_q7_split_get_buffer_size(&d, any_cores) >= 0) {
        fail(name, "the split companion accepted an invalid number of cores");
    }

    int64_t jd = 0;
    int64_t weights_count = 0;
    int forbidden = null_arg <= 7 || capsule_dims_bad(&d, &jd, &weights_count);
    const int64_t routes = forbidden ? 0 : product(d.num_outputs, d.num_inputs, 1);
    if (!forbidden) {
        const int64_t agreement_shift = 30 + 2 * (int64_t)p.prediction_frac - p.agreement_frac;
        const int32_t finer = p.bias_frac > CAPSNET_SOFTMAX_FRAC ? p.bias_frac : CAPSNET_SOFTMAX_FRAC;
        forbidden = too_many(routes) || too_many(product(d.num_inputs, d.output_dim, 1)) ||
                    product_shift_bad(p.input_frac, p.weight_frac, p.prediction_frac) ||
                    frac_bad(p.agreement_frac) || agreement_shift < 0 || agreement_shift > 62 ||
                    frac_bad(p.bias_frac) || frac_bad(p.coupling_frac) || finer < p.coupling_frac ||
                    product_shift_bad(p.coupling_frac, p.prediction_frac, p.sum_frac) || frac_bad(p.output_frac) ||
                    p.output_frac < 0 || (int64_t)d.input_dim * 16384 > INT32_MAX ||
                    product(d.num_inputs, d.output_dim, 16384) > INT32_MAX;
    }
    const int32_t size = capsnet_self_attention_capsule_q7_get_buffer_size(&d);
    const int32_t split_bytes = capsnet_self_attention_capsule_q7_split_get_buffer_size(&d, cores);
    forbidden = forbidden || size < 0;
    const int64_t macs = forbidden ? 0 : weights_count + 2 * jd * d.num_inputs;
    const int run = !forbidden && runnable(weights_count + (int64_t)size + split_bytes, macs);
    if (!forbidden && !run) {
        record_too_large();
        return;
    }
    buffers b = {.data = s};
    const int8_t *input = run ? exact(&b, product(d.num_inputs, d.input_dim, 1)) : no_access();
    const int8_t *weights = run ? exact(&b, weights_count) : no_access();
    const int8_t *bias = run ? exact(&b, routes) : no_access();
    int8_t *output = run ? exact(&b, jd) : no_access();
    const int8_t *before = snapshot(&b, output, jd, run);
    capsnet_context ctx = scratch(&b, size, short_by, run);
    if (null_arg == 7) {
        ctx.buf = NULL;
    }
    const capsnet_status status = capsnet_self_attention_capsule_q7(
        null_arg == 0 ? NULL : &ctx, null_arg == 1 ? NULL : &p, null_arg == 2 ? NULL : &d,
        null_arg == 3 ? NULL : input, null_arg == 4 ? NULL : weights, null_arg == 5 ? NULL : bias,
        null_arg == 6 ? NULL : output);
    if (!judge(name, forbidden || (short_by && size > 0), status, before, output, jd)) {
        free_all(&b);
        return;
    }
    if (split_bytes < 0) {
        fail(name, "the split companion refuses what the kernel accepts");
    }
    capsule_run r = {.ctx = &(capsnet_context){exact(&b, split_bytes), split_bytes},
                     .attention = &p, .dims = &d, .input = input, .weights = weights, .bias = bias,
                     .output = exact(&b, jd), .cores = cores};
    check_capsule_split(name, &r, output, jd);
    free_all(&b);
}

/* ---------------------------------------------------------------------------------------------- */
/* Element-wise, softmax, squash, lengths and matrix kernels                                       */
/* ---------------------------------------------------------------------------------------------- */

/**
 * The shared tail of the kernels with plain buffers: `count` tensors of the given sizes (the last
 * one the output), the call made through `call`, the contract checked.
 */
typedef capsnet_status (*plain_fn)(const void *args, int8_t *const *tensors);

static void check_plain(const char *name, byte_stream *s, const void *args, int forbidden, const int64_t *sizes,
                        int count, int out_index, plain_fn call)
{
    const int null_arg = pick_null(s);
    forbidden = forbidden || null_arg < count;
    int64_t bytes = 0;
    for (int k = 0; k < count && !forbidden; k++) {
        if (too_many(sizes[k])) {
            fail(name, "the harness's own size rules let a tensor above INT32_MAX elements through");
        }
        bytes += sizes[k];
    }
    const int run = !forbidden && runnable(2 * bytes, bytes);
    if (!forbidden && !run) {
        record_too_large();
        return;
    }
    buffers b = {.data = s};
    int8_t *tensors[4];
    for (int k = 0; k < count; k++) {
        tensors[k] = k == null_arg ? NULL : run ? exact(&b, sizes[k]) : no_access();
    }
    const int64_t out_count = run ? sizes[out_index] : 0;
    const int8_t *before = snapshot(&b, tensors[out_index], out_count, run);
    judge(name, forbidden, call(args, tensors), before, tensors[out_index], out_count);
    free_all(&b);
}

typedef struct {
    int32_t a, b, c;
    int32_t fa, fb, fout;
} plain_args;

static capsnet_status call_relu(const void *v, int8_t *const *t)
{
    const plain_args *a = v;
    return capsnet_relu_q7(t[0], a->a);
}

static capsnet_status call_leaky_relu(const void *v, int8_t *const *t)
{
    const plain_args *a = v;
    return capsnet_leaky_relu_q7(t[0], a->a, a->b);
}

static capsnet_status call_squash(const void *v, int8_t *const *t)
{
    const plain_args *a = v;
    return capsnet_squash_q7(t[0], a->a, a->b, a->fa, a->fout, a->c ? t[0] : t[1]);
}

static capsnet_status call_exp_squash(const void *v, int8_t *const *t)
{
    const plain_args *a = v;
    return capsnet_exp_squash_q7(t[0], a->a, a->b, a->fa, a->fout, a->c ? t[0] : t[1]);
}

static capsnet_status call_length(const void *v, int8_t *const *t)
{
    const plain_args *a = v;
    return capsnet_capsule_length_q7(t[0], a->a, a->b, a->fa, a->fout, t[1]);
}

static capsnet_status call_transpose(const void *v, int8_t *const *t)
{
    const plain_args *a = v;
    return capsnet_mat_transpose_q7(t[0], a->a, a->b, t[1]);
}

static capsnet_status call_mat_mult(const void *v, int8_t *const *t)
{
    const plain_args *a = v;
    const capsnet_mat_formats f = {a->fa, a->fb, a->fout};
    return capsnet_mat_mult_q7(t[0], t[1], a->a, a->b, a->c, &f, t[2]);
}

static capsnet_status call_mat_mult_trans_b(const void *v, int8_t *const *t)
{
    const plain_args *a = v;
    const capsnet_mat_formats f = {a->fa, a->fb, a->fout};
    return capsnet_mat_mult_trans_b_q7(t[0], t[1], a->a, a->b, a->c, &f, t[2]);
}

static capsnet_status call_mat_add(const void *v, int8_t *const *t)
{
    const plain_args *a = v;
    const capsnet_mat_formats f = {a->fa, a->fb, a->fout};
    return capsnet_mat_add_q7(t[0], t[1], a->a, &f, a->c ? t[0] : t[2]);
}

/** Element count a*b, or a value above INT32_MAX (forbidden) when either is below 1 or it is too large. */
static int64_t count2(int32_t a, int32_t b) { return a < 1 || b < 1 ? INT64_MAX : product(a, b, 1); }

static void fuzz_relu(byte_stream *s)
{
    const plain_args a = {.a = pick(s, 1, 64)};
    const int64_t sizes[1] = {a.a};
    check_plain("capsnet_relu_q7", s, &a, a.a < 1, sizes, 1, 0, call_relu);
}

static void fuzz_leaky_relu(byte_stream *s)
{
    const plain_args a = {.a = pick(s, 1, 64), .b = pick(s, 0, 32767)};
    const int64_t sizes[1] = {a.a};
    check_plain("capsnet_leaky_relu_q7", s, &a, a.a < 1 || a.b < 0 || a.b > 32767, sizes, 1, 0, call_leaky_relu);
}

static void fuzz_squash(byte_stream *s)
{
    const plain_args a = {.a = pick(s, 1, 8), .b = pick(s, 1, 16), .c = next_byte(s) & 1,
                          .fa = pick_frac(s), .fout = pick(s, 0, 9)};
    const int64_t n = count2(a.a, a.b);
    const int64_t sizes[2] = {n, n};
    const int forbidden = too_many(n) || frac_bad(a.fa) || frac_bad(a.fout) || a.fout < 0;
    check_plain("capsnet_squash_q7", s, &a, forbidden, sizes, a.c ? 1 : 2, a.c ? 0 : 1, call_squash);
}

static void fuzz_exp_squash(byte_stream *s)
{
    const plain_args a = {.a = pick(s, 1, 8), .b = pick(s, 1, 16), .c = next_byte(s) & 1,
                          .fa = pick_frac(s), .fout = pick(s, 0, 9)};
    const int64_t n = count2(a.a, a.b);
    const int64_t sizes[2] = {n, n};
    const int forbidden = too_many(n) || frac_bad(a.fa) || frac_bad(a.fout) || a.fout < 0;
    check_plain("capsnet_exp_squash_q7", s, &a, forbidden, sizes, a.c ? 1 : 2, a.c ? 0 : 1, call_exp_squash);
}

static void fuzz_capsule_length(byte_stream *s)
{
    const plain_args a = {.a = pick(s, 1, 10), .b = pick(s, 1, 16), .fa = pick_frac(s), .fout = pick_frac(s)};
    const int64_t sizes[2] = {count2(a.a, a.b), a.a};
    const int forbidden = too_many(sizes[0]) || frac_bad(a.fa) || frac_bad(a.fout);
    check_plain("capsnet_capsule_length_q7", s, &a, forbidden, sizes, 2, 1, call_length);
}

static void fuzz_transpose(byte_stream *s)
{
    const plain_args a = {.a = pick(s, 1, 16), .b = pick(s, 1, 16)};
    const int64_t n = count2(a.a, a.b);
    const int64_t sizes[2] = {n, n};
    check_plain("capsnet_mat_transpose_q7", s, &a, too_many(n), sizes, 2, 1, call_transpose);
}

static void fuzz_mat_product(byte_stream *s, int trans_b)
{
    const plain_args a = {.a = pick(s, 1, 16), .b = pick(s, 1, 16), .c = pick(s, 1, 16),
                          .fa = pick_frac(s), .fb = pick_frac(s), .fout = pick_frac(s)};
    const int64_t sizes[3] = {count2(a.a, a.b), count2(a.b, a.c), count2(a.a, a.c)};
    const int forbidden = too_many(sizes[0]) || too_many(sizes[1]) || too_many(sizes[2]) ||
                          product_shift_bad(a.fa, a.fb, a.fout) || (int64_t)a.b * 16384 > INT32_MAX;
    check_plain(trans_b ? "capsnet_mat_mult_trans_b_q7" : "capsnet_mat_mult_q7", s, &a, forbidden, sizes, 3, 2,
                trans_b ? call_mat_mult_trans_b : call_mat_mult);
}

static void fuzz_mat_add(byte_stream *s)
{
    const plain_args a = {.a = pick(s, 1, 64), .c = next_byte(s) & 1, .fa = pick_frac(s), .fb = pick_frac(s),
                          .fout = pick_frac(s)};
    const int64_t sizes[3] = {a.a, a.a, a.a};
    const int32_t finer = a.fa > a.fb ? a.fa : a.fb;
    const int forbidden = a.a < 1 || frac_bad(a.fa) || frac_bad(a.fb) || frac_bad(a.fout) || finer - a.fout < 0;
    check_plain("capsnet_mat_add_q7", s, &a, forbidden, sizes, a.c ? 2 : 3, a.c ? 0 : 2, call_mat_add);
}

static void fuzz_softmax(byte_stream *s)
{
    static const char *name = "capsnet_softmax_q7";
    const int32_t rows = pick(s, 1, 8), row_len = pick(s, 1, 16), frac = pick_frac(s);
    const int null_arg = pick_null(s);
    const int short_by = next_byte(s) & 1;
    const int32_t size = capsnet_softmax_q7_get_buffer_size();
    const int64_t n = count2(rows, row_len);
    const int forbidden = too_many(n) || row_len > CAPSNET_SOFTMAX_ROW_MAX || frac_bad(frac) || null_arg <= 3 || size < 0;
    const int run = !forbidden && runnable(2 * n + size, n);
    if (!forbidden && !run) {
        record_too_large();
        return;
    }
    buffers b = {.data = s};
    const int8_t *logits = run ? exact(&b, n) : no_access();
    int8_t *output = run ? exact(&b, n) : no_access();
    const int8_t *before = snapshot(&b, output, n, run);
    capsnet_context ctx = scratch(&b, size, short_by, run);
    if (null_arg == 3) {
        ctx.buf = NULL;
    }
    const capsnet_status status = capsnet_softmax_q7(null_arg == 0 ? NULL : &ctx, null_arg == 1 ? NULL : logits, rows,
                                                     row_len, frac, null_arg == 2 ? NULL : output);
    judge(name, forbidden || (short_by && size > 0), status, before, output, n);
    free_all(&b);
}

static void fuzz_channel_affine(byte_stream *s)
{
    static const char *name = "capsnet_channel_affine_q7";
    const int32_t positions = pick(s, 1, 16);
    capsnet_channel_affine_params p = {.channels = pick(s, 1, 8), .input_frac = pick_frac(s),
                                       .output_frac = pick_frac(s)};
    const int null_arg = pick_null(s);
    const int64_t n = count2(positions, p.channels);
    /* The per-channel arrays are read while the arguments are checked, so they are real whenever
     * the sizes themselves are allowed; calls with more channels than a run allows are skipped. */
    if (!too_many(n) && p.channels > 4096) {
        return;
    }
    int16_t scales[4096];
    int8_t fracs[4096];
    int32_t offsets[4096];
    int forbidden = too_many(n) || null_arg <= 3;
    for (int32_t c = 0; c < p.channels && !too_many(n); c++) {
        scales[c] = (int16_t)pick(s, -32768, 32767);
        fracs[c] = (int8_t)pick(s, -4, 12);
        offsets[c] = pick(s, -1000, 1000);
        forbidden = forbidden || product_shift_bad(p.input_frac, fracs[c], p.output_frac) ||
                    offsets[c] > (1 << 29) || offsets[c] < -(1 << 29);
    }
    p.scales = null_arg == 1 ? NULL : scales;
    p.scale_fracs = null_arg == 2 ? NULL : fracs;
    p.offsets = null_arg == 3 ? NULL : offsets;
    const int run = !forbidden && runnable(2 * n, n);
    if (!forbidden && !run) {
        record_too_large();
        return;
    }
    buffers b = {.data = s};
    int8_t *data = run ? exact(&b, n) : no_access();
    const int8_t *before = snapshot(&b, data, n, run);
    judge(name, forbidden, capsnet_channel_affine_q7(null_arg == 0 ? NULL : data, positions, &p), before, data, n);
    free_all(&b);
}

static void fuzz_instance_norm(byte_stream *s)
{
    static const char *name = "capsnet_instance_norm_q7";
    const int32_t positions = pick(s, 1, 16);
    capsnet_instance_norm_params p = {.channels = pick(s, 1, 8), .input_frac = pick_frac(s),
                                      .output_frac = pick_frac(s), .epsilon = (uint32_t)pick(s, 0, 1000)};
    const int null_arg = pick_null(s);
    const int64_t n = count2(positions, p.channels);
    /* As for the affine map: the per-channel arrays are read while the arguments are checked. */
    if (!too_many(n) && p.channels > 4096) {
        return;
    }
    int16_t gammas[4096];
    int8_t fracs[4096];
    int16_t betas[4096];
    int forbidden = too_many(n) || positions > 65536 || null_arg <= 3 || frac_bad(p.input_frac) ||
                    frac_bad(p.output_frac) || p.epsilon > (1u << 30);
    for (int32_t c = 0; c < p.channels && !too_many(n) && positions <= 65536; c++) {
        gammas[c] = (int16_t)pick(s, -32768, 32767);
        fracs[c] = (int8_t)pick(s, -2, 16);
        betas[c] = (int16_t)pick(s, -400, 400);
        forbidden = forbidden || fracs[c] < 0 || fracs[c] > CAPSNET_FRAC_MAX || p.output_frac > fracs[c] + 8;
    }
    p.gammas = null_arg == 1 ? NULL : gammas;
    p.gamma_fracs = null_arg == 2 ? NULL : fracs;
    p.betas = null_arg == 3 ? NULL : betas;
    const int run = !forbidden && runnable(2 * n, 3 * n);
    if (!forbidden && !run) {
        record_too_large();
        return;
    }
    buffers b = {.data = s};
    int8_t *data = run ? exact(&b, n) : no_access();
    const int8_t *before = snapshot(&b, data, n, run);
    judge(name, forbidden, capsnet_instance_norm_q7(null_arg == 0 ? NULL : data, positions, &p), before, data, n);
    free_all(&b);
}

static void fuzz_mat_mult(byte_stream *s) { fuzz_mat_product(s, 0); }
static void fuzz_mat_mult_trans_b(byte_stream *s) { fuzz_mat_product(s, 1); }

/** The kernels; the first input byte picks one (a new kernel goes last, so that saved inputs keep
 * their meaning). */
static const struct {
    const char *name;
    void (*run)(byte_stream *);
} targets[KERNELS] = {
    {"conv_hwc_q7", fuzz_conv},
    {"relu_q7", fuzz_relu},
    {"leaky_relu_q7", fuzz_leaky_relu},
    {"squash_q7", fuzz_squash},
    {"channel_affine_q7", fuzz_channel_affine},
    {"softmax_q7", fuzz_softmax},
    {"mat_mult_q7", fuzz_mat_mult},
    {"mat_mult_trans_b_q7", fuzz_mat_mult_trans_b},
    {"mat_add_q7", fuzz_mat_add},
    {"mat_transpose_q7", fuzz_transpose},
    {"primary_capsule_q7", fuzz_primary_capsule},
    {"capsule_layer_q7", fuzz_capsule_layer},
    {"capsule_length_q7", fuzz_capsule_length},
    {"depthwise_conv_hwc_q7", fuzz_depthwise_conv},
    {"exp_squash_q7", fuzz_exp_squash},
    {"self_attention_capsule_q7", fuzz_self_attention},
    {"instance_norm_q7", fuzz_instance_norm},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    static int started;
    if (!started) {
        started = 1;
        for (int k = 0; k < KERNELS; k++) {
            kernel_names[k] = targets[k].name;
        }
        atexit(print_outcomes);
    }
    byte_stream s = {data + 1, size - 1};
    current_kernel = data[0] % KERNELS;
    targets[current_kernel].run(&s);
    return 0;
}
