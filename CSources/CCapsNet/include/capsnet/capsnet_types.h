/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file capsnet_types.h
 * @brief Status codes, shapes, parameter structs and the scratch context of the CapsNet kernels.
 *
 * Number format ("q7"): an int8 tensor with `frac` fractional bits stores round(x * 2^frac)
 * saturated to [-128, 127]. `frac` may be negative for large ranges. Every format a kernel
 * accepts lies in [CAPSNET_FRAC_MIN, CAPSNET_FRAC_MAX].
 *
 * Kernels take the formats of their operands and derive every shift from them:
 * - a product a*b stored as out is shifted right by a_frac + b_frac - out_frac;
 * - a bias joins the accumulator shifted left by input_frac + weight_frac - bias_frac;
 * - a sum first brings both operands to the finer of their two formats (an exact left shift).
 * A derived shift outside [0, CAPSNET_SHIFT_MAX] is refused with CAPSNET_ERROR_SHIFT. An output
 * format finer than its accumulator would only add zero bits, so it is never needed.
 *
 * Requantization (the one rounding rule of the library): an accumulator x becomes
 * floor(x / 2^shift + 1/2) (round half up), then saturates to [-128, 127].
 */
#ifndef CAPSNET_TYPES_H
#define CAPSNET_TYPES_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Smallest number of fractional bits of any tensor format (values up to 2^15). */
#define CAPSNET_FRAC_MIN (-8)
/** Largest number of fractional bits of any tensor format (steps of 2^-15). */
#define CAPSNET_FRAC_MAX 15
/** Fractional bits of the softmax output (coupling coefficients): Q0.7, with 1.0 saturated to 127. */
#define CAPSNET_SOFTMAX_FRAC 7
/** Fractional bits of the couplings of a capsule layer with CAPSNET_ROUTING_Q15: Q0.15, 1.0 capped at 32767. */
#define CAPSNET_SOFTMAX_FRAC_Q15 15
/** Most routing iterations a capsule layer may run (CapsNets use 3). */
#define CAPSNET_ROUTINGS_MAX 16
/** Largest right shift a requantization may use. */
#define CAPSNET_SHIFT_MAX 31
/** Most cores a core split may name (capsnet_core_split.num_cores); the split kernels and their
 * `_get_buffer_size` companions refuse more with CAPSNET_ERROR_DIMENSION. */
#define CAPSNET_CORES_MAX 65536
/** Longest softmax row (and most output capsules of a capsule layer): the sum of a row's Q15
 * exponentials, doubled for rounding, stays below 2^32. */
#define CAPSNET_SOFTMAX_ROW_MAX 65535
/** Largest spatial size of a convolution (input and output height and width, kernel, stride): a
 * position plus a window or minus a padding then stays inside int32_t. Larger sizes get
 * CAPSNET_ERROR_DIMENSION. Channels are bounded by the element counts (at most INT32_MAX) and the
 * accumulator's headroom instead. */
#define CAPSNET_DIM_MAX 32768
/** The int8 range every requantized value saturates to. */
#define CAPSNET_Q7_MIN (-128)
#define CAPSNET_Q7_MAX 127

/** Result of every public kernel. Nothing is written when a kernel returns an error. */
typedef enum {
    CAPSNET_OK = 0,
    /** A required pointer (tensor, parameters, context or its buffer) is NULL. */
    CAPSNET_ERROR_NULL_POINTER = -1,
    /** A size is below 1, shapes disagree, or a tensor has more than INT32_MAX elements. */
    CAPSNET_ERROR_DIMENSION = -2,
    /** A format lies outside [CAPSNET_FRAC_MIN, CAPSNET_FRAC_MAX] or a derived shift is out of range. */
    CAPSNET_ERROR_SHIFT = -3,
    /** The shape could overflow a 32-bit accumulator in the worst case. */
    CAPSNET_ERROR_OVERFLOW = -4,
    /** The scratch buffer in the context is smaller than the `_get_buffer_size` companion asks. */
    CAPSNET_ERROR_BUFFER_SIZE = -5,
    /** A parameter lies outside its documented range (an activation clamp that is not
     * CAPSNET_Q7_MIN <= min < max <= CAPSNET_Q7_MAX). */
    CAPSNET_ERROR_ARGUMENT = -6
} capsnet_status;

/** Caller-owned scratch memory. The buffer needs no particular alignment. */
typedef struct {
    void *buf;    /**< scratch memory, may be reused between kernel calls */
    int32_t size; /**< size of `buf` in bytes */
} capsnet_context;

/** A height and a width: a kernel size, a stride or a padding. */
typedef struct {
    int32_t h;
    int32_t w;
} capsnet_hw;

/** Shape of an activation tensor in HWC (channels-last) layout. */
typedef struct {
    int32_t h;
    int32_t w;
    int32_t c;
} capsnet_hwc;

/** Fractional bits of a leaky ReLU's slope (capsnet_activation.leak): Q0.15. */
#define CAPSNET_LEAK_FRAC 15

/**
 * What a convolution applies to each output value as it requantizes it. A negative accumulator is
 * first multiplied by `leak` / 2^CAPSNET_LEAK_FRAC, inside the same rounding (a leaky ReLU); the
 * rounded value is then saturated to [min, max], as CMSIS-NN's activation range.
 * No activation is {CAPSNET_Q7_MIN, CAPSNET_Q7_MAX, 0}, a ReLU {0, CAPSNET_Q7_MAX, 0}, a leaky ReLU
 * of slope alpha {CAPSNET_Q7_MIN, CAPSNET_Q7_MAX, round(alpha * 2^15)}. Each core applies it to
 * its own share of the output, so an activation costs no pass and no barrier of its own. A clamp
 * with min >= max (a zero-initialized struct among them) is refused: it would make the output
 * constant; so is a leak outside [0, 2^15 - 1].
 */
typedef struct {
    int32_t min;  /**< smallest output value, CAPSNET_Q7_MIN .. max - 1 */
    int32_t max;  /**< largest output value, min + 1 .. CAPSNET_Q7_MAX */
    int32_t leak; /**< slope of the negative side in Q0.15, 0 (none) .. 32767 */
} capsnet_activation;

/** Parameters of a 2-D convolution. */
typedef struct {
    capsnet_hw kernel;  /**< kernel height and width */
    capsnet_hw stride;  /**< step between windows, at least 1 */
    capsnet_hw padding; /**< zero rows above and zero columns left of the input, below the kernel size;
                             the zeros below and right follow from the output size */
    int32_t input_frac;
    int32_t weight_frac;
    int32_t bias_frac;   /**< ignored when the kernel gets no bias */
    int32_t output_frac;
    capsnet_activation activation; /**< applied to every output value as it is requantized */
    /** One format per filter (output channel), or NULL: every filter in weight_frac. Filter c's
     * requantization and bias shifts are then input_frac + weight_fracs[c] - output_frac and
     * input_frac + weight_fracs[c] - bias_frac, each checked like the layer's; weight_frac still
     * has to be a valid format (the smallest of them, by convention). */
    const int8_t *weight_fracs;
} capsnet_conv_params;

/**
 * A share of a kernel's work, PULP-cluster style: core `core_id` of `num_cores` computes one
 * contiguous chunk of the output. Every core's writes are disjoint, and the result does not depend
 * on the number of cores; the caller synchronises the cores (a barrier) before the next layer.
 */
typedef struct {
    int32_t core_id;   /**< 0 .. num_cores - 1 */
    int32_t num_cores; /**< at least 1 */
    /** Kernels that synchronise inside (the capsule layer) call this on every core at the same
     * points; it returns once all num_cores cores have called it. May be NULL when num_cores is 1;
     * kernels that need no synchronisation ignore it. */
    void (*barrier)(void *barrier_arg);
    void *barrier_arg; /**< passed to `barrier` */
} capsnet_core_split;

/** Parameters of a primary capsule layer: a convolution whose output is cut into capsules and squashed. */
typedef struct {
    capsnet_conv_params conv; /**< `conv.output_frac` is the format of the capsules before squash */
    int32_t capsule_dim;      /**< D: consecutive groups of D output channels form one capsule */
    int32_t output_frac;      /**< format of the squashed capsules, in [0, CAPSNET_FRAC_MAX] */
} capsnet_primary_capsule_params;

/**
 * Parameters of a per-channel affine map y = scale[c] * x + offset[c] over HWC data (an inference
 * batch normalization that could not be folded into a convolution). Each channel's scale has a
 * format of its own, so that a small scale keeps its precision; the scaling is by shifts only.
 */
typedef struct {
    int32_t channels;          /**< C: the last, fastest axis of the data */
    int32_t input_frac;
    int32_t output_frac;
    const int16_t *scales;     /**< C values, scale c in Q(scale_fracs[c]) */
    const int8_t *scale_fracs; /**< C formats; input_frac + scale_fracs[c] - output_frac in [0, 31] */
    const int32_t *offsets;    /**< C values, offset c in Q(input_frac + scale_fracs[c]), the product's format */
} capsnet_channel_affine_params;

/**
 * Parameters of an instance normalization over HWC data (TensorFlow Addons' InstanceNormalization,
 * Efficient-CapsNet's smallNORB model): each channel normalized by its own mean and variance over
 * the image's positions, then y = gamma[c] * z + beta[c].
 */
typedef struct {
    int32_t channels;          /**< C: the last, fastest axis of the data */
    int32_t input_frac;
    int32_t output_frac;       /**< at most gamma_fracs[c] + 8 for every channel */
    uint32_t epsilon;          /**< epsilon in Q16 of the input's squared units, round(eps * 2^(2 input_frac + 16)); at most 2^30 */
    const int16_t *gammas;     /**< C values, gamma c in Q(gamma_fracs[c]) */
    const int8_t *gamma_fracs; /**< C formats in [0, CAPSNET_FRAC_MAX] */
    const int16_t *betas;      /**< C values in Q(output_frac) */
} capsnet_instance_norm_params;

/** Formats of the three operands of a matrix product or sum. */
typedef struct {
    int32_t a_frac;
    int32_t b_frac;
    int32_t out_frac;
} capsnet_mat_formats;

/** Shape of a capsule layer. */
typedef struct {
    int32_t num_inputs;  /**< I: input capsules */
    int32_t input_dim;   /**< Din: size of an input capsule */
    int32_t num_outputs; /**< J: output capsules */
    int32_t output_dim;  /**< D: size of an output capsule */
} capsnet_capsule_dims;

/** Formats of the tensors of one routing iteration r. */
typedef struct {
    int32_t logit_frac;     /**< b_r, the logits entering this iteration's softmax (b_0 is all zeros) */
    int32_t sum_frac;       /**< s_r = sum_i c_r u_hat, the squash input */
    int32_t output_frac;    /**< v_r = squash(s_r), in [0, CAPSNET_FRAC_MAX] */
    int32_t agreement_frac; /**< a_r = u_hat . v_r, added to b_r to give b_(r+1); unused in the last iteration */
} capsnet_routing_formats;

/** What the capsule layer keeps of the prediction vectors u_hat between routing iterations. */
typedef enum {
    /** All J*I*D of them, computed once, with the J*I logits and couplings of the current
     * iteration: every phase runs along the input capsules, the fewest instructions. */
    CAPSNET_ROUTING_KEEP_PREDICTIONS = 0,
    /** None: each input capsule's J*D predictions are computed again in every iteration, which costs
     * R times the prediction MACs, J*I bytes of logits and J*(1 + D) bytes per core (lean-memory
     * routing). */
    CAPSNET_ROUTING_RECOMPUTE_PREDICTIONS = 1
} capsnet_routing_memory;

/** How wide the capsule layer holds its prediction vectors u_hat and couplings c. */
typedef enum {
    /** int8: predictions in prediction_frac, couplings in Q0.7 (CAPSNET_SOFTMAX_FRAC). */
    CAPSNET_ROUTING_Q7 = 0,
    /** int16: predictions in prediction_frac with 16 bits, couplings in Q0.15
     * (CAPSNET_SOFTMAX_FRAC_Q15); the weighted sums are accumulated in 64 bits. Twice the scratch of
     * the predictions and couplings; the input, weights, logits, agreements and outputs stay int8. */
    CAPSNET_ROUTING_Q15 = 1
} capsnet_routing_precision;

/** Parameters of a capsule layer with dynamic routing. */
typedef struct {
    int32_t input_frac;      /**< u */
    int32_t weight_frac;     /**< W */
    int32_t prediction_frac; /**< u_hat = W u */
    int32_t routings;        /**< R, 1 to CAPSNET_ROUTINGS_MAX */
    const capsnet_routing_formats *iterations; /**< R entries; the output v has iterations[R-1].output_frac */
    capsnet_routing_memory memory;             /**< the same output either way; sets the scratch size */
    /** One format per output capsule j for its matrices W[j][.], or NULL: all in weight_frac. Output
     * capsule j's predictions then shift by input_frac + weight_fracs[j] - prediction_frac, checked
     * like the layer's; weight_frac still has to be a valid format. */
    const int8_t *weight_fracs;
    capsnet_routing_precision precision; /**< int8 or int16 predictions and couplings */
} capsnet_capsule_params;

/**
 * Formats of a capsule layer with Efficient-CapsNet's self-attention routing
 * (capsnet_self_attention_capsule_q7). Its shape is a capsnet_capsule_dims.
 */
typedef struct {
    int32_t input_frac;      /**< u */
    int32_t weight_frac;     /**< W */
    int32_t prediction_frac; /**< u_hat = W u */
    int32_t agreement_frac;  /**< a = u_hat . sum_k u_hat_k / sqrt(D), the softmax's logits */
    int32_t bias_frac;       /**< b, added to the softmax's Q0.7 coefficients */
    int32_t coupling_frac;   /**< c = softmax(a) + b */
    int32_t sum_frac;        /**< s = sum_i c u_hat, the squash input */
    int32_t output_frac;     /**< v = the exponential squash of s, in [0, CAPSNET_FRAC_MAX] */
} capsnet_self_attention_params;

#ifdef __cplusplus
}
#endif

#endif /* CAPSNET_TYPES_H */
