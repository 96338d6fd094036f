/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file capsnet_conv_hwc_q7_split.c
 * @brief 2-D convolution, HWC int8. Windows whose columns lie inside the input go two at a time,
 * and filters in pairs, through the dot products of capsnet_simd.h; on the cores with packed int8
 * SIMD (Arm DSP, CORE-V) the two windows are first gathered into the scratch buffer (im2col).
 * Windows that reach into the left or right padding go one at a time. The activation's clamp is
 * part of each output value's requantization, on the core that computes it.
 */
#include "capsnet/capsnet.h"
#include "../capsnet_simd.h"
#include "../capsnet_support.h"

static int32_t min_s32(int32_t a, int32_t b)
{
    return a < b ? a : b;
}

/* What the per-window helpers need of a call. */
typedef struct {
    const int8_t *input;
    int32_t in_h, in_w, in_c, k_h, k_w, window;
    const int8_t *weights;
    const int8_t *bias;
    int32_t bias_shift, shift;
    capsnet_rounding rounding;
    int32_t activation_min, activation_max;
    /* The pair loops' rounding constant, 2^(shift - 1), which their sums start at (see
     * pairs_have_headroom), and the window's whole groups of four values. */
    int32_t half, groups;
    /* Per-filter formats (NULL: none), and the layer's, which shift, bias_shift and half are of. */
    const int8_t *weight_fracs;
    int32_t weight_frac;
} capsnet_conv_geometry;

/* How much finer filter oc's weights are than the layer's: its shifts are the layer's plus this. */
static inline int32_t filter_delta(const capsnet_conv_geometry *g, int32_t oc)
{
    return g->weight_fracs != NULL ? g->weight_fracs[oc] - g->weight_frac : 0;
}

/* A rounded value saturated straight to the activation's clamp, which lies inside the int8 range,
 * so that the clamp costs no more than the plain saturation. */
static inline int8_t clamp_to(int32_t value, int32_t min, int32_t max)
{
    value = value > max ? max : value;
    return (int8_t)(value < min ? min : value);
}

static int8_t clamp(const capsnet_conv_geometry *g, int32_t value)
{
    return clamp_to(value, g->activation_min, g->activation_max);
}

/* Filter oc's output value of an accumulator without a leak: the pair loops' rule (the accumulator
 * check keeps every sum below INT32_MAX, as capsnet_round needs). */
static int8_t activate(const capsnet_conv_geometry *g, int32_t acc, int32_t oc)
{
    const int32_t delta = filter_delta(g, oc);
    return clamp(g, capsnet_round(acc, delta == 0 ? g->rounding : capsnet_rounding_of(g->shift + delta)));
}

/* The output value of an accumulator with a leak too: a negative one is scaled by it inside the
 * rounding, in 64 bits (|acc| * leak < 2^46). */
static int8_t activate_leaky(const capsnet_conv_geometry *g, int32_t acc, int32_t leak, int32_t oc)
{
    if (acc >= 0 || leak == 0) {
        return activate(g, acc, oc);
    }
    return clamp(g, (int32_t)capsnet_round_shift_s64((int64_t)acc * leak,
                                                     g->shift + filter_delta(g, oc) + CAPSNET_LEAK_FRAC));
}

static int32_t bias_term(const capsnet_conv_geometry *g, int32_t oc)
{
    return g->bias != NULL ? (int32_t)g->bias[oc] * ((int32_t)1 << (g->bias_shift + filter_delta(g, oc))) : 0;
}

/* One output position, any window (rows and columns outside the input count as zeros). */
static void convolve_one(const capsnet_conv_geometry *g, int32_t y0, int32_t x0, int32_t out_c, int8_t *out,
                         int32_t leak)
{
    /* Rows and columns of the window that fall inside the input; the others contribute zero. */
    const int32_t ky_begin = y0 < 0 ? -y0 : 0;
    const int32_t ky_end = min_s32(g->k_h, g->in_h - y0);
    const int32_t kx_begin = x0 < 0 ? -x0 : 0;
    const int32_t kx_end = min_s32(g->k_w, g->in_w - x0);
    /* Consecutive kx touch consecutive input pixels, so a window row is one dot product. */
    const int32_t row_len = (kx_end - kx_begin) * g->in_c;
    /* Two filters at a time share the input row's loads. */
    for (int32_t oc = 0; oc < out_c; oc += 2) {
        const int32_t pair = oc + 1 < out_c;
        const int8_t *filter0 = g->weights + (ptrdiff_t)oc * g->window;
        const int8_t *filter1 = pair ? filter0 + g->window : filter0;
        int32_t acc0 = bias_term(g, oc);
        int32_t acc1 = pair ? bias_term(g, oc + 1) : 0;
        for (int32_t ky = ky_begin; ky < ky_end; ky++) {
            const int8_t *in_row = g->input + ((ptrdiff_t)(y0 + ky) * g->in_w + (x0 + kx_begin)) * g->in_c;
            const ptrdiff_t w_offset = ((ptrdiff_t)ky * g->k_w + kx_begin) * g->in_c;
            if (pair) {
                capsnet_dot2_q7(in_row, filter0 + w_offset, filter1 + w_offset, row_len, &acc0, &acc1);
            } else {
                acc0 += capsnet_dot1_q7(in_row, filter0 + w_offset, row_len);
            }
        }
        out[oc] = activate_leaky(g, acc0, leak, oc);
        if (pair) {
            out[oc + 1] = activate_leaky(g, acc1, leak, oc + 1);
        }
    }
}

/*
 * Scratch per core, used on the im2col path: convolve_pair's two windows, each group of four values
 * prepared (8 bytes, capsnet_q7x4), the windows interleaved group by group and a last partial group
 * zero-padded; then each window's last window % 4 values as int8; then, when a window row is not a
 * whole number of groups (one input channel), one window's values as int8 to stage them (and 3
 * bytes for the padding); plus up to 3 bytes to align the caller's buffer. The size is the same on
 * every core, so that one arena serves every target; the other paths leave it untouched.
 *
 * Scratch beyond that, when the caller gives more (a share of ctx->size per core), holds a filter
 * bank: as many filters as fit, prepared once per call the way the windows are, so that the pair
 * loop unpacks nothing (on the Arm DSP path, twelve instructions per sixteen products instead of
 * sixteen). When not every filter fits, the filters go in blocks and each block gathers the windows
 * again; a block of fewer than CONV_BANK_MIN_FILTERS filters would not repay that gathering (about
 * two instructions per window value, against a quarter of an instruction saved per value and
 * filter), and then no bank is made.
 */
enum {
    /* Windows gathered at once: convolve_pair's two. */
    CONV_GATHERED_WINDOWS = 2,
    /* A prepared group of four values (capsnet_q7x4). */
    CONV_PREPARED_GROUP_BYTES = 8,
    /* A window's last window % 4 values, as int8. */
    CONV_TAIL_BYTES = 4,
    /* What aligning the caller's buffer to 4 bytes may skip. */
    CONV_ALIGNMENT_SLACK = 3,
    /* The smallest block of filters worth a bank when not all of them fit. */
    CONV_BANK_MIN_FILTERS = 8
};

/* Groups of four values in a window, the last one possibly partial. */
static int32_t padded_groups(int32_t window)
{
    return (window + 3) / 4;
}

static int64_t scratch_bytes(int32_t window, int32_t row_len)
{
    return CONV_GATHERED_WINDOWS * (int64_t)padded_groups(window) * CONV_PREPARED_GROUP_BYTES +
           CONV_GATHERED_WINDOWS * CONV_TAIL_BYTES + (row_len % 4 != 0 ? window + 3 : 0) + CONV_ALIGNMENT_SLACK;
}

#if defined(CAPSNET_CONV_IM2COL)
/* A prepared group (capsnet_q7x4) is two 32-bit words on both packed-SIMD paths, as the scratch size assumes. */
typedef char capsnet_prepared_group_fits[sizeof(capsnet_q7x4) == CONV_PREPARED_GROUP_BYTES ? 1 : -1];

/* count groups of four int8 values from src into every other group of dst, two per pass (the
 * loop's own instructions once per two groups). */
static inline void prepare_groups(const int8_t *src, int32_t count, capsnet_q7x4 *dst)
{
    const int8_t *const pairs_end = src + 8 * (count / 2);
    for (; src != pairs_end; src += 8, dst += 4) {
        dst[0] = capsnet_prepare_q7x4(src);
        dst[2] = capsnet_prepare_q7x4(src + 4);
    }
    if (count % 2 != 0) {
        dst[0] = capsnet_prepare_q7x4(src);
    }
}

/* The window at (y0, x0), whose columns all lie inside the input, into groups[0], groups[2], ...
 * (a partial last group zero-padded) and its last window % 4 values into tail; rows outside the
 * input are zeros. `staging` holds a window's int8 values when its rows are not whole groups. */
static void gather_window(const capsnet_conv_geometry *g, int32_t y0, int32_t x0, capsnet_q7x4 *groups, int8_t *tail,
                          int8_t *staging)
{
    /* Locals: the stores below could alias g for all the compiler knows. */
    const int32_t row_len = g->k_w * g->in_c, k_h = g->k_h, in_h = g->in_h, window = g->window;
    const ptrdiff_t row_step = (ptrdiff_t)g->in_w * g->in_c;
    const int8_t *row = g->input + ((ptrdiff_t)y0 * g->in_w + x0) * g->in_c;
    if (row_len % 4 == 0) {
        /* Every group lies in one row: prepared from the input where it is. */
        const int8_t zeros[4] = {0, 0, 0, 0};
        for (int32_t y = y0; y < y0 + k_h; y++, row += row_step, groups += 2 * (ptrdiff_t)(row_len / 4)) {
            if (y < 0 || y >= in_h) {
                for (int32_t k = 0; k < row_len / 4; k++) {
                    groups[2 * k] = capsnet_prepare_q7x4(zeros);
                }
            } else {
                prepare_groups(row, row_len / 4, groups);
            }
        }
        return;
    }
    /* Groups that span two rows (a first convolution's one input channel): the window's rows are
     * copied one after another into the staging bytes, then prepared from there. */
    int8_t *raw = staging;
    if (y0 >= 0 && y0 + k_h <= in_h && row_len >= 4) {
        /* Every row inside the input and at least a word long (the common case, checked once): whole
         * words, the last one overlapping its predecessor rather than a loop over the rest. */
        for (int32_t ky = 0; ky < k_h; ky++, raw += row_len, row += row_step) {
            __builtin_memcpy(raw, row, 4);
            for (int32_t i = 4; i + 4 < row_len; i += 4) {
                __builtin_memcpy(raw + i, row + i, 4);
            }
            __builtin_memcpy(raw + row_len - 4, row + row_len - 4, 4);
        }
    } else {
        for (int32_t y = y0; y < y0 + k_h; y++, raw += row_len, row += row_step) {
            const int inside = y >= 0 && y < in_h;
            for (int32_t i = 0; i < row_len; i++) {
                raw[i] = inside ? row[i] : 0;
            }
        }
    }
    raw[0] = raw[1] = raw[2] = 0;
    prepare_groups(staging, padded_groups(window), groups);
    for (int32_t t = 0; t < window % 4; t++) {
        tail[t] = staging[(window & ~3) + t];
    }
}

/* Both windows of convolve_pair into the scratch. */
static void gather_pair(const capsnet_conv_geometry *g, int32_t y0, int32_t x0, int32_t x1, void *scratch)
{
    capsnet_q7x4 *windows = (capsnet_q7x4 *)scratch;
    int8_t *tails = (int8_t *)(windows + 2 * (ptrdiff_t)padded_groups(g->window));
    int8_t *staging = tails + CONV_GATHERED_WINDOWS * CONV_TAIL_BYTES;
    gather_window(g, y0, x0, windows, tails, staging);
    gather_window(g, y0, x1, windows + 1, tails + 4, staging);
}

/* acc[2*r + c] += window r of the gathered pair against filter c, from the filter bank when there
 * is one (its pair of filters at `bank`, the partial last group's padding zeros on both sides), or
 * from the weights, the partial last group one value at a time. */
static inline __attribute__((always_inline)) void dot_pair(const capsnet_conv_geometry *g, int32_t y0, int32_t x0, int32_t x1, const int8_t *filter0,
                     const int8_t *filter1, const void *scratch, const void *bank, int32_t acc[4])
{
    (void)y0;
    (void)x0;
    (void)x1;
    const capsnet_q7x4 *windows = (const capsnet_q7x4 *)scratch;
    if (bank != NULL) {
        capsnet_dot2x2_banked_q7(windows, (const capsnet_q7x4 *)bank, padded_groups(g->window), acc);
        return;
    }
    const int32_t groups = g->groups;
    const int32_t grouped = 4 * groups;
    const int8_t *tail0 = (const int8_t *)(windows + 2 * (ptrdiff_t)padded_groups(g->window));
    const int8_t *tail1 = tail0 + 4;
    capsnet_dot2x2_prepared_q7(windows, filter0, filter1, groups, acc);
    for (int32_t t = 0; t < g->window - grouped; t++) {
        acc[0] += (int32_t)tail0[t] * (int32_t)filter0[grouped + t];
        acc[1] += (int32_t)tail0[t] * (int32_t)filter1[grouped + t];
        acc[2] += (int32_t)tail1[t] * (int32_t)filter0[grouped + t];
        acc[3] += (int32_t)tail1[t] * (int32_t)filter1[grouped + t];
    }
}

/* Filters [begin, end) prepared into `bank`, pair by pair (capsnet_dot2x2_banked_q7's layout), a
 * partial last group and a missing second filter of the last pair as zeros. */
static void fill_bank(const capsnet_conv_geometry *g, int32_t begin, int32_t end, capsnet_q7x4 *bank)
{
    const int32_t window = g->window, whole = window / 4, groups = padded_groups(window);
    for (int32_t oc = begin; oc < end; oc += 2, bank += 2 * (ptrdiff_t)groups) {
        for (int32_t k = 0; k < 2; k++) {
            const int8_t *filter = g->weights + (ptrdiff_t)(oc + k) * window;
            if (oc + k == end) {
                const int8_t zeros[4] = {0, 0, 0, 0};
                for (int32_t q = 0; q < groups; q++) {
                    bank[2 * q + k] = capsnet_prepare_q7x4(zeros);
                }
                continue;
            }
            prepare_groups(filter, whole, bank + k);
            if (whole < groups) {
                int8_t last[4] = {0, 0, 0, 0};
                for (int32_t v = 0; v < window % 4; v++) {
                    last[v] = filter[4 * whole + v];
                }
                bank[2 * whole + k] = capsnet_prepare_q7x4(last);
            }
        }
    }
}

/* Filters per block of the bank in `bytes` of spare scratch: all of them, a block of at least
 * CONV_BANK_MIN_FILTERS (even, so that blocks hold whole pairs), or 0 for no bank. */
static int32_t bank_block(int64_t bytes, int32_t window, int32_t out_c)
{
    const int64_t pair_bytes = 2 * (int64_t)padded_groups(window) * CONV_PREPARED_GROUP_BYTES;
    const int64_t filters = bytes > 0 ? 2 * (bytes / pair_bytes) : 0;
    if (filters >= out_c) {
        return out_c;
    }
    return filters >= CONV_BANK_MIN_FILTERS ? (int32_t)filters : 0;
}
#else
/* These paths read the windows where they are. */
static void gather_pair(const capsnet_conv_geometry *g, int32_t y0, int32_t x0, int32_t x1, void *scratch)
{
    (void)g;
    (void)y0;
    (void)x0;
    (void)x1;
    (void)scratch;
}

/* acc[2*r + c] += the window at (y0, xr) against filter c, row by row (capsnet_dot2x2_q7). */
static inline __attribute__((always_inline)) void dot_pair(const capsnet_conv_geometry *g, int32_t y0, int32_t x0, int32_t x1, const int8_t *filter0,
                     const int8_t *filter1, const void *scratch, const void *bank, int32_t acc[4])
{
    (void)scratch;
    (void)bank;
    const int32_t ky_begin = y0 < 0 ? -y0 : 0;
    const int32_t ky_end = min_s32(g->k_h, g->in_h - y0);
    const int32_t row_len = g->k_w * g->in_c;
    for (int32_t ky = ky_begin; ky < ky_end; ky++) {
        const ptrdiff_t row = (ptrdiff_t)(y0 + ky) * g->in_w;
        const ptrdiff_t w_offset = (ptrdiff_t)ky * row_len;
        capsnet_dot2x2_q7(g->input + (row + x0) * g->in_c, g->input + (row + x1) * g->in_c, filter0 + w_offset,
                          filter1 + w_offset, row_len, acc);
    }
}
#endif

/* A pair loop's output value: its sum started at the rounding constant, so that the requantization
 * is one shift and one saturation (SSAT on the Arm DSP path), then the activation's clamp where it
 * is narrower than int8 (`clamped`, a constant where convolve_rows is inlined). */
static inline int8_t pair_output(int32_t acc, int32_t shift, int32_t min, int32_t max, int clamped)
{
    const int32_t value = capsnet_sat_q7(acc >> shift);
    return clamped ? clamp_to(value, min, max) : (int8_t)value;
}

/* The filters one pass over the rows computes: [begin, end), from `bank` (NULL: from the weights). */
typedef struct {
    int32_t begin, end;
    const void *bank;
} filter_block;

/* Two output positions of one output row whose windows' columns all lie inside the input: two
 * windows against two filters at a time, so that every load serves two products. What it needs of
 * g is read into locals first: its output stores are int8_t, which may alias anything, and would
 * otherwise make the compiler read g again after each of them. `per_filter` (a constant where it
 * is inlined) says whether each filter has a format of its own. */
static CAPSNET_INLINE_HOT __attribute__((always_inline)) void convolve_pair(const capsnet_conv_geometry *g, int32_t y0, int32_t x0, int32_t x1,
                                             filter_block filters, int8_t *out0, int8_t *out1, void *scratch, int clamped,
                                             int per_filter)
{
    gather_pair(g, y0, x0, x1, scratch);
    const int32_t window = g->window, bias_shift = g->bias_shift, half = g->half;
    const int32_t shift = g->shift > 0 ? g->shift : 0;
    const int8_t *const weights = g->weights, *const bias = g->bias, *const fracs = g->weight_fracs;
    const int32_t min = g->activation_min, max = g->activation_max, weight_frac = g->weight_frac;
    /* A pair of filters in the bank: two windows' worth of prepared groups. */
    const ptrdiff_t bank_pair = 2 * (ptrdiff_t)padded_groups(window) * CONV_PREPARED_GROUP_BYTES;
    const uint8_t *bank = (const uint8_t *)filters.bank;
    for (int32_t oc = filters.begin; oc < filters.end; oc += 2) {
        const int32_t pair = oc + 1 < filters.end;
        const int8_t *filter0 = weights + (ptrdiff_t)oc * window;
        const int8_t *filter1 = pair ? filter0 + window : filter0;
        int32_t acc[4];
        int32_t shift0 = shift, shift1 = shift;
        if (per_filter) {
            /* Each filter's shifts are its own format's (never negative: checked), worked out after
             * the products, whose loop then keeps no more registers than without them; the rounding
             * constant and the bias join the finished sums (integer sums: the same values). */
            acc[0] = acc[1] = acc[2] = acc[3] = 0;
            dot_pair(g, y0, x0, x1, filter0, filter1, scratch, bank, acc);
            const int32_t delta0 = fracs[oc] - weight_frac;
            const int32_t delta1 = pair ? fracs[oc + 1] - weight_frac : delta0;
            shift0 += delta0;
            shift1 += delta1;
            /* 2^(shift - 1), or 0 for a shift of 0, without a branch. */
            const int32_t start0 = (int32_t)((1u << shift0) >> 1) +
                                   (bias != NULL ? (int32_t)bias[oc] * ((int32_t)1 << (bias_shift + delta0)) : 0);
            const int32_t start1 =
                (int32_t)((1u << shift1) >> 1) +
                (bias != NULL && pair ? (int32_t)bias[oc + 1] * ((int32_t)1 << (bias_shift + delta1)) : 0);
            acc[0] += start0;
            acc[2] += start0;
            acc[1] += start1;
            acc[3] += start1;
        } else {
            acc[0] = acc[2] = half + (bias != NULL ? (int32_t)bias[oc] * ((int32_t)1 << bias_shift) : 0);
            acc[1] = acc[3] = half + (bias != NULL && pair ? (int32_t)bias[oc + 1] * ((int32_t)1 << bias_shift) : 0);
            dot_pair(g, y0, x0, x1, filter0, filter1, scratch, bank, acc);
        }
        if (bank != NULL) {
            bank += bank_pair;
        }
        out0[oc] = pair_output(acc[0], shift0, min, max, clamped);
        out1[oc] = pair_output(acc[2], shift0, min, max, clamped);
        if (pair) {
            out0[oc + 1] = pair_output(acc[1], shift1, min, max, clamped);
            out1[oc + 1] = pair_output(acc[3], shift1, min, max, clamped);
        }
    }
}

/* Rows [row_begin, row_end) without a leak, for one block of filters: windows that reach into the
 * left or right padding one at a time, every filter at once (in the first block only), the others
 * two at a time. */
static CAPSNET_INLINE_HOT __attribute__((always_inline)) void convolve_rows(const capsnet_conv_geometry *g, const capsnet_conv_params *params,
                                             int32_t out_w, int32_t out_c, int8_t *output, int32_t row_begin,
                                             int32_t row_end, void *scratch, filter_block filters, int clamped,
                                             int per_filter)
{
    const int edges = filters.begin == 0;
    for (int32_t oy = row_begin; oy < row_end; oy++) {
        const int32_t y0 = oy * params->stride.h - params->padding.h;
        int32_t ox = 0;
        /* Windows that start in the left padding, one at a time. */
        for (; ox < out_w && ox * params->stride.w < params->padding.w; ox++) {
            const int32_t x0 = ox * params->stride.w - params->padding.w;
            if (edges) {
                convolve_one(g, y0, x0, out_c, output + ((ptrdiff_t)oy * out_w + ox) * out_c, 0);
            }
        }
        /* Two neighbouring windows with every column inside the input go through together. */
        for (; ox + 1 < out_w; ox += 2) {
            const int32_t x0 = ox * params->stride.w - params->padding.w;
            const int32_t x1 = x0 + params->stride.w;
            if (x1 + g->k_w > g->in_w) {
                break;
            }
            int8_t *out = output + ((ptrdiff_t)oy * out_w + ox) * out_c;
            convolve_pair(g, y0, x0, x1, filters, out, out + out_c, scratch, clamped, per_filter);
        }
        /* The rest, whose windows reach into the right padding, one at a time. */
        for (; ox < out_w; ox++) {
            const int32_t x0 = ox * params->stride.w - params->padding.w;
            if (edges) {
                convolve_one(g, y0, x0, out_c, output + ((ptrdiff_t)oy * out_w + ox) * out_c, 0);
            }
        }
    }
}

/* Every block of filters over rows [row_begin, row_end): the filter bank in `spare` bytes of this
 * core's scratch at `bank`, when the packed-SIMD paths can make one (bank_block), else one pass
 * reading the weights. */
static CAPSNET_INLINE_HOT __attribute__((always_inline)) void convolve_blocks(const capsnet_conv_geometry *g, const capsnet_conv_params *params,
                                             int32_t out_w, int32_t out_c, int8_t *output, int32_t row_begin,
                                             int32_t row_end, void *scratch, void *bank, int64_t spare, int clamped,
                                             int per_filter)
{
#if defined(CAPSNET_CONV_IM2COL)
    const int32_t block = bank_block(spare, g->window, out_c);
    if (block > 0 && row_begin < row_end) {
        for (int32_t begin = 0; begin < out_c; begin += block) {
            const filter_block filters = {begin, begin + block < out_c ? begin + block : out_c, bank};
            fill_bank(g, filters.begin, filters.end, (capsnet_q7x4 *)bank);
            convolve_rows(g, params, out_w, out_c, output, row_begin, row_end, scratch, filters, clamped, per_filter);
        }
        return;
    }
#else
    (void)bank;
    (void)spare;
#endif
    const filter_block all = {0, out_c, NULL};
    convolve_rows(g, params, out_w, out_c, output, row_begin, row_end, scratch, all, clamped, per_filter);
}

/* Rows [row_begin, row_end) one window at a time, each sum rounded as it ends: a convolution with a
 * leaky ReLU (the leak needs each sum before it is rounded, which the pair loops, tuned to the
 * registers of the packed-SIMD paths, do not keep) or without the pair loops' headroom. Kept out of
 * the main loop so that the pair loops' registers are not shared with it. */
static CAPSNET_NOINLINE capsnet_status convolve_rows_singly(const capsnet_conv_geometry *g,
                                                           const capsnet_conv_params *params, int32_t out_w,
                                                           int32_t out_c, int8_t *output, int32_t row_begin,
                                                           int32_t row_end)
{
    const int32_t leak = params->activation.leak;
    if (!capsnet_leak_is_valid(leak)) {
        return CAPSNET_ERROR_ARGUMENT;
    }
    for (int32_t oy = row_begin; oy < row_end; oy++) {
        const int32_t y0 = oy * params->stride.h - params->padding.h;
        for (int32_t ox = 0; ox < out_w; ox++) {
            const int32_t x0 = ox * params->stride.w - params->padding.w;
            convolve_one(g, y0, x0, out_c, output + ((ptrdiff_t)oy * out_w + ox) * out_c, leak);
        }
    }
    return CAPSNET_OK;
}

/* The window size Kh*Kw*Cin, or a negative status if it is invalid or could overflow the accumulator. */
static int32_t window_size(const capsnet_conv_params *params, const capsnet_hwc *input_dims)
{
    if (params == NULL || input_dims == NULL) {
        return CAPSNET_ERROR_NULL_POINTER;
    }
    const int32_t window = capsnet_count3(params->kernel.h, params->kernel.w, input_dims->c);
    if (window < 0) {
        return CAPSNET_ERROR_DIMENSION;
    }
    return capsnet_accumulator_fits(window, 0) ? window : CAPSNET_ERROR_OVERFLOW;
}

int32_t capsnet_conv_hwc_q7_split_get_buffer_size(const capsnet_conv_params *params, const capsnet_hwc *input_dims,
                                                  int32_t num_cores)
{
    const int32_t window = window_size(params, input_dims);
    if (window < 0) {
        return window;
    }
    if (num_cores < 1 || num_cores > CAPSNET_CORES_MAX) {
        return CAPSNET_ERROR_DIMENSION;
    }
    /* CAPSNET_CORES_MAX cores of up to 2^19 bytes each could pass INT32_MAX. */
    const int64_t total = num_cores * scratch_bytes(window, params->kernel.w * input_dims->c);
    return total <= INT32_MAX ? (int32_t)total : CAPSNET_ERROR_DIMENSION;
}

capsnet_status capsnet_conv_hwc_q7_split(const capsnet_context *ctx, const capsnet_conv_params *params,
                                         const capsnet_hwc *input_dims, const int8_t *input,
                                         const int8_t *weights, const int8_t *bias,
                                         const capsnet_hwc *output_dims, int8_t *output,
                                         const capsnet_core_split *split)
{
    if (ctx == NULL || ctx->buf == NULL || params == NULL || input_dims == NULL || input == NULL ||
        weights == NULL || output_dims == NULL || output == NULL || split == NULL) {
        return CAPSNET_ERROR_NULL_POINTER;
    }
    if (!capsnet_split_is_valid(split)) {
        return CAPSNET_ERROR_DIMENSION;
    }
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t k_h = params->kernel.h, k_w = params->kernel.w;
    if (capsnet_check_conv_axis(in_h, k_h, params->stride.h, params->padding.h, out_h) != CAPSNET_OK ||
        capsnet_check_conv_axis(in_w, k_w, params->stride.w, params->padding.w, out_w) != CAPSNET_OK ||
        capsnet_count3(in_h, in_w, in_c) < 0 || capsnet_count3(out_h, out_w, out_c) < 0) {
        return CAPSNET_ERROR_DIMENSION;
    }
    const int32_t window = capsnet_count3(k_h, k_w, in_c);
    if (window < 0 || capsnet_count2(window, out_c) < 0) {
        return CAPSNET_ERROR_DIMENSION;
    }

    /* The leak is checked where it is used, in convolve_rows_singly, before anything is written: a
     * check here costs the Cortex-M4's DSP loops 2% (gcc 12 allocates their registers anew), and
     * calling capsnet_check_conv_formats for the same checks as below cost them 3% (conv2d) to 4%
     * (the primary capsules) on MNIST. */
    if (params->activation.min < CAPSNET_Q7_MIN || params->activation.min >= params->activation.max ||
        params->activation.max > CAPSNET_Q7_MAX) {
        return CAPSNET_ERROR_ARGUMENT;
    }
    int32_t shift;
    CAPSNET_RETURN_IF_ERROR(
        capsnet_product_shift(params->input_frac, params->weight_frac, params->output_frac, &shift));
    /* The bias is "a product" stored in bias_frac: the same shift, applied to the left. */
    int32_t bias_shift = 0;
    if (bias != NULL) {
        CAPSNET_RETURN_IF_ERROR(
            capsnet_product_shift(params->input_frac, params->weight_frac, params->bias_frac, &bias_shift));
    }
    int32_t max_shift = shift;
    int32_t max_bias_shift = bias_shift;
    CAPSNET_RETURN_IF_ERROR(capsnet_check_filter_formats(params, bias != NULL, out_c, &max_shift, &max_bias_shift));
    if (!capsnet_accumulator_fits(window, max_bias_shift)) {
        return CAPSNET_ERROR_OVERFLOW;
    }
    const int64_t needed = scratch_bytes(window, k_w * in_c);
    if (ctx->size < split->num_cores * needed) {
        return CAPSNET_ERROR_BUFFER_SIZE;
    }
    /* Each core's share of the buffer, the part beyond what it needs (aligned) its filter bank's. */
    const int64_t share = ctx->size / split->num_cores;
    uint8_t *const mine = (uint8_t *)ctx->buf + split->core_id * share;
    void *scratch = capsnet_align4_pointer(mine);
    uint8_t *const bank = (uint8_t *)capsnet_align4_pointer((uint8_t *)scratch + needed - CONV_ALIGNMENT_SLACK);
    const int64_t spare = share - (bank - mine);

    const int32_t half = shift > 0 ? (int32_t)1 << (shift - 1) : 0;
    const capsnet_conv_geometry g = {input,   in_h,    in_w,       in_c,
                                     k_h,     k_w,     window,     weights,
                                     bias,    bias_shift, shift,   capsnet_rounding_of(shift),
                                     params->activation.min, params->activation.max, half, window / 4,
                                     params->weight_fracs, params->weight_frac};
    /* This core's output rows. */
    int32_t row_begin;
    int32_t row_end;
    capsnet_split_range(out_h, split, &row_begin, &row_end);
    if (params->activation.leak != 0) {
        return convolve_rows_singly(&g, params, out_w, out_c, output, row_begin, row_end);
    }
    /* The pair loops start each sum at the rounding constant, which needs its headroom: a sum stays
     * within window * 2^14 + 128 * 2^bias_shift (capsnet_accumulator_fits), for the filter with the
     * largest shifts. A convolution without it (a window of about 65,000 values or more) goes one
     * window at a time, rounded as it ends. */
    const int32_t max_half = max_shift > 0 ? (int32_t)1 << (max_shift - 1) : 0;
    if ((int64_t)window * CAPSNET_MAX_PRODUCT + ((int64_t)128 << max_bias_shift) + max_half > INT32_MAX) {
        return convolve_rows_singly(&g, params, out_w, out_c, output, row_begin, row_end);
    }
    /* The pair loops in four variants, so that neither the clamp nor per-filter formats cost the
     * convolutions without them an instruction. */
    const int clamped = params->activation.min > CAPSNET_Q7_MIN || params->activation.max < CAPSNET_Q7_MAX;
    if (params->weight_fracs != NULL) {
        if (clamped) {
            convolve_blocks(&g, params, out_w, out_c, output, row_begin, row_end, scratch, bank, spare, 1, 1);
        } else {
            convolve_blocks(&g, params, out_w, out_c, output, row_begin, row_end, scratch, bank, spare, 0, 1);
        }
    } else if (clamped) {
        convolve_blocks(&g, params, out_w, out_c, output, row_begin, row_end, scratch, bank, spare, 1, 0);
    } else {
        convolve_blocks(&g, params, out_w, out_c, output, row_begin, row_end, scratch, bank, spare, 0, 0);
    }
    return CAPSNET_OK;
}
