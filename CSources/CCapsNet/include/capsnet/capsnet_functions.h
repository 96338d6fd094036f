/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file capsnet_functions.h
 * @brief The CapsNet int8 kernels, portable C99.
 *
 * Conventions shared by every kernel (see capsnet_types.h for the number format):
 * - Activations are HWC (channels last); a capsule is `dim` consecutive int8 values.
 * - Every kernel validates all of its arguments before it reads or writes any tensor or scratch
 *   byte, and returns a capsnet_status (the arrays inside parameter structs are read once the
 *   sizes that bound them are checked). Buffer lengths cannot be checked in C: the caller passes buffers of the
 *   documented sizes.
 * - Accumulators are 32 bits. A kernel refuses (CAPSNET_ERROR_OVERFLOW) a shape whose worst case,
 *   every product at 2^14 = (-128)*(-128), could leave the int32 range.
 * - "Exact" below means: the result equals the mathematically exact value of the operation on the
 *   dequantized operands, requantized by the library's rounding rule (round half up, saturate).
 *   Its error against the float operation is at most 0.5 LSB of the output format.
 */
#ifndef CAPSNET_FUNCTIONS_H
#define CAPSNET_FUNCTIONS_H

#include "capsnet_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------- */
/* Convolution                                                                                     */
/* ---------------------------------------------------------------------------------------------- */

/**
 * @brief Scratch bytes capsnet_conv_hwc_q7 needs, or a negative status if the arguments are invalid
 * (CAPSNET_ERROR_NULL_POINTER, CAPSNET_ERROR_DIMENSION, CAPSNET_ERROR_OVERFLOW): two windows of
 * W = Kh*Kw*Cin values widened to 16 bits and, when a window row of Kw*Cin values is not a multiple
 * of four, one window staged as int8; 5*W + 26 bytes at most.
 *
 * The cores with packed int8 SIMD (Arm DSP without Helium, CORE-V) gather windows there (im2col);
 * the other paths leave it untouched. The size is the same on every core, so one arena fits all.
 * A larger buffer is allowed and used: the packed-SIMD paths prepare as many filters as fit beyond
 * the windows (2*W bytes per filter, rounded up to groups of four values), once per call, so that
 * their inner loop unpacks nothing; the output is the same byte for byte whatever the size.
 */
int32_t capsnet_conv_hwc_q7_get_buffer_size(const capsnet_conv_params *params, const capsnet_hwc *input_dims);

/**
 * @brief 2-D convolution, HWC int8, exact.
 *
 * out[y][x][o] = clamp(requantize(bias[o] << bias_shift + sum_{ky,kx,i} in[y*sh-ph+ky][x*sw-pw+kx][i] * w[o][ky][kx][i]))
 * with bias_shift = input_frac + weight_frac - bias_frac, shift = input_frac + weight_frac - output_frac,
 * zeros outside the input, and clamp to [activation.min, activation.max] (params->activation). With
 * per-filter formats (params->weight_fracs), filter o's weights are in weight_fracs[o], which
 * replaces weight_frac in both of its shifts: one shift per output channel, as CMSIS-NN's
 * per-channel requantization but with shifts only. With a
 * leak (a leaky ReLU), a negative accumulator is first scaled: out = clamp(floor(acc * leak /
 * 2^(15 + shift) + 1/2)), within 0.5 + 2^-9 LSB of alpha times the exact value; such a convolution
 * takes the one-window-at-a-time loop on every path.
 *
 * @param[in]  ctx          scratch of capsnet_conv_hwc_q7_get_buffer_size(params, input_dims) bytes
 * @param[in]  params       kernel size, stride, padding (0 <= padding < kernel), formats, activation
 * @param[in]  input_dims   input shape [H, W, Cin]
 * @param[in]  input        input tensor, H*W*Cin values
 * @param[in]  weights      filters in [Cout][Kh][Kw][Cin] order (OHWI)
 * @param[in]  bias         Cout values in bias_frac, or NULL for no bias
 * @param[in]  output_dims  output shape [Ho, Wo, Cout]; the last window must start inside the input:
 *                          (Ho-1)*stride.h - padding.h <= H-1, likewise for the width
 * @param[out] output       Ho*Wo*Cout values
 * @return CAPSNET_OK, or an error and nothing written. Overflow guard: Kh*Kw*Cin*2^14 + 2^(7+bias_shift) < 2^31,
 *         for the largest bias_shift of any filter.
 */
capsnet_status capsnet_conv_hwc_q7(const capsnet_context *ctx, const capsnet_conv_params *params,
                                   const capsnet_hwc *input_dims, const int8_t *input,
                                   const int8_t *weights, const int8_t *bias,
                                   const capsnet_hwc *output_dims, int8_t *output);

/**
 * @brief Scratch bytes capsnet_conv_hwc_q7_split needs for num_cores cores together (one buffer,
 * num_cores times the single-core size), or a negative status. Given more, each core takes
 * ctx->size / num_cores bytes, its filter bank in what is beyond its need.
 */
int32_t capsnet_conv_hwc_q7_split_get_buffer_size(const capsnet_conv_params *params, const capsnet_hwc *input_dims,
                                                  int32_t num_cores);

/**
 * @brief capsnet_conv_hwc_q7 on one core's share of the output rows (capsnet_core_split).
 *
 * Every core checks all the arguments and writes only its rows and its own part of the scratch, so
 * that num_cores calls, one per core and in any order or at once, write exactly what
 * capsnet_conv_hwc_q7 writes. An invalid split (num_cores < 1, core_id outside [0, num_cores)) is
 * CAPSNET_ERROR_DIMENSION.
 *
 * @param[in]  ctx  scratch of capsnet_conv_hwc_q7_split_get_buffer_size(params, input_dims,
 *                  split->num_cores) bytes, the same buffer on every core
 */
capsnet_status capsnet_conv_hwc_q7_split(const capsnet_context *ctx, const capsnet_conv_params *params,
                                         const capsnet_hwc *input_dims, const int8_t *input,
                                         const int8_t *weights, const int8_t *bias,
                                         const capsnet_hwc *output_dims, int8_t *output,
                                         const capsnet_core_split *split);

/**
 * @brief Scratch bytes capsnet_depthwise_conv_hwc_q7 needs (none on every path so far), or a
 * negative status if the arguments are invalid (CAPSNET_ERROR_NULL_POINTER,
 * CAPSNET_ERROR_DIMENSION, CAPSNET_ERROR_OVERFLOW).
 */
int32_t capsnet_depthwise_conv_hwc_q7_get_buffer_size(const capsnet_conv_params *params,
                                                      const capsnet_hwc *input_dims);

/**
 * @brief Depthwise 2-D convolution, HWC int8, exact, with a channel multiplier of 1: output channel
 * c is input channel c convolved with its own filter (Keras's Conv2D with groups = channels, as
 * Efficient-CapsNet's primary capsules use it).
 *
 * out[y][x][c] = clamp(requantize(bias[c] << bias_shift + sum_{ky,kx} in[y*sh-ph+ky][x*sw-pw+kx][c] * w[ky][kx][c]))
 * with the shifts, padding, activation (clamp and leak) and rounding of capsnet_conv_hwc_q7.
 *
 * @param[in]  ctx          scratch of capsnet_depthwise_conv_hwc_q7_get_buffer_size(params, input_dims) bytes
 *                          (ctx->buf may be NULL while that is 0)
 * @param[in]  params       kernel size, stride, padding (0 <= padding < kernel), formats, activation
 * @param[in]  input_dims   input shape [H, W, C]
 * @param[in]  input        H*W*C values
 * @param[in]  weights      the filters in [Kh][Kw][C] order (Keras's [Kh][Kw][1][C] kernel as stored)
 * @param[in]  bias         C values in bias_frac, or NULL for no bias
 * @param[in]  output_dims  output shape [Ho, Wo, C], the last window starting inside the input
 * @param[out] output       Ho*Wo*C values
 * @return CAPSNET_OK, or an error and nothing written. Overflow guard: Kh*Kw*2^14 + 2^(7+bias_shift) < 2^31.
 */
capsnet_status capsnet_depthwise_conv_hwc_q7(const capsnet_context *ctx, const capsnet_conv_params *params,
                                             const capsnet_hwc *input_dims, const int8_t *input,
                                             const int8_t *weights, const int8_t *bias,
                                             const capsnet_hwc *output_dims, int8_t *output);

/** @brief Scratch bytes capsnet_depthwise_conv_hwc_q7_split needs for num_cores cores together. */
int32_t capsnet_depthwise_conv_hwc_q7_split_get_buffer_size(const capsnet_conv_params *params,
                                                            const capsnet_hwc *input_dims, int32_t num_cores);

/**
 * @brief capsnet_depthwise_conv_hwc_q7 on one core's share of the output rows (capsnet_core_split);
 * together the num_cores calls write exactly what capsnet_depthwise_conv_hwc_q7 writes.
 */
capsnet_status capsnet_depthwise_conv_hwc_q7_split(const capsnet_context *ctx, const capsnet_conv_params *params,
                                                   const capsnet_hwc *input_dims, const int8_t *input,
                                                   const int8_t *weights, const int8_t *bias,
                                                   const capsnet_hwc *output_dims, int8_t *output,
                                                   const capsnet_core_split *split);

/* ---------------------------------------------------------------------------------------------- */
/* Activations                                                                                     */
/* ---------------------------------------------------------------------------------------------- */

/**
 * @brief ReLU in place: x = max(x, 0). Exact in any format.
 * @param[in,out] data  `size` values
 * @param[in]     size  number of values, at least 1
 */
capsnet_status capsnet_relu_q7(int8_t *data, int32_t size);

/**
 * @brief Leaky ReLU in place: q < 0 becomes floor(q * leak / 2^15 + 1/2), q >= 0 stays; the format
 * is unchanged.
 *
 * Within 0.5 + 2^-9 LSB of alpha * q for alpha in [0, 1) and leak = round(alpha * 2^15). A leaky
 * ReLU right after a convolution is better applied as the convolution's activation
 * (capsnet_activation.leak), to the accumulator before its one rounding.
 *
 * @param[in,out] data  size values
 * @param[in]     size  at least 1
 * @param[in]     leak  the negative slope in Q0.15, 0 .. 32767
 * @return CAPSNET_OK, CAPSNET_ERROR_NULL_POINTER, CAPSNET_ERROR_DIMENSION or CAPSNET_ERROR_ARGUMENT
 */
capsnet_status capsnet_leaky_relu_q7(int8_t *data, int32_t size, int32_t leak);

/**
 * @brief Squash of consecutive capsules: v = s * |s| / (1 + |s|^2).
 *
 * Integer rule, per capsule q (in input_frac f) to v (in output_frac g):
 * - N = sum_k q_k^2 (exact);
 * - R = floor(sqrt(N * 2^32)) (integer square root);
 * - m = floor(R * 2^g / (2^(2f) + N)), evaluated exactly (a multiplier with 16 fractional bits);
 * - v_k = saturate(floor((q_k * m + 2^15) / 2^16)).
 * Error against the float squash of the dequantized input: at most 0.5 + 2^-8 LSB of the output
 * format wherever the exact result lies inside the int8 range.
 *
 * @param[in]  input        num_capsules * capsule_dim values in input_frac
 * @param[in]  input_frac   in [CAPSNET_FRAC_MIN, CAPSNET_FRAC_MAX]
 * @param[in]  output_frac  in [0, CAPSNET_FRAC_MAX]: a squashed capsule lies in the unit ball
 * @param[out] output       num_capsules * capsule_dim values; may be the input itself
 */
capsnet_status capsnet_squash_q7(const int8_t *input, int32_t num_capsules, int32_t capsule_dim,
                                 int32_t input_frac, int32_t output_frac, int8_t *output);

/**
 * @brief Efficient-CapsNet's exponential squash of consecutive capsules:
 * v = (1 - exp(-|s|)) * s / |s| (its epsilons, 1e-20, change no int8 result).
 *
 * Integer rule, per capsule q (in input_frac f) to v (in output_frac g):
 * - N = sum_k q_k^2 (exact); a capsule with N = 0 gives zeros;
 * - R = floor(sqrt(N * 2^32)), so that |s| = R * 2^-(16+f);
 * - E = exp(-|s|) in Q31: starting from 2^31, for each set bit of R from the highest, the product
 *   with round(exp(-2^b) * 2^31) for the bit's weight 2^b, rounded to Q31 (round half up); E = 0
 *   once |s| >= 32; H = 2^31 - E;
 * - m = floor(H * 2^(g+1) / R) (a multiplier with 16 fractional bits);
 * - v_k = saturate(floor((q_k * m + 2^15) / 2^16)).
 * Error against the float squash of the dequantized input: at most 0.5 + 2^-7 LSB of the output
 * format wherever the exact result lies inside the int8 range (H is within 36 * 2^-31 of exact, R
 * and m lose less than one unit each; 0.5015 is the largest error measured).
 *
 * @param[in]  input        num_capsules * capsule_dim values in input_frac
 * @param[in]  input_frac   in [CAPSNET_FRAC_MIN, CAPSNET_FRAC_MAX]
 * @param[in]  output_frac  in [0, CAPSNET_FRAC_MAX]: a squashed capsule lies in the unit ball
 * @param[out] output       num_capsules * capsule_dim values; may be the input itself
 */
capsnet_status capsnet_exp_squash_q7(const int8_t *input, int32_t num_capsules, int32_t capsule_dim,
                                     int32_t input_frac, int32_t output_frac, int8_t *output);

/* ---------------------------------------------------------------------------------------------- */
/* Normalization                                                                                   */
/* ---------------------------------------------------------------------------------------------- */

/**
 * @brief Per-channel affine map in place, int8, exact: an inference batch normalization,
 * y = gamma * (x - mean) / sqrt(variance + eps) + beta, that no convolution could absorb.
 *
 * x[p][c] becomes clamp(requantize(x[p][c] * scales[c] + offsets[c], input_frac + scale_fracs[c] - output_frac)):
 * one product and one rounding per value. The scales are int16 with a format per channel, so a
 * scale from 0.5 to 2^8 keeps 15 significant bits; the error against the float map on the same
 * input is the output's 0.5 LSB plus what rounding the scale and offset costs (the converter picks
 * each scale's format as fine as its magnitude allows).
 *
 * @param[in,out] data       positions * params->channels values, HWC
 * @param[in]     positions  at least 1: H * W, or the number of capsules
 * @param[in]     params     channels, formats, and per-channel scales and offsets; |offsets[c]| <= 2^29
 * @return CAPSNET_OK, CAPSNET_ERROR_NULL_POINTER, CAPSNET_ERROR_DIMENSION (sizes below 1 or a product
 *         above INT32_MAX), CAPSNET_ERROR_SHIFT (a format or shift out of range) or CAPSNET_ERROR_OVERFLOW
 *         (an offset above 2^29), and nothing written
 */
capsnet_status capsnet_channel_affine_q7(int8_t *data, int32_t positions, const capsnet_channel_affine_params *params);

/**
 * @brief Instance normalization in place, int8: y = gamma * (x - mean) / sqrt(variance + eps) + beta,
 * with the mean and the (population) variance of each channel over this image's positions.
 *
 * Integer rule, per channel, with q the N values of the channel:
 * - S1 = sum q, S2 = sum q^2 (exact); V = (N * S2 - S1^2) * 2^16 + N^2 * epsilon, which is
 *   N^2 (variance + eps) in Q16 of q's squared units; R = floor(sqrt(V)) = N * sigma * 2^8;
 * - b = the bit length of R; M = round(gamma * 2^(b + 15) / R), |M| <= 2^31;
 * - y = saturate(floor((N q - S1) * M / 2^T + 1/2) + beta) with T = b + 7 + gamma_frac - output_frac,
 *   in 64 bits (|N q - S1| <= 2^24).
 * A channel with R = 0 (constant, and epsilon 0) gives beta. Against the exact map of the same int8
 * input and parameters the error is at most 1 LSB (the output's rounding, and at most 0.5 LSB from
 * R's floor: a channel that is not constant has R >= 256 sqrt(N - 1)); tested against float.
 *
 * @param[in,out] data       positions * params->channels values, HWC
 * @param[in]     positions  N, in [1, 65536]: H * W
 * @param[in]     params     channels, formats, epsilon, gammas and betas
 * @return CAPSNET_OK, CAPSNET_ERROR_NULL_POINTER, CAPSNET_ERROR_DIMENSION (sizes out of range),
 *         CAPSNET_ERROR_SHIFT (a format out of range) or CAPSNET_ERROR_ARGUMENT (epsilon above 2^30),
 *         and nothing written
 */
capsnet_status capsnet_instance_norm_q7(int8_t *data, int32_t positions, const capsnet_instance_norm_params *params);

/* ---------------------------------------------------------------------------------------------- */
/* Softmax                                                                                         */
/* ---------------------------------------------------------------------------------------------- */

/** @brief Scratch bytes capsnet_softmax_q7 needs (a table of exponentials, plus alignment slack). */
int32_t capsnet_softmax_q7_get_buffer_size(void);

/**
 * @brief Natural-base softmax of each row of Qm.n logits; output in Q0.7 (1.0 saturates to 127).
 *
 * Integer rule, per row with logits b_j in logit_frac f:
 * - d_j = max_k b_k - b_j, an integer in [0, 255];
 * - E(0) = 2^30, E(d) = floor((E(d-1) * K_f + 2^29) / 2^30) with K_f = round(exp(-2^-f) * 2^30):
 *   exp(-d * 2^-f) in Q30;
 * - e_j = floor((E(d_j) + 2^14) / 2^15) (Q15), S = sum_j e_j;
 * - c_j = min(127, floor(128 * e_j / S + 1/2)).
 * Error against the float softmax of the dequantized logits: at most 0.5 + 0.002 * (row_len + 1) LSB
 * of Q0.7, and at most 1 LSB where the coefficient rounds to 1.0 and saturates.
 *
 * @param[in]  ctx         scratch of capsnet_softmax_q7_get_buffer_size() bytes
 * @param[in]  logits      num_rows * row_len values in logit_frac
 * @param[in]  row_len     values per row, 1 to CAPSNET_SOFTMAX_ROW_MAX
 * @param[in]  logit_frac  in [CAPSNET_FRAC_MIN, CAPSNET_FRAC_MAX]
 * @param[out] output      num_rows * row_len coefficients in Q0.7; may be the logits themselves
 */
capsnet_status capsnet_softmax_q7(const capsnet_context *ctx, const int8_t *logits, int32_t num_rows,
                                  int32_t row_len, int32_t logit_frac, int8_t *output);

/* ---------------------------------------------------------------------------------------------- */
/* Matrix functions (row-major)                                                                    */
/* ---------------------------------------------------------------------------------------------- */

/**
 * @brief out[M][N] = A[M][K] * B[K][N], exact. Shift a_frac + b_frac - out_frac.
 * Overflow guard: K * 2^14 < 2^31. `out` must not overlap A or B.
 */
capsnet_status capsnet_mat_mult_q7(const int8_t *a, const int8_t *b, int32_t m, int32_t k, int32_t n,
                                   const capsnet_mat_formats *formats, int8_t *out);

/**
 * @brief out[M][N] = A[M][K] * B[N][K]^T (rows of A dotted with rows of B), exact.
 * Shift a_frac + b_frac - out_frac. Overflow guard: K * 2^14 < 2^31. `out` must not overlap A or B.
 */
capsnet_status capsnet_mat_mult_trans_b_q7(const int8_t *a, const int8_t *b, int32_t m, int32_t k,
                                           int32_t n, const capsnet_mat_formats *formats, int8_t *out);

/**
 * @brief Element-wise sum of two tensors in different formats, exact.
 *
 * Both operands are first brought to F = max(a_frac, b_frac) (an exact left shift), then the sum is
 * requantized by F - out_frac, which must not be negative. `out` may be `a` or `b`.
 */
capsnet_status capsnet_mat_add_q7(const int8_t *a, const int8_t *b, int32_t size,
                                  const capsnet_mat_formats *formats, int8_t *out);

/** @brief out[C][R] = in[R][C]. Exact in any format; `out` must not overlap `in`. */
capsnet_status capsnet_mat_transpose_q7(const int8_t *in, int32_t rows, int32_t cols, int8_t *out);

/* ---------------------------------------------------------------------------------------------- */
/* Capsule functions                                                                               */
/* ---------------------------------------------------------------------------------------------- */

/** @brief Scratch bytes capsnet_primary_capsule_q7 needs: those of its convolution. */
int32_t capsnet_primary_capsule_q7_get_buffer_size(const capsnet_primary_capsule_params *params,
                                                   const capsnet_hwc *input_dims);

/**
 * @brief Primary capsule layer: capsnet_conv_hwc_q7, then capsnet_squash_q7 on each group of
 * capsule_dim consecutive output channels (Ho*Wo*Cout/D capsules in HWC order).
 *
 * The output buffer first holds the convolution (in params->conv.output_frac, after its activation
 * params->conv.activation, which is {CAPSNET_Q7_MIN, CAPSNET_Q7_MAX, 0} for none and is refused
 * when zero-initialized) and is squashed in place into params->output_frac. Cout must be a
 * multiple of capsule_dim.
 *
 * @param[in]  ctx  scratch of capsnet_primary_capsule_q7_get_buffer_size(params, input_dims) bytes
 */
capsnet_status capsnet_primary_capsule_q7(const capsnet_context *ctx, const capsnet_primary_capsule_params *params,
                                          const capsnet_hwc *input_dims, const int8_t *input,
                                          const int8_t *weights, const int8_t *bias,
                                          const capsnet_hwc *output_dims, int8_t *output);

/** @brief Scratch bytes capsnet_primary_capsule_q7_split needs for num_cores cores together. */
int32_t capsnet_primary_capsule_q7_split_get_buffer_size(const capsnet_primary_capsule_params *params,
                                                          const capsnet_hwc *input_dims, int32_t num_cores);

/**
 * @brief capsnet_primary_capsule_q7 on one core's share of the output rows: the convolution of
 * those rows, then the squash of their capsules. Together the num_cores calls write exactly what
 * capsnet_primary_capsule_q7 writes.
 *
 * @param[in]  ctx  scratch of capsnet_primary_capsule_q7_split_get_buffer_size(params, input_dims,
 *                  split->num_cores) bytes, the same buffer on every core
 */
capsnet_status capsnet_primary_capsule_q7_split(const capsnet_context *ctx,
                                                const capsnet_primary_capsule_params *params,
                                                const capsnet_hwc *input_dims, const int8_t *input,
                                                const int8_t *weights, const int8_t *bias,
                                                const capsnet_hwc *output_dims, int8_t *output,
                                                const capsnet_core_split *split);

/** @brief Scratch bytes capsnet_depthwise_primary_capsule_q7 needs: those of its depthwise convolution (0). */
int32_t capsnet_depthwise_primary_capsule_q7_get_buffer_size(const capsnet_primary_capsule_params *params,
                                                             const capsnet_hwc *input_dims);

/**
 * @brief Efficient-CapsNet's primary capsule layer (its PrimaryCaps): capsnet_depthwise_conv_hwc_q7,
 * then capsnet_exp_squash_q7 on each group of capsule_dim consecutive output channels, in place,
 * as capsnet_primary_capsule_q7 does with its convolution and squash. Weights are [Kh][Kw][C];
 * C must be a multiple of capsule_dim.
 *
 * @param[in]  ctx  scratch of capsnet_depthwise_primary_capsule_q7_get_buffer_size(params, input_dims)
 *                  bytes (ctx->buf may be NULL while that is 0)
 */
capsnet_status capsnet_depthwise_primary_capsule_q7(const capsnet_context *ctx,
                                                    const capsnet_primary_capsule_params *params,
                                                    const capsnet_hwc *input_dims, const int8_t *input,
                                                    const int8_t *weights, const int8_t *bias,
                                                    const capsnet_hwc *output_dims, int8_t *output);

/** @brief Scratch bytes capsnet_depthwise_primary_capsule_q7_split needs for num_cores cores together. */
int32_t capsnet_depthwise_primary_capsule_q7_split_get_buffer_size(const capsnet_primary_capsule_params *params,
                                                                    const capsnet_hwc *input_dims, int32_t num_cores);

/**
 * @brief capsnet_depthwise_primary_capsule_q7 on one core's share of the output rows; together the
 * num_cores calls write exactly what capsnet_depthwise_primary_capsule_q7 writes.
 */
capsnet_status capsnet_depthwise_primary_capsule_q7_split(const capsnet_context *ctx,
                                                          const capsnet_primary_capsule_params *params,
                                                          const capsnet_hwc *input_dims, const int8_t *input,
                                                          const int8_t *weights, const int8_t *bias,
                                                          const capsnet_hwc *output_dims, int8_t *output,
                                                          const capsnet_core_split *split);

/**
 * @brief Scratch bytes capsnet_capsule_layer_q7 needs, or a negative status if the arguments are
 * invalid (CAPSNET_ERROR_NULL_POINTER, CAPSNET_ERROR_DIMENSION): the softmax table, the outputs of
 * the first R-1 iterations, J*D partial sums, and, when params->memory keeps the predictions, their
 * J*I*D bytes with J*I logits and J*I couplings (I couplings when R = 1); when it recomputes them,
 * J*I logits (none when R = 1) and J*(1 + D) bytes per core. With CAPSNET_ROUTING_Q15 the
 * predictions and couplings take two bytes each and the partial sums eight.
 */
int32_t capsnet_capsule_layer_q7_get_buffer_size(const capsnet_capsule_params *params,
                                                 const capsnet_capsule_dims *dims);

/**
 * @brief Capsule layer with dynamic routing.
 *
 * 1. u_hat[j][i] = W[j][i] * u[i] (exact, into prediction_frac; with params->weight_fracs, W[j] in
 *    weight_fracs[j], one shift per output capsule);
 * 2. b = 0 (J x I); for r = 0 .. R-1, with the formats of iterations[r]:
 *    c = softmax of b over j, per input capsule i (as capsnet_softmax_q7, Q0.7);
 *    s[j] = sum_i c[j][i] * u_hat[j][i]            (as capsnet_mat_mult_q7, exact into sum_frac);
 *    v = squash(s)                                 (capsnet_squash_q7 into output_frac);
 *    if r < R-1: a[j][i] = u_hat[j][i] . v[j]      (as capsnet_mat_mult_trans_b_q7, exact into agreement_frac),
 *                b = b + a                         (as capsnet_mat_add_q7, aligned, into iterations[r+1].logit_frac).
 *
 * With params->precision CAPSNET_ROUTING_Q15, u_hat is int16 (saturated into prediction_frac with
 * 16 bits) and c is Q0.15 (capsnet_softmax_q7's rule with 32768 for 128, capped at 32767); s sums
 * its products in 64 bits and is requantized into sum_frac from Q(15 + prediction_frac), and the
 * agreements from Q(output_frac + prediction_frac), as above. D must then be at most 511 and I at
 * most 65535 (CAPSNET_ERROR_OVERFLOW otherwise).
 *
 * params->memory chooses the loop order, not the result. Keeping the predictions, the kernel runs
 * each phase over all input capsules, with u_hat, b and c kept in the scratch. Recomputing them, it
 * goes through the input capsules one at a time: each capsule's predictions are computed once per
 * iteration, for its agreements (into the kept b) and its weighted sums, and never stored.
 *
 * @param[in]  ctx      scratch of capsnet_capsule_layer_q7_get_buffer_size(params, dims) bytes
 * @param[in]  input    u, I * Din values in input_frac
 * @param[in]  weights  W in [J][I][D][Din] order, weight_frac
 * @param[out] output   v, J * D values in iterations[R-1].output_frac
 */
capsnet_status capsnet_capsule_layer_q7(const capsnet_context *ctx, const capsnet_capsule_params *params,
                                        const capsnet_capsule_dims *dims, const int8_t *input,
                                        const int8_t *weights, int8_t *output);

/**
 * @brief Scratch bytes capsnet_capsule_layer_q7_split needs for num_cores cores together (one
 * buffer, shared by all of them), or a negative status. With several cores, what each core writes
 * for every input capsule sits on 64-byte lines of its own, so that cores with data caches do not
 * contend for a line (false sharing).
 */
int32_t capsnet_capsule_layer_q7_split_get_buffer_size(const capsnet_capsule_params *params,
                                                       const capsnet_capsule_dims *dims, int32_t num_cores);

/**
 * @brief capsnet_capsule_layer_q7 on num_cores cores: every core calls it with the same arguments
 * and context and its own split. Each core takes a contiguous share of the input capsules and
 * sums its share of s; after a barrier each core reduces and squashes a share of the output
 * capsules; a second barrier ends the iteration (2R barriers in all, through split->barrier).
 * The output is identical for every core count. An invalid argument is reported by every core
 * before the first barrier.
 *
 * @param[in]  ctx    scratch of capsnet_capsule_layer_q7_split_get_buffer_size(params, dims,
 *                    split->num_cores) bytes, the same buffer on every core
 */
capsnet_status capsnet_capsule_layer_q7_split(const capsnet_context *ctx, const capsnet_capsule_params *params,
                                              const capsnet_capsule_dims *dims, const int8_t *input,
                                              const int8_t *weights, int8_t *output,
                                              const capsnet_core_split *split);

/**
 * @brief Scratch bytes capsnet_self_attention_capsule_q7 needs, or a negative status if the shape
 * is invalid (CAPSNET_ERROR_NULL_POINTER, CAPSNET_ERROR_DIMENSION): the softmax table, J*D totals
 * and J*D partial sums of 4 bytes, 2*J bytes, and the J*I*D predictions.
 */
int32_t capsnet_self_attention_capsule_q7_get_buffer_size(const capsnet_capsule_dims *dims);

/**
 * @brief Capsule layer with Efficient-CapsNet's self-attention routing (its FCCaps), one pass.
 *
 * 1. u_hat[j][i] = W[j][i] * u[i]                  (exact, into prediction_frac);
 * 2. T[j] = sum_i u_hat[j][i]                      (exact, 32 bits);
 * 3. a[j][i] = saturate(floor(dot(u_hat[j][i], T[j]) * K / 2^(30 + 2 * prediction_frac - agreement_frac) + 1/2))
 *    with K = floor(2^30 / sqrt(D)): the agreement u_hat . sum_k u_hat_k / sqrt(D) in agreement_frac,
 *    within 0.5 + 2^-14 LSB of exact (the shift must lie in [0, 62]);
 * 4. c = softmax of a over j, per input capsule i  (as capsnet_softmax_q7, Q0.7);
 * 5. c[j][i] = c[j][i] + b[j][i]                   (as capsnet_mat_add_q7, aligned, into coupling_frac);
 * 6. s[j] = sum_i c[j][i] * u_hat[j][i]            (exact into sum_frac);
 * 7. v = exponential squash of s                   (capsnet_exp_squash_q7 into output_frac).
 *
 * Overflow guard: Din * 2^14 < 2^31 and I * D * 2^14 < 2^31 (the agreement's dot product); J is
 * at most CAPSNET_SOFTMAX_ROW_MAX.
 *
 * @param[in]  ctx      scratch of capsnet_self_attention_capsule_q7_get_buffer_size(dims) bytes
 * @param[in]  params   the formats of every tensor
 * @param[in]  input    u, I * Din values in input_frac
 * @param[in]  weights  W in [J][I][D][Din] order, weight_frac (Keras stores [J][I][Din][D])
 * @param[in]  bias     b, J * I values in bias_frac
 * @param[out] output   v, J * D values in output_frac
 */
capsnet_status capsnet_self_attention_capsule_q7(const capsnet_context *ctx,
                                                 const capsnet_self_attention_params *params,
                                                 const capsnet_capsule_dims *dims, const int8_t *input,
                                                 const int8_t *weights, const int8_t *bias, int8_t *output);

/**
 * @brief Scratch bytes capsnet_self_attention_capsule_q7_split needs for num_cores cores together
 * (one buffer, shared by all of them; each core's partial sums and per-core bytes on 64-byte lines
 * of their own), or a negative status.
 */
int32_t capsnet_self_attention_capsule_q7_split_get_buffer_size(const capsnet_capsule_dims *dims, int32_t num_cores);

/**
 * @brief capsnet_self_attention_capsule_q7 on num_cores cores: every core calls it with the same
 * arguments and context and its own split. Four phases, three barriers (split->barrier): the
 * predictions of a share of the input capsules; the totals T of a share of the output capsules;
 * the agreements, couplings and partial sums of the first share; the reduction and squash of the
 * second. The output is identical for every core count. An invalid argument is reported by every
 * core before the first barrier.
 *
 * @param[in]  ctx  scratch of capsnet_self_attention_capsule_q7_split_get_buffer_size(dims,
 *                  split->num_cores) bytes, the same buffer on every core
 */
capsnet_status capsnet_self_attention_capsule_q7_split(const capsnet_context *ctx,
                                                       const capsnet_self_attention_params *params,
                                                       const capsnet_capsule_dims *dims, const int8_t *input,
                                                       const int8_t *weights, const int8_t *bias, int8_t *output,
                                                       const capsnet_core_split *split);

/**
 * @brief Length of each capsule, ||v|| = sqrt(sum_k v_k^2), exact: floor(||v|| * 2^output_frac + 1/2),
 * saturated to 127.
 *
 * @param[in]  capsules     num_capsules * capsule_dim values in input_frac
 * @param[out] lengths      num_capsules values in output_frac
 */
capsnet_status capsnet_capsule_length_q7(const int8_t *capsules, int32_t num_capsules, int32_t capsule_dim,
                                         int32_t input_frac, int32_t output_frac, int8_t *lengths);

#ifdef __cplusplus
}
#endif

#endif /* CAPSNET_FUNCTIONS_H */
