/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file capsnet_support.h
 * @brief Internal helpers shared by the kernels: rounding, saturation, argument checks.
 *
 * Not part of the public API. Fast paths (Arm DSP, Helium, RISC-V) replace the inner loops that
 * call these helpers; the helpers themselves define the arithmetic every path must reproduce.
 */
#ifndef CAPSNET_SUPPORT_H
#define CAPSNET_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include "capsnet/capsnet_types.h"

/* Right shifts of negative values are implementation-defined in C99; the kernels need the
 * arithmetic shift that every supported compiler (GCC, Clang, Arm Compiler) performs. */
typedef char capsnet_requires_arithmetic_right_shift[((-8 >> 1) == -4) ? 1 : -1];
typedef char capsnet_requires_arithmetic_right_shift_s64[((-(int64_t)8 >> 1) == -4) ? 1 : -1];

/**
 * Inlines a helper into its one caller where clang's size heuristics would not: the convolution's
 * pair loop runs a third slower when clang keeps it out of line and its geometry goes through
 * memory. gcc inlines it on its own, and forcing it there costs instructions.
 */
#if defined(__clang__)
#define CAPSNET_INLINE_HOT __attribute__((always_inline)) inline
#else
#define CAPSNET_INLINE_HOT inline
#endif

/** Keeps a function out of line where the compiler has the attribute (a no-op elsewhere). */
#if defined(__GNUC__) || defined(__clang__)
#define CAPSNET_NOINLINE __attribute__((noinline))
#else
#define CAPSNET_NOINLINE
#endif

/**
 * The phases of the routing layers, for instruction counts per phase: a firmware build with
 * -DCAPSNET_PROFILE_PHASES provides capsnet_profile_phase (CSources/firmware/harness/marks.c), and
 * each kernel calls it as it enters a phase; every other build compiles the calls away.
 */
enum {
    CAPSNET_PHASE_OTHER = 0,         /**< argument checks and set-up */
    CAPSNET_PHASE_PREDICTIONS = 1,   /**< u_hat = W u */
    CAPSNET_PHASE_AGREEMENTS = 2,    /**< agreements and the logits built from them */
    CAPSNET_PHASE_SOFTMAX = 3,       /**< the couplings, and their exponential table */
    CAPSNET_PHASE_WEIGHTED_SUMS = 4, /**< s = sum of couplings times predictions, over every core */
    CAPSNET_PHASE_SQUASH = 5         /**< v = squash(s) */
};
#if defined(CAPSNET_PROFILE_PHASES)
void capsnet_profile_phase(int32_t phase);
#define CAPSNET_PHASE(phase) capsnet_profile_phase(phase)
#else
#define CAPSNET_PHASE(phase) ((void)0)
#endif

/** 1.0 in Q30, the format of the recurrence the softmax's table of exponentials is filled by. */
#define CAPSNET_Q30_ONE ((uint32_t)1 << 30)

/** Largest magnitude of one int8 x int8 product: (-128) * (-128). */
#define CAPSNET_MAX_PRODUCT 16384

/** Clamp to the int8 range. */
static inline int8_t capsnet_saturate_q7(int32_t x)
{
    if (x > 127) {
        return 127;
    }
    if (x < -128) {
        return -128;
    }
    return (int8_t)x;
}

/**
 * floor(x / 2^shift + 1/2) for shift in [0, 31], without the overflow that adding the rounding
 * constant first could cause: floor(x / 2^shift) plus the first bit shifted out.
 */
static inline int32_t capsnet_round_shift_s32(int32_t x, int32_t shift)
{
    if (shift == 0) {
        return x;
    }
    return (x >> shift) + ((x >> (shift - 1)) & 1);
}

/** floor(x / 2^shift + 1/2) for a 64-bit x and shift in [0, 62], the same rule in 64 bits. */
static inline int64_t capsnet_round_shift_s64(int64_t x, int32_t shift)
{
    if (shift == 0) {
        return x;
    }
    return (x >> shift) + ((x >> (shift - 1)) & 1);
}

/** Whether a leaky ReLU's slope (capsnet_activation.leak) lies in [0, 2^CAPSNET_LEAK_FRAC). */
static inline int capsnet_leak_is_valid(int32_t leak)
{
    return leak >= 0 && leak < ((int32_t)1 << CAPSNET_LEAK_FRAC);
}

/**
 * capsnet_round_shift_s32(x, shift) taken apart for a loop: ((x >> pre) + add) >> post, one more
 * bit kept and then halved (floor of a floor), with no branch on the shift. Equal to it for every
 * x below INT32_MAX, which the kernels' accumulator checks guarantee.
 */
typedef struct {
    int32_t pre, add, post;
} capsnet_rounding;

static inline capsnet_rounding capsnet_rounding_of(int32_t shift)
{
    capsnet_rounding r;
    r.pre = shift > 0 ? shift - 1 : 0;
    r.add = shift > 0 ? 1 : 0;
    r.post = shift > 0 ? 1 : 0;
    return r;
}

static inline int32_t capsnet_round(int32_t x, capsnet_rounding r)
{
    return ((x >> r.pre) + r.add) >> r.post;
}

/** Clamp to the int16 range. */
static inline int16_t capsnet_saturate_q15(int32_t x)
{
    if (x > 32767) {
        return 32767;
    }
    if (x < -32768) {
        return -32768;
    }
    return (int16_t)x;
}

/** The requantization into int16 (the 16-bit routing tensors): round half up, then saturate. */
static inline int16_t capsnet_requantize_q15(int32_t acc, int32_t shift)
{
    return capsnet_saturate_q15(capsnet_round_shift_s32(acc, shift));
}

/** The requantization of a 64-bit sum into int8: round half up, then saturate. */
static inline int8_t capsnet_requantize_s64_q7(int64_t acc, int32_t shift)
{
    const int64_t x = capsnet_round_shift_s64(acc, shift);
    return capsnet_saturate_q7(x > INT32_MAX ? INT32_MAX : x < INT32_MIN ? INT32_MIN : (int32_t)x);
}

/** The library's requantization: round half up, then saturate to int8. */
static inline int8_t capsnet_requantize_q7(int32_t acc, int32_t shift)
{
    return capsnet_saturate_q7(capsnet_round_shift_s32(acc, shift));
}

/** sum_i a[i] * b[i * b_stride] in 32 bits; callers guarantee that it cannot overflow. */
static inline int32_t capsnet_dot_strided_q7(const int8_t *a, const int8_t *b, int32_t length, int32_t b_stride)
{
    int32_t acc = 0;
    for (int32_t i = 0; i < length; i++) {
        acc += (int32_t)a[i] * (int32_t)b[(ptrdiff_t)i * b_stride];
    }
    return acc;
}

static inline int capsnet_frac_is_valid(int32_t frac)
{
    return frac >= CAPSNET_FRAC_MIN && frac <= CAPSNET_FRAC_MAX;
}

/** Right shift of a product a * b requantized into out_frac; CAPSNET_ERROR_SHIFT if out of range. */
static inline capsnet_status capsnet_product_shift(int32_t a_frac, int32_t b_frac, int32_t out_frac,
                                                   int32_t *shift)
{
    if (!capsnet_frac_is_valid(a_frac) || !capsnet_frac_is_valid(b_frac) || !capsnet_frac_is_valid(out_frac)) {
        return CAPSNET_ERROR_SHIFT;
    }
    *shift = a_frac + b_frac - out_frac;
    return (*shift >= 0 && *shift <= CAPSNET_SHIFT_MAX) ? CAPSNET_OK : CAPSNET_ERROR_SHIFT;
}

/** Right shift of an aligned sum (see capsnet_mat_add_q7) into out_frac; CAPSNET_ERROR_SHIFT if negative. */
static inline capsnet_status capsnet_sum_shift(int32_t a_frac, int32_t b_frac, int32_t out_frac, int32_t *shift)
{
    if (!capsnet_frac_is_valid(a_frac) || !capsnet_frac_is_valid(b_frac) || !capsnet_frac_is_valid(out_frac)) {
        return CAPSNET_ERROR_SHIFT;
    }
    *shift = (a_frac > b_frac ? a_frac : b_frac) - out_frac;
    return *shift >= 0 ? CAPSNET_OK : CAPSNET_ERROR_SHIFT;
}

/** Formats capsnet_squash_q7 accepts: any input format, an output format of at least 0 bits. */
static inline int capsnet_squash_formats_are_valid(int32_t input_frac, int32_t output_frac)
{
    return capsnet_frac_is_valid(input_frac) && capsnet_frac_is_valid(output_frac) && output_frac >= 0;
}

/** Whether `terms` products plus a bias of up to 2^7 << bias_shift always fit an int32 accumulator. */
static inline int capsnet_accumulator_fits(int32_t terms, int32_t bias_shift)
{
    const uint64_t worst = (uint64_t)terms * CAPSNET_MAX_PRODUCT + ((uint64_t)128 << bias_shift);
    return worst <= (uint64_t)INT32_MAX;
}

/** a * b, or -1 if either is below 1 or the product exceeds INT32_MAX: an element count. */
static inline int32_t capsnet_count2(int32_t a, int32_t b)
{
    if (a < 1 || b < 1) {
        return -1;
    }
    const int64_t n = (int64_t)a * b;
    return n <= INT32_MAX ? (int32_t)n : -1;
}

/** a * b * c as an element count, or -1 (see capsnet_count2). */
static inline int32_t capsnet_count3(int32_t a, int32_t b, int32_t c)
{
    const int32_t ab = capsnet_count2(a, b);
    return ab < 0 ? -1 : capsnet_count2(ab, c);
}

/** Returns from the calling function with the status of `call` unless it is CAPSNET_OK. */
#define CAPSNET_RETURN_IF_ERROR(call)                                                                  \
    do {                                                                                               \
        const capsnet_status status_ = (call);                                                         \
        if (status_ != CAPSNET_OK) {                                                                   \
            return status_;                                                                            \
        }                                                                                              \
    } while (0)

/** The checks of both matrix products, A[m][k] times B (k x n or n x k): the status and the shift. */
static inline capsnet_status capsnet_check_mat_product(const int8_t *a, const int8_t *b, int32_t m, int32_t k,
                                                       int32_t n, const capsnet_mat_formats *formats,
                                                       const int8_t *out, int32_t *shift)
{
    if (a == NULL || b == NULL || formats == NULL || out == NULL) {
        return CAPSNET_ERROR_NULL_POINTER;
    }
    if (capsnet_count2(m, k) < 0 || capsnet_count2(k, n) < 0 || capsnet_count2(m, n) < 0) {
        return CAPSNET_ERROR_DIMENSION;
    }
    CAPSNET_RETURN_IF_ERROR(capsnet_product_shift(formats->a_frac, formats->b_frac, formats->out_frac, shift));
    return capsnet_accumulator_fits(k, 0) ? CAPSNET_OK : CAPSNET_ERROR_OVERFLOW;
}

/** One spatial axis of a convolution: every size in range (CAPSNET_DIM_MAX) and the padding below
 * the kernel, and every window starting inside the input, since padding beyond that would only add
 * zero windows. Positions plus a window, or minus a padding, then stay inside int32_t. */
static inline capsnet_status capsnet_check_conv_axis(int32_t in, int32_t kernel, int32_t stride, int32_t padding,
                                                     int32_t out)
{
    if (in < 1 || kernel < 1 || stride < 1 || out < 1 || padding < 0 || padding >= kernel ||
        in > CAPSNET_DIM_MAX || kernel > CAPSNET_DIM_MAX || stride > CAPSNET_DIM_MAX || out > CAPSNET_DIM_MAX) {
        return CAPSNET_ERROR_DIMENSION;
    }
    const int64_t last_start = (int64_t)(out - 1) * stride - padding;
    return last_start <= in - 1 ? CAPSNET_OK : CAPSNET_ERROR_DIMENSION;
}

/** The checks on a convolution's clamp and formats that the convolution kernels share: the
 * requantization shift, and the bias's left shift when there is a bias (it is "a product" stored
 * in bias_frac: the same shift, applied to the left). The leak is left to the caller. */
static inline capsnet_status capsnet_check_conv_formats(const capsnet_conv_params *params, int has_bias,
                                                        int32_t *shift, int32_t *bias_shift)
{
    if (params->activation.min < CAPSNET_Q7_MIN || params->activation.min >= params->activation.max ||
        params->activation.max > CAPSNET_Q7_MAX) {
        return CAPSNET_ERROR_ARGUMENT;
    }
    CAPSNET_RETURN_IF_ERROR(capsnet_product_shift(params->input_frac, params->weight_frac, params->output_frac, shift));
    *bias_shift = 0;
    if (has_bias) {
        CAPSNET_RETURN_IF_ERROR(
            capsnet_product_shift(params->input_frac, params->weight_frac, params->bias_frac, bias_shift));
    }
    return CAPSNET_OK;
}

/** How much finer filter `filter`'s weights are than the layer's weight_frac (0 without per-filter
 * formats): its requantization and bias shifts are the layer's plus this. */
static inline int32_t capsnet_filter_frac_delta(const capsnet_conv_params *params, int32_t filter)
{
    return params->weight_fracs != NULL ? params->weight_fracs[filter] - params->weight_frac : 0;
}

/** With per-filter formats (params->weight_fracs), the checks of capsnet_check_conv_formats on each
 * of the `filters` filters' shifts; the largest requantization and bias shifts are added to *max_shift
 * and *max_bias_shift, which start at the layer's (the accumulator checks need the largest). */
static inline capsnet_status capsnet_check_filter_formats(const capsnet_conv_params *params, int has_bias,
                                                          int32_t filters, int32_t *max_shift,
                                                          int32_t *max_bias_shift)
{
    for (int32_t c = 0; params->weight_fracs != NULL && c < filters; c++) {
        int32_t shift;
        CAPSNET_RETURN_IF_ERROR(
            capsnet_product_shift(params->input_frac, params->weight_fracs[c], params->output_frac, &shift));
        *max_shift = shift > *max_shift ? shift : *max_shift;
        if (has_bias) {
            CAPSNET_RETURN_IF_ERROR(
                capsnet_product_shift(params->input_frac, params->weight_fracs[c], params->bias_frac, &shift));
            *max_bias_shift = shift > *max_bias_shift ? shift : *max_bias_shift;
        }
    }
    return CAPSNET_OK;
}

/** Whether a split names a valid core of at most CAPSNET_CORES_MAX. */
static inline int capsnet_split_is_valid(const capsnet_core_split *split)
{
    return split->num_cores >= 1 && split->num_cores <= CAPSNET_CORES_MAX && split->core_id >= 0 &&
           split->core_id < split->num_cores;
}

/** The split checks of the kernels that synchronise inside: a barrier for several cores, a valid split. */
static inline capsnet_status capsnet_check_barrier_split(const capsnet_core_split *split)
{
    if (split->num_cores > 1 && split->barrier == NULL) {
        return CAPSNET_ERROR_NULL_POINTER;
    }
    return capsnet_split_is_valid(split) ? CAPSNET_OK : CAPSNET_ERROR_DIMENSION;
}

/** The contiguous share [*begin, *end) of `count` items that split->core_id computes: chunks of
 * ceil(count / num_cores), so the last cores may get fewer or none. */
static inline void capsnet_split_range(int32_t count, const capsnet_core_split *split, int32_t *begin,
                                       int32_t *end)
{
    const int32_t chunk = (int32_t)(((int64_t)count + split->num_cores - 1) / split->num_cores);
    const int64_t first = (int64_t)chunk * split->core_id;
    *begin = first < count ? (int32_t)first : count;
    *end = first + chunk < count ? (int32_t)(first + chunk) : count;
}

/** out[k] = saturate(floor((in[k] * m + 2^15) / 2^16)) for one capsule of `dim` values: both squashes
 * scale a capsule by one multiplier with 16 fractional bits, m < 2^32. `out` may be `in`. */
static inline void capsnet_scale_capsule_q7(const int8_t *in, int32_t dim, int64_t m, int8_t *out)
{
    for (int32_t k = 0; k < dim; k++) {
        /* Rounding to 16 fractional bits leaves |value| < 2^23: the narrowing cannot wrap. */
        const int32_t rounded = (int32_t)(((int64_t)in[k] * m + ((int64_t)1 << 15)) >> 16);
        out[k] = capsnet_saturate_q7(rounded);
    }
}

/** A squash's multiplier for one capsule: m with 16 fractional bits, from its sum of squares. */
typedef int64_t (*capsnet_squash_multiplier)(uint32_t sum_sq, int32_t input_frac, int32_t output_frac);

/** The checks and the capsule loop both squashes share; `multiplier` is their one difference.
 * Inlined into each squash, so that the multiplier is a direct call. */
static inline capsnet_status capsnet_squash_capsules(const int8_t *input, int32_t num_capsules, int32_t capsule_dim,
                                                     int32_t input_frac, int32_t output_frac, int8_t *output,
                                                     capsnet_squash_multiplier multiplier)
{
    if (input == NULL || output == NULL) {
        return CAPSNET_ERROR_NULL_POINTER;
    }
    if (capsnet_count2(num_capsules, capsule_dim) < 0) {
        return CAPSNET_ERROR_DIMENSION;
    }
    if (!capsnet_squash_formats_are_valid(input_frac, output_frac)) {
        return CAPSNET_ERROR_SHIFT;
    }
    if (!capsnet_accumulator_fits(capsule_dim, 0)) {
        return CAPSNET_ERROR_OVERFLOW;
    }
    for (int32_t n = 0; n < num_capsules; n++) {
        const int8_t *in = input + (ptrdiff_t)n * capsule_dim;
        const int32_t sum_sq = capsnet_dot_strided_q7(in, in, capsule_dim, 1);
        capsnet_scale_capsule_q7(in, capsule_dim, multiplier((uint32_t)sum_sq, input_frac, output_frac),
                                 output + (ptrdiff_t)n * capsule_dim);
    }
    return CAPSNET_OK;
}

/** The signature of the split convolutions (capsnet_conv_hwc_q7_split, capsnet_depthwise_conv_hwc_q7_split). */
typedef capsnet_status (*capsnet_conv_split_kernel)(const capsnet_context *ctx, const capsnet_conv_params *params,
                                                    const capsnet_hwc *input_dims, const int8_t *input,
                                                    const int8_t *weights, const int8_t *bias,
                                                    const capsnet_hwc *output_dims, int8_t *output,
                                                    const capsnet_core_split *split);

/** The signature of the squashes (capsnet_squash_q7, capsnet_exp_squash_q7). */
typedef capsnet_status (*capsnet_squash_kernel)(const int8_t *input, int32_t num_capsules, int32_t capsule_dim,
                                                int32_t input_frac, int32_t output_frac, int8_t *output);

/**
 * A primary capsule layer on split->core_id's share of the output rows: `convolve`, then `squash`
 * of each group of capsule_dim channels in those rows (a capsule never spans two rows). Checks
 * the capsule arguments, then leaves the rest to the convolution, before anything is written.
 */
capsnet_status capsnet_primary_capsule_rows_q7(capsnet_conv_split_kernel convolve, capsnet_squash_kernel squash,
                                               const capsnet_context *ctx,
                                               const capsnet_primary_capsule_params *params,
                                               const capsnet_hwc *input_dims, const int8_t *input,
                                               const int8_t *weights, const int8_t *bias,
                                               const capsnet_hwc *output_dims, int8_t *output,
                                               const capsnet_core_split *split);

/** floor(sqrt(x)) for any 64-bit x. */
uint32_t capsnet_isqrt_u64(uint64_t x);

/** Entries of a softmax exponential table: logit differences are int8 differences, 0 to 255. */
#define CAPSNET_EXP_TABLE_LEN 256

/**
 * Fills the table exp_q15[d] = exp(-d * 2^-logit_frac) in Q15 for d < CAPSNET_EXP_TABLE_LEN: each
 * entry derived in Q30 from the one before with one rounding, then rounded to Q15.
 */
void capsnet_exp_table_fill(uint32_t *exp_q15, int32_t logit_frac);

/**
 * Softmax of one row of `length` logits (1 to CAPSNET_SOFTMAX_ROW_MAX) into Q0.7, as capsnet_softmax_q7 defines it,
 * with the table of capsnet_exp_table_fill. The row's values are `stride` apart, in `logits` and in
 * `output` alike (the capsule layer softmaxes columns). `output` may alias `logits`.
 */
void capsnet_softmax_row_q7(const uint32_t *exp_q15, const int8_t *logits, ptrdiff_t stride, int32_t length,
                            int8_t *output);

/**
 * A coupling: round(128 * e / sum) in Q0.7 from a Q15 exponential and its row's sum, capped at 127
 * (1.0). The sum holds e, so the quotient is at most 128 and q - q / 128 is the cap. Every softmax
 * path computes its couplings with this rule.
 */
static inline int8_t capsnet_coupling_q7(uint32_t e, uint32_t sum)
{
    const uint32_t q = (e * 256u + sum) / (2u * sum);
    return (int8_t)(q - (q >> 7));
}

/** capsnet_coupling_q7 from its numerator e * 256 + sum, for paths that form it as a vector. */
static inline int8_t capsnet_coupling_of_numerator_q7(uint32_t numerator, uint32_t sum)
{
    const uint32_t q = numerator / (2u * sum);
    return (int8_t)(q - (q >> 7));
}

/** Every value of the softmax of `length` equal logits, as capsnet_softmax_row_q7 computes it. */
int8_t capsnet_softmax_uniform_q7(int32_t length);

/**
 * A coupling in Q0.15: round(32768 * e / sum) capped at 32767 (1.0), the rule of capsnet_coupling_q7
 * with eight more bits. e <= 2^15 and sum < 2^31, so e * 2^16 + sum and 2 * sum stay under 2^32.
 */
static inline int16_t capsnet_coupling_q15(uint32_t e, uint32_t sum)
{
    const uint32_t q = (e * 65536u + sum) / (2u * sum);
    return (int16_t)(q - (q >> 15));
}

/** capsnet_softmax_row_q7 into Q0.15 (capsnet_coupling_q15): the logits int8, the couplings int16,
 * both `stride` values apart. */
void capsnet_softmax_row_q15(const uint32_t *exp_q15, const int8_t *logits, ptrdiff_t stride, int32_t length,
                             int16_t *output);

/** Every value of the softmax of `length` equal logits in Q0.15, as capsnet_softmax_row_q15 computes it. */
int16_t capsnet_softmax_uniform_q15(int32_t length);

/** `bytes` rounded up to a multiple of 4, for 32-bit arrays inside a byte buffer. */
static inline int64_t capsnet_align4(int64_t bytes)
{
    return (bytes + 3) / 4 * 4;
}

/** The first 4-byte aligned address at or after `buf` (at most 3 bytes on): scratch buffers need
 * no alignment from their caller. */
static inline void *capsnet_align4_pointer(void *buf)
{
    const uintptr_t misalignment = (uintptr_t)buf % 4u;
    return (uint8_t *)buf + (misalignment == 0 ? 0 : 4u - misalignment);
}

/** Bytes that separate the cores' shares of a shared scratch: a common cache-line size. Cores with
 * data caches would otherwise write the same line for every item they compute (false sharing). */
#define CAPSNET_CORE_LINE 64

/** A core's share of `bytes`, rounded up to whole lines when several cores share the buffer. */
static inline int64_t capsnet_core_stride(int64_t bytes, int32_t num_cores)
{
    return num_cores > 1 ? (bytes + CAPSNET_CORE_LINE - 1) / CAPSNET_CORE_LINE * CAPSNET_CORE_LINE : bytes;
}

/** Bytes a shared scratch may lose to aligning the caller's buffer: 3, or a line less one for several cores. */
static inline int64_t capsnet_scratch_slack(int32_t num_cores)
{
    return num_cores > 1 ? CAPSNET_CORE_LINE - 1 : 3;
}

/** The aligned start of a shared scratch: 4 bytes for one core, a line for several. */
static inline uint8_t *capsnet_scratch_base(void *buf, int32_t num_cores)
{
    if (num_cores == 1) {
        return (uint8_t *)capsnet_align4_pointer(buf);
    }
    const uintptr_t misalignment = (uintptr_t)buf % CAPSNET_CORE_LINE;
    return (uint8_t *)buf + (misalignment == 0 ? 0 : CAPSNET_CORE_LINE - misalignment);
}

/** The split's barrier, when there is more than one core. */
static inline void capsnet_wait_for_cores(const capsnet_core_split *split)
{
    if (split->num_cores > 1) {
        split->barrier(split->barrier_arg);
    }
}

#endif /* CAPSNET_SUPPORT_H */
