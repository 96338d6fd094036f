import CapsNetRuntime
import Testing

/// capsnet_depthwise_conv_hwc_q7 against the convolution kernel on block-diagonal filters: a
/// filter that is zero off its own channel is a depthwise filter, and both kernels are exact with
/// the same rounding, so they must give the same bytes.
@Suite("Depthwise convolution")
struct DepthwiseConvolutionTests {
    /// A random case of the split tests' shapes with one filter per channel.
    static func randomCase(_ g: inout SeededGenerator) -> Reference.Conv {
        var c = SplitTests.randomCase(&g)
        c.outC = c.inC
        return c
    }

    /// Depthwise `[Kh][Kw][C]` filters as the convolution's `[C][Kh][Kw][C]`, zero off the diagonal.
    static func blockDiagonal(_ depthwise: [Int8], _ c: Reference.Conv) -> [Int8] {
        var full = [Int8](repeating: 0, count: c.inC * c.kH * c.kW * c.inC)
        for o in 0..<c.inC {
            for tap in 0..<c.kH * c.kW {
                full[(o * c.kH * c.kW + tap) * c.inC + o] = depthwise[tap * c.inC + o]
            }
        }
        return full
    }

    @Test("equal to the convolution on block-diagonal filters, and 1 to 8 cores write the same bytes")
    func matchesConvolution() throws {
        var g = SeededGenerator(seed: 0xDE97)
        for _ in 0..<150 {
            let c = Self.randomCase(&g)
            var params = SplitTests.parameters(c)
            var inDims = capsnet_hwc(h: Int32(c.inH), w: Int32(c.inW), c: Int32(c.inC))
            var outDims = capsnet_hwc(h: Int32(c.outH), w: Int32(c.outW), c: Int32(c.inC))
            let input = g.int8s(c.inH * c.inW * c.inC)
            let weights = g.int8s(c.kH * c.kW * c.inC)
            let bias: [Int8]? = g.chance(0.8) ? g.int8s(c.inC) : nil
            let expected = try Kernels.convolution(
                input, shape: inDims, weights: Self.blockDiagonal(weights, c), bias: bias, parameters: params,
                outputShape: outDims)
            #expect(capsnet_depthwise_conv_hwc_q7_get_buffer_size(&params, &inDims) == 0)
            var context = capsnet_context(buf: nil, size: 0)
            var output = [Int8](repeating: 99, count: expected.count)
            let status = bias.withOptionalPointer { biasPointer in
                capsnet_depthwise_conv_hwc_q7(&context, &params, &inDims, input, weights, biasPointer, &outDims, &output)
            }
            #expect(status == CAPSNET_OK, "\(c)")
            #expect(output == expected, "\(c)")
            for cores in 2...8 {
                var shared = [Int8](repeating: 99, count: expected.count)
                for core in (0..<cores).reversed() {
                    var split = capsnet_core_split(core_id: Int32(core), num_cores: Int32(cores), barrier: nil, barrier_arg: nil)
                    let result = bias.withOptionalPointer { biasPointer in
                        capsnet_depthwise_conv_hwc_q7_split(
                            &context, &params, &inDims, input, weights, biasPointer, &outDims, &shared, &split)
                    }
                    #expect(result == CAPSNET_OK)
                }
                #expect(shared == expected, "\(c), \(cores) cores")
            }
        }
    }

    @Test("per-channel formats: equal to the convolution with the same per-filter formats")
    func perChannelFormats() throws {
        var g = SeededGenerator(seed: 0xDEF1)
        for _ in 0..<100 {
            let c = Self.randomCase(&g)
            let fracs = (0..<c.inC).map { _ in Int8(min(c.weightFrac + g.int(0...3), 15)) }
            var params = SplitTests.parameters(c)
            var inDims = capsnet_hwc(h: Int32(c.inH), w: Int32(c.inW), c: Int32(c.inC))
            var outDims = capsnet_hwc(h: Int32(c.outH), w: Int32(c.outW), c: Int32(c.inC))
            let input = g.int8s(c.inH * c.inW * c.inC)
            let weights = g.int8s(c.kH * c.kW * c.inC)
            let bias: [Int8]? = g.chance(0.8) ? g.int8s(c.inC) : nil
            var output = [Int8](repeating: 99, count: c.outH * c.outW * c.inC)
            let (expected, status) = try fracs.withUnsafeBufferPointer { fracs in
                params.weight_fracs = fracs.baseAddress
                let expected = try Kernels.convolution(
                    input, shape: inDims, weights: Self.blockDiagonal(weights, c), bias: bias, parameters: params,
                    outputShape: outDims)
                var context = capsnet_context(buf: nil, size: 0)
                let status = bias.withOptionalPointer { biasPointer in
                    capsnet_depthwise_conv_hwc_q7(&context, &params, &inDims, input, weights, biasPointer, &outDims, &output)
                }
                return (expected, status)
            }
            #expect(status == CAPSNET_OK, "\(c)")
            #expect(output == expected, "\(c) \(fracs)")
        }
    }

    @Test("invalid arguments are refused and nothing is written")
    func refusals() {
        let base = capsnet_conv_params(
            kernel: capsnet_hw(h: 2, w: 2), stride: capsnet_hw(h: 1, w: 1), padding: capsnet_hw(h: 0, w: 0),
            input_frac: 7, weight_frac: 7, bias_frac: 7, output_frac: 7,
            activation: capsnet_activation(min: -128, max: 127, leak: 0), weight_fracs: nil)
        let input = [Int8](repeating: 3, count: 3 * 3 * 2)
        let weights = [Int8](repeating: 1, count: 2 * 2 * 2)
        let cases: [(String, capsnet_status, (inout capsnet_conv_params, inout capsnet_hwc, inout capsnet_hwc) -> Void)] = [
            ("output channels differ from the input's", CAPSNET_ERROR_DIMENSION, { _, _, out in out.c = 3 }),
            ("padding not below the kernel", CAPSNET_ERROR_DIMENSION, { p, _, _ in p.padding.h = 2 }),
            ("a last window past the input", CAPSNET_ERROR_DIMENSION, { _, _, out in out.w = 4 }),
            ("a width above CAPSNET_DIM_MAX", CAPSNET_ERROR_DIMENSION, { _, input, _ in input.w = CAPSNET_DIM_MAX + 1 }),
            ("a negative shift", CAPSNET_ERROR_SHIFT, { p, _, _ in p.output_frac = 15 }),
            ("a clamp with min >= max", CAPSNET_ERROR_ARGUMENT, { p, _, _ in p.activation.min = 127 }),
            ("a leak above 32767", CAPSNET_ERROR_ARGUMENT, { p, _, _ in p.activation.leak = 32768 }),
            (
                "a window whose sums could overflow", CAPSNET_ERROR_OVERFLOW,
                { p, input, out in
                    p.kernel = capsnet_hw(h: 512, w: 512)
                    (input.h, input.w, out.h, out.w) = (512, 512, 1, 1)
                }
            ),
        ]
        for (name, expected, change) in cases {
            var params = base
            var inDims = capsnet_hwc(h: 3, w: 3, c: 2)
            var outDims = capsnet_hwc(h: 2, w: 2, c: 2)
            change(&params, &inDims, &outDims)
            var context = capsnet_context(buf: nil, size: 0)
            var output = [Int8](repeating: 99, count: 8)
            // The tensors are those of the valid call: a kernel that refuses must not read them.
            #expect(
                capsnet_depthwise_conv_hwc_q7(&context, &params, &inDims, input, weights, nil, &outDims, &output)
                    == expected, "\(name)")
            #expect(output == [Int8](repeating: 99, count: 8), "\(name)")
        }
        var params = base
        var inDims = capsnet_hwc(h: 3, w: 3, c: 2)
        var outDims = capsnet_hwc(h: 2, w: 2, c: 2)
        var output = [Int8](repeating: 0, count: 8)
        #expect(capsnet_depthwise_conv_hwc_q7(nil, &params, &inDims, input, weights, nil, &outDims, &output) == CAPSNET_ERROR_NULL_POINTER)
        var context = capsnet_context(buf: nil, size: 0)
        var split = capsnet_core_split(core_id: 0, num_cores: CAPSNET_CORES_MAX + 1, barrier: nil, barrier_arg: nil)
        #expect(
            capsnet_depthwise_conv_hwc_q7_split(&context, &params, &inDims, input, weights, nil, &outDims, &output, &split)
                == CAPSNET_ERROR_DIMENSION)
        #expect(capsnet_depthwise_conv_hwc_q7_split_get_buffer_size(&params, &inDims, 0) == CAPSNET_ERROR_DIMENSION.rawValue)
    }
}

extension Optional where Wrapped == [Int8] {
    /// The array's storage, or nil.
    func withOptionalPointer<R>(_ body: (UnsafePointer<Int8>?) -> R) -> R {
        switch self {
        case .some(let array): array.withUnsafeBufferPointer { body($0.baseAddress) }
        case .none: body(nil)
        }
    }
}
