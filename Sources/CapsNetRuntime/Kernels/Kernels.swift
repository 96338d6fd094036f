@_exported import CCapsNet

/// Memory-safe Swift entry points to the C kernels.
///
/// Each function checks that its arrays have exactly the lengths their shapes imply (the C side
/// cannot), allocates the output and any scratch, calls the kernel and turns its status into a
/// ``KernelError``. Parameters are the C structs of `capsnet/capsnet_types.h`, whose comments state
/// the formats and layouts; the integer rules are in `capsnet/capsnet_functions.h`.
public enum Kernels {
    /// 2-D convolution, HWC; `weights` are `[Cout][Kh][Kw][Cin]`, `bias` has `Cout` values or is nil.
    public static func convolution(
        _ input: [Int8], shape: capsnet_hwc, weights: [Int8], bias: [Int8]?,
        parameters: capsnet_conv_params, outputShape: capsnet_hwc
    ) throws(KernelError) -> [Int8] {
        let name = "capsnet_conv_hwc_q7"
        try checkConvolutionArrays(name, input, shape, weights, bias, parameters, outputShape)
        var params = parameters
        return try run(name, outputCount: count(name, outputShape.h, outputShape.w, outputShape.c)) { output in
            var inDims = shape
            var outDims = outputShape
            return withScratch(capsnet_conv_hwc_q7_get_buffer_size(&params, &inDims)) { ctx in
                withOptionalPointer(bias) {
                    capsnet_conv_hwc_q7(ctx, &params, &inDims, input, weights, $0, &outDims, output)
                }
            }
        }
    }

    /// Depthwise 2-D convolution, HWC, one filter per channel; `weights` are `[Kh][Kw][C]`, `bias` has `C`
    /// values or is nil.
    public static func depthwiseConvolution(
        _ input: [Int8], shape: capsnet_hwc, weights: [Int8], bias: [Int8]?,
        parameters: capsnet_conv_params, outputShape: capsnet_hwc
    ) throws(KernelError) -> [Int8] {
        let name = "capsnet_depthwise_conv_hwc_q7"
        try expect(name, "input", input, count: count(name, shape.h, shape.w, shape.c))
        try expect(name, "weights", weights, count: count(name, parameters.kernel.h, parameters.kernel.w, shape.c))
        if let bias { try expect(name, "bias", bias, count: count(name, shape.c)) }
        var params = parameters
        return try run(name, outputCount: count(name, outputShape.h, outputShape.w, outputShape.c)) { output in
            var inDims = shape
            var outDims = outputShape
            return withScratch(capsnet_depthwise_conv_hwc_q7_get_buffer_size(&params, &inDims)) { ctx in
                withOptionalPointer(bias) {
                    capsnet_depthwise_conv_hwc_q7(ctx, &params, &inDims, input, weights, $0, &outDims, output)
                }
            }
        }
    }

    /// Convolution followed by squash of each group of `parameters.capsule_dim` output channels.
    public static func primaryCapsules(
        _ input: [Int8], shape: capsnet_hwc, weights: [Int8], bias: [Int8]?,
        parameters: capsnet_primary_capsule_params, outputShape: capsnet_hwc
    ) throws(KernelError) -> [Int8] {
        let name = "capsnet_primary_capsule_q7"
        try checkConvolutionArrays(name, input, shape, weights, bias, parameters.conv, outputShape)
        var params = parameters
        return try run(name, outputCount: count(name, outputShape.h, outputShape.w, outputShape.c)) { output in
            var inDims = shape
            var outDims = outputShape
            return withScratch(capsnet_primary_capsule_q7_get_buffer_size(&params, &inDims)) { ctx in
                withOptionalPointer(bias) {
                    capsnet_primary_capsule_q7(ctx, &params, &inDims, input, weights, $0, &outDims, output)
                }
            }
        }
    }

    /// ReLU in place.
    public static func relu(_ values: inout [Int8]) throws(KernelError) {
        let name = "capsnet_relu_q7"
        let size = try int32(name, values.count)
        try check(capsnet_relu_q7(&values, size), name)
    }

    /// Leaky ReLU in place: negatives times `leak` / 2^15.
    public static func leakyReLU(_ values: inout [Int8], leak: Int) throws(KernelError) {
        let name = "capsnet_leaky_relu_q7"
        let size = try int32(name, values.count)
        let slope = try int32(name, leak)
        try check(capsnet_leaky_relu_q7(&values, size, slope), name)
    }

    /// Per-channel affine map in place over `values.count / scales.count` positions: channel `c`
    /// times `scales[c]` in `Q(scaleFracs[c])`, plus `offsets[c]` in the product's format.
    public static func channelAffine(
        _ values: inout [Int8], scales: [Int16], scaleFracs: [Int8], offsets: [Int32], inputFrac: Int, outputFrac: Int
    ) throws(KernelError) {
        let name = "capsnet_channel_affine_q7"
        let (positions, channels) = try capsuleCount(name, values, scales.count)
        for (argument, count) in [("scale_fracs", scaleFracs.count), ("offsets", offsets.count)] where count != scales.count {
            throw KernelError(kernel: name, reason: .length(argument: argument, expected: scales.count, actual: count))
        }
        let formats = (try int32(name, inputFrac), try int32(name, outputFrac))
        let status = scales.withUnsafeBufferPointer { scales in
            scaleFracs.withUnsafeBufferPointer { fracs in
                offsets.withUnsafeBufferPointer { offsets in
                    var params = capsnet_channel_affine_params(
                        channels: channels, input_frac: formats.0, output_frac: formats.1, scales: scales.baseAddress,
                        scale_fracs: fracs.baseAddress, offsets: offsets.baseAddress)
                    return capsnet_channel_affine_q7(&values, positions, &params)
                }
            }
        }
        try check(status, name)
    }

    /// Instance normalization in place: each of the `gammas.count` channels by its own statistics.
    public static func instanceNormalization(
        _ values: inout [Int8], gammas: [Int16], gammaFracs: [Int8], betas: [Int16], epsilon: UInt32,
        inputFrac: Int, outputFrac: Int
    ) throws(KernelError) {
        let name = "capsnet_instance_norm_q7"
        let (positions, _) = try capsuleCount(name, values, gammas.count)
        for (argument, count) in [("gamma_fracs", gammaFracs.count), ("betas", betas.count)] where count != gammas.count {
            throw KernelError(kernel: name, reason: .length(argument: argument, expected: gammas.count, actual: count))
        }
        let formats = (try int32(name, inputFrac), try int32(name, outputFrac))
        let layer = QuantizedInstanceNormalization(gammas: gammas, gammaFracs: gammaFracs, betas: betas, epsilon: epsilon)
        let status = layer.withParameters(inputFrac: Int(formats.0), outputFrac: Int(formats.1)) { params in
            capsnet_instance_norm_q7(&values, positions, &params)
        }
        try check(status, name)
    }

    /// Squash of consecutive capsules of `capsuleDim` values.
    public static func squash(
        _ capsules: [Int8], capsuleDim: Int, inputFormat: QFormat, outputFormat: QFormat
    ) throws(KernelError) -> [Int8] {
        let name = "capsnet_squash_q7"
        let (n, dim) = try capsuleCount(name, capsules, capsuleDim)
        let inFrac = try int32(name, inputFormat.fractionalBits)
        let outFrac = try int32(name, outputFormat.fractionalBits)
        return try run(name, outputCount: capsules.count) { capsnet_squash_q7(capsules, n, dim, inFrac, outFrac, $0) }
    }

    /// Efficient-CapsNet's exponential squash of each capsule of `capsuleDim` values.
    public static func exponentialSquash(
        _ capsules: [Int8], capsuleDim: Int, inputFormat: QFormat, outputFormat: QFormat
    ) throws(KernelError) -> [Int8] {
        let name = "capsnet_exp_squash_q7"
        let (n, dim) = try capsuleCount(name, capsules, capsuleDim)
        let inFrac = try int32(name, inputFormat.fractionalBits)
        let outFrac = try int32(name, outputFormat.fractionalBits)
        return try run(name, outputCount: capsules.count) { capsnet_exp_squash_q7(capsules, n, dim, inFrac, outFrac, $0) }
    }

    /// Softmax of each row of `rowLength` logits, into ``QFormat/softmaxOutput``.
    public static func softmax(_ logits: [Int8], rowLength: Int, logitFormat: QFormat) throws(KernelError) -> [Int8] {
        let name = "capsnet_softmax_q7"
        let (rows, length) = try capsuleCount(name, logits, rowLength)
        let frac = try int32(name, logitFormat.fractionalBits)
        return try run(name, outputCount: logits.count) { output in
            withScratch(capsnet_softmax_q7_get_buffer_size()) { ctx in
                capsnet_softmax_q7(ctx, logits, rows, length, frac, output)
            }
        }
    }

    /// `a[m][k] * b[k][n]`.
    public static func matMult(
        _ a: [Int8], _ b: [Int8], m: Int, k: Int, n: Int, formats: capsnet_mat_formats
    ) throws(KernelError) -> [Int8] {
        try product("capsnet_mat_mult_q7", a, b, m, k, n, formats, capsnet_mat_mult_q7)
    }

    /// `a[m][k] * b[n][k]^T`.
    public static func matMultTransB(
        _ a: [Int8], _ b: [Int8], m: Int, k: Int, n: Int, formats: capsnet_mat_formats
    ) throws(KernelError) -> [Int8] {
        try product("capsnet_mat_mult_trans_b_q7", a, b, m, k, n, formats, capsnet_mat_mult_trans_b_q7)
    }

    /// Element-wise `a + b`, each operand in its own format.
    public static func matAdd(_ a: [Int8], _ b: [Int8], formats: capsnet_mat_formats) throws(KernelError) -> [Int8] {
        let name = "capsnet_mat_add_q7"
        try expect(name, "b", b, count: a.count)
        let size = try int32(name, a.count)
        var f = formats
        return try run(name, outputCount: a.count) { capsnet_mat_add_q7(a, b, size, &f, $0) }
    }

    /// The transpose of a `rows` x `cols` matrix.
    public static func transpose(_ matrix: [Int8], rows: Int, cols: Int) throws(KernelError) -> [Int8] {
        let name = "capsnet_mat_transpose_q7"
        try expect(name, "matrix", matrix, count: count(name, rows, cols))
        let (r, c) = (try int32(name, rows), try int32(name, cols))
        return try run(name, outputCount: matrix.count) { capsnet_mat_transpose_q7(matrix, r, c, $0) }
    }

    /// Capsule layer with dynamic routing: one entry of `iterations` per routing iteration; the
    /// output has the format of the last one's `output_frac`. `memory` changes the scratch and the
    /// time, never the output; `precision` sets the width of the predictions and couplings.
    public static func capsuleLayer(
        _ input: [Int8], weights: [Int8], dims: capsnet_capsule_dims, inputFormat: QFormat, weightFormat: QFormat,
        predictionFormat: QFormat, iterations: [capsnet_routing_formats], memory: RoutingMemory = .keepPredictions,
        capsuleWeightFormats: [QFormat]? = nil, precision: RoutingPrecision = .q7
    ) throws(KernelError) -> [Int8] {
        let name = "capsnet_capsule_layer_q7"
        try expect(name, "input", input, count: count(name, dims.num_inputs, dims.input_dim))
        let weightCount = try count(name, dims.num_outputs, dims.num_inputs, dims.output_dim, dims.input_dim)
        try expect(name, "weights", weights, count: weightCount)
        var d = dims
        let outputCount = try count(name, dims.num_outputs, dims.output_dim)
        let routings = try int32(name, iterations.count)
        let (inFrac, weightFrac, predictionFrac) = (
            try int32(name, inputFormat.fractionalBits), try int32(name, weightFormat.fractionalBits),
            try int32(name, predictionFormat.fractionalBits)
        )
        // One format per output capsule (QFormat's range fits int8).
        let fracs = capsuleWeightFormats.map { $0.map { Int8($0.fractionalBits) } }
        if let fracs { try expect(name, "capsule weight formats", fracs, count: Int(dims.num_outputs)) }
        return try run(name, outputCount: outputCount) { output in
            iterations.withUnsafeBufferPointer { formats in
                withOptionalPointer(fracs) { fracs in
                    var params = capsnet_capsule_params(
                        input_frac: inFrac, weight_frac: weightFrac, prediction_frac: predictionFrac,
                        routings: routings, iterations: formats.baseAddress, memory: memory.cValue, weight_fracs: fracs,
                        precision: precision.cValue)
                    return withScratch(capsnet_capsule_layer_q7_get_buffer_size(&params, &d)) {
                        capsnet_capsule_layer_q7($0, &params, &d, input, weights, output)
                    }
                }
            }
        }
    }

    /// Capsule layer with Efficient-CapsNet's self-attention routing: `weights` are `[J][I][D][Din]`, `bias` `[J][I]`.
    public static func selfAttentionCapsule(
        _ input: [Int8], weights: [Int8], bias: [Int8], dims: capsnet_capsule_dims,
        parameters: capsnet_self_attention_params
    ) throws(KernelError) -> [Int8] {
        let name = "capsnet_self_attention_capsule_q7"
        try expect(name, "input", input, count: count(name, dims.num_inputs, dims.input_dim))
        try expect(
            name, "weights", weights, count: count(name, dims.num_outputs, dims.num_inputs, dims.output_dim, dims.input_dim))
        try expect(name, "bias", bias, count: count(name, dims.num_outputs, dims.num_inputs))
        var d = dims
        var params = parameters
        return try run(name, outputCount: count(name, dims.num_outputs, dims.output_dim)) { output in
            return withScratch(capsnet_self_attention_capsule_q7_get_buffer_size(&d)) {
                capsnet_self_attention_capsule_q7($0, &params, &d, input, weights, bias, output)
            }
        }
    }

    /// Length of each capsule of `capsuleDim` values.
    public static func capsuleLengths(
        _ capsules: [Int8], capsuleDim: Int, inputFormat: QFormat, outputFormat: QFormat
    ) throws(KernelError) -> [Int8] {
        let name = "capsnet_capsule_length_q7"
        let (n, dim) = try capsuleCount(name, capsules, capsuleDim)
        let inFrac = try int32(name, inputFormat.fractionalBits)
        let outFrac = try int32(name, outputFormat.fractionalBits)
        return try run(name, outputCount: Int(n)) { capsnet_capsule_length_q7(capsules, n, dim, inFrac, outFrac, $0) }
    }
}

// MARK: - Argument checks and plumbing

extension Kernels {
    /// Allocates the output, runs `body` on it and throws for a status other than `CAPSNET_OK`.
    private static func run(
        _ name: String, outputCount: Int, _ body: (UnsafeMutablePointer<Int8>?) -> capsnet_status
    ) throws(KernelError) -> [Int8] {
        var output = [Int8](repeating: 0, count: outputCount)
        let status = output.withUnsafeMutableBufferPointer { body($0.baseAddress) }
        try check(status, name)
        return output
    }

    /// Either matrix product: b holds k * n values in both layouts.
    private static func product(
        _ name: String, _ a: [Int8], _ b: [Int8], _ m: Int, _ k: Int, _ n: Int, _ formats: capsnet_mat_formats,
        _ kernel: (
            UnsafePointer<Int8>?, UnsafePointer<Int8>?, Int32, Int32, Int32, UnsafePointer<capsnet_mat_formats>?,
            UnsafeMutablePointer<Int8>?
        ) -> capsnet_status
    ) throws(KernelError) -> [Int8] {
        try expect(name, "a", a, count: count(name, m, k))
        try expect(name, "b", b, count: count(name, k, n))
        let (m32, k32, n32) = (try int32(name, m), try int32(name, k), try int32(name, n))
        var f = formats
        return try run(name, outputCount: count(name, m, n)) { kernel(a, b, m32, k32, n32, &f, $0) }
    }

    /// Runs `body` with a context of `companion` bytes, what the kernel's `_get_buffer_size` returned;
    /// a negative one is its status, returned without running the kernel.
    private static func withScratch(
        _ companion: Int32, _ body: (UnsafePointer<capsnet_context>) -> capsnet_status
    ) -> capsnet_status {
        if companion < 0 { return capsnet_status(rawValue: companion) }
        var scratch = [UInt8](repeating: 0, count: max(Int(companion), 1))
        return scratch.withUnsafeMutableBytes { raw in
            var ctx = capsnet_context(buf: raw.baseAddress, size: companion)
            return body(&ctx)
        }
    }

    private static func checkConvolutionArrays(
        _ name: String, _ input: [Int8], _ shape: capsnet_hwc, _ weights: [Int8], _ bias: [Int8]?,
        _ parameters: capsnet_conv_params, _ outputShape: capsnet_hwc
    ) throws(KernelError) {
        try expect(name, "input", input, count: count(name, shape.h, shape.w, shape.c))
        let filterCount = try count(name, outputShape.c, parameters.kernel.h, parameters.kernel.w, shape.c)
        try expect(name, "weights", weights, count: filterCount)
        if let bias { try expect(name, "bias", bias, count: count(name, outputShape.c)) }
    }

    /// Splits `values` into vectors of `length`: (vector count, length) as Int32.
    private static func capsuleCount(
        _ name: String, _ values: [Int8], _ length: Int
    ) throws(KernelError) -> (Int32, Int32) {
        guard length >= 1, !values.isEmpty, values.count % length == 0 else {
            throw KernelError(kernel: name, reason: .dimension)
        }
        return (try int32(name, values.count / length), try int32(name, length))
    }

    private static func expect(_ name: String, _ argument: String, _ array: [Int8], count: Int) throws(KernelError) {
        guard array.count == count else {
            throw KernelError(kernel: name, reason: .length(argument: argument, expected: count, actual: array.count))
        }
    }

    /// The product of `factors` as an element count the kernels can index: every factor at least 1,
    /// the product at most Int32.max.
    private static func count(_ name: String, _ factors: Int...) throws(KernelError) -> Int {
        var product = 1
        for factor in factors {
            let (next, overflow) = product.multipliedReportingOverflow(by: factor)
            guard factor >= 1, !overflow, next <= Int(Int32.max) else {
                throw KernelError(kernel: name, reason: .dimension)
            }
            product = next
        }
        return product
    }

    private static func count(_ name: String, _ factors: Int32...) throws(KernelError) -> Int {
        var product = 1
        for factor in factors { product = try count(name, product, Int(factor)) }
        return product
    }

    private static func int32(_ name: String, _ value: Int) throws(KernelError) -> Int32 {
        guard let value = Int32(exactly: value) else { throw KernelError(kernel: name, reason: .dimension) }
        return value
    }
}
