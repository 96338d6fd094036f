import CapsNetRuntime
import Testing

@Suite("Convolution")
struct ConvolutionTests {
    /// Runs the C kernel and the reference on one case; returns a description on mismatch.
    static func mismatch(_ c: Reference.Conv, input: [Int8], weights: [Int8], bias: [Int8]?) throws -> String? {
        var params = capsnet_conv_params(
            kernel: capsnet_hw(h: Int32(c.kH), w: Int32(c.kW)),
            stride: capsnet_hw(h: Int32(c.strideH), w: Int32(c.strideW)),
            padding: capsnet_hw(h: Int32(c.padH), w: Int32(c.padW)), input_frac: Int32(c.inFrac),
            weight_frac: Int32(c.weightFrac), bias_frac: Int32(c.biasFrac), output_frac: Int32(c.outFrac),
            activation: c.activation, weight_fracs: nil)
        let fracs = c.weightFracs.map { $0.map { Int8($0) } } ?? []
        let actual = try fracs.withUnsafeBufferPointer { fracs in
            params.weight_fracs = c.weightFracs == nil ? nil : fracs.baseAddress
            return try Kernels.convolution(
                input, shape: capsnet_hwc(h: Int32(c.inH), w: Int32(c.inW), c: Int32(c.inC)), weights: weights,
                bias: bias, parameters: params,
                outputShape: capsnet_hwc(h: Int32(c.outH), w: Int32(c.outW), c: Int32(c.outC)))
        }
        let expected = Reference.convolution(c, input: input, weights: weights, bias: bias)
        return actual == expected ? nil : "\(c) bias=\(bias != nil)\nexpected \(expected)\nactual   \(actual)"
    }

    /// Random formats with a valid output shift, half of them near what a calibrated layer uses
    /// (most outputs neither zero nor saturated); the bias format leaves the accumulator room.
    static func randomFormats(_ c: inout Reference.Conv, _ g: inout SeededGenerator) {
        if g.chance(0.5) {
            c.inFrac = g.int(4...7)
            c.weightFrac = g.int(5...8)
            c.outFrac = c.inFrac + c.weightFrac - g.int(6...10)
        } else {
            repeat {
                c.inFrac = g.frac()
                c.weightFrac = g.frac()
            } while c.inFrac + c.weightFrac < -8
            c.outFrac = g.productFrac(c.inFrac, c.weightFrac)!
        }
        // A bias shift of at most 16 keeps K * 2^14 + 2^(7+16) below 2^31 for these small windows.
        let sum = c.inFrac + c.weightFrac
        c.biasFrac = g.int(max(-8, sum - 16)...min(15, sum))
    }

    /// None, a ReLU, a leaky ReLU, or any other clamp with or without a leak, applied as each output
    /// value is requantized.
    static func randomActivation(_ c: inout Reference.Conv, _ g: inout SeededGenerator) {
        c.activationLeak = 0
        switch g.int(0...3) {
        case 0: (c.activationMin, c.activationMax) = (-128, 127)
        case 1: (c.activationMin, c.activationMax) = (0, 127)
        case 2:
            (c.activationMin, c.activationMax) = (-128, 127)
            c.activationLeak = g.chance(0.2) ? 32767 : g.int(1...32767)
        default:
            c.activationMin = g.int(-128...126)
            c.activationMax = g.int(c.activationMin + 1...127)
            c.activationLeak = g.chance(0.5) ? g.int(0...32767) : 0
        }
    }

    @Test("bit-exact on random shapes, strides, paddings, formats and activations")
    func randomCases() throws {
        var g = SeededGenerator(seed: 0xC0DE)
        for _ in 0..<400 {
            var c = Reference.Conv(
                inH: g.int(1...9), inW: g.int(1...9), inC: g.int(1...5), outH: 0, outW: 0, outC: g.int(1...6),
                kH: g.int(1...5), kW: g.int(1...5), strideH: g.int(1...3), strideW: g.int(1...3), padH: 0, padW: 0,
                inFrac: 0, weightFrac: 0, biasFrac: 0, outFrac: 0)
            c.padH = g.int(0...c.kH - 1)
            c.padW = g.int(0...c.kW - 1)
            // The largest output whose last window still starts inside the input, or a smaller one.
            let maxH = (c.inH - 1 + c.padH) / c.strideH + 1
            let maxW = (c.inW - 1 + c.padW) / c.strideW + 1
            c.outH = g.chance(0.8) ? maxH : g.int(1...maxH)
            c.outW = g.chance(0.8) ? maxW : g.int(1...maxW)
            Self.randomFormats(&c, &g)
            Self.randomActivation(&c, &g)
            let input = g.int8s(c.inH * c.inW * c.inC)
            let weights = g.int8s(c.outC * c.kH * c.kW * c.inC)
            let bias = g.chance(0.75) ? g.int8s(c.outC) : nil
            let problem = try Self.mismatch(c, input: input, weights: weights, bias: bias)
            #expect(problem == nil, "\(problem ?? "")")
        }
    }

    @Test("per-filter formats: each output channel requantized with its own shift, bias shift and rounding")
    func perFilterFormats() throws {
        var g = SeededGenerator(seed: 0xF17E)
        for _ in 0..<300 {
            var c = Reference.Conv(
                inH: g.int(1...7), inW: g.int(1...7), inC: g.int(1...4), outH: 0, outW: 0, outC: g.int(2...9),
                kH: g.int(1...4), kW: g.int(1...4), strideH: g.int(1...2), strideW: g.int(1...2), padH: 0, padW: 0,
                inFrac: 0, weightFrac: 0, biasFrac: 0, outFrac: 0)
            c.padH = g.int(0...c.kH - 1)
            c.padW = g.int(0...c.kW - 1)
            c.outH = (c.inH - 1 + c.padH) / c.strideH + 1
            c.outW = (c.inW - 1 + c.padW) / c.strideW + 1
            Self.randomFormats(&c, &g)
            Self.randomActivation(&c, &g)
            // Up to four bits finer per filter, within the kernels' formats and shifts (the bias's
            // shift, at most 16 + 4, still leaves these small windows their headroom).
            let finest = min(15, c.outFrac + 31 - c.inFrac)
            c.weightFracs = (0..<c.outC).map { _ in min(c.weightFrac + g.int(0...4), max(finest, c.weightFrac)) }
            let problem = try Self.mismatch(
                c, input: g.int8s(c.inH * c.inW * c.inC), weights: g.int8s(c.outC * c.kH * c.kW * c.inC),
                bias: g.chance(0.75) ? g.int8s(c.outC) : nil)
            #expect(problem == nil, "\(problem ?? "")")
        }
    }

    @Test("a filter's format the kernel cannot shift is refused, and nothing is written")
    func perFilterRefusal() throws {
        let c = Reference.Conv(
            inH: 3, inW: 3, inC: 1, outH: 1, outW: 1, outC: 2, kH: 3, kW: 3, strideH: 1, strideW: 1, padH: 0, padW: 0,
            inFrac: 7, weightFrac: 7, biasFrac: 7, outFrac: 0)
        // A format past the kernels' range, a valid one whose shift would be negative, a bad first filter.
        for fracs: [Int8] in [[7, 16], [7, -8], [-9, 7]] {
            var params = capsnet_conv_params(
                kernel: capsnet_hw(h: 3, w: 3), stride: capsnet_hw(h: 1, w: 1), padding: capsnet_hw(h: 0, w: 0),
                input_frac: 7, weight_frac: 7, bias_frac: 7, output_frac: 0, activation: c.activation, weight_fracs: nil)
            var output: [Int8] = [99, 99]
            var inDims = capsnet_hwc(h: 3, w: 3, c: 1)
            var outDims = capsnet_hwc(h: 1, w: 1, c: 2)
            var scratch = [UInt8](repeating: 0, count: 1024)
            let status = fracs.withUnsafeBufferPointer { fracs in
                params.weight_fracs = fracs.baseAddress
                return scratch.withUnsafeMutableBytes { buffer in
                    var context = capsnet_context(buf: buffer.baseAddress, size: Int32(buffer.count))
                    return capsnet_conv_hwc_q7(
                        &context, &params, &inDims, [Int8](repeating: 1, count: 9), [Int8](repeating: 1, count: 18),
                        [1, 1], &outDims, &output)
                }
            }
            #expect(status == CAPSNET_ERROR_SHIFT, "\(fracs)")
            #expect(output == [99, 99])
        }
    }

    @Test("every stride and padding on both axes, square and non-square kernels")
    func strideAndPaddingSweep() throws {
        var g = SeededGenerator(seed: 7)
        // Every (kernel, stride, padding) of one axis with kernels up to 3; then every pair of axes.
        let axes = (1...3).flatMap { k in (1...3).flatMap { s in (0..<k).map { pad in (k: k, s: s, pad: pad) } } }
        for h in axes {
            for w in axes {
                var c = Reference.Conv(
                    inH: g.int(1...8), inW: g.int(1...8), inC: g.int(1...3), outH: 0, outW: 0, outC: g.int(1...3),
                    kH: h.k, kW: w.k, strideH: h.s, strideW: w.s, padH: h.pad, padW: w.pad,
                    inFrac: 0, weightFrac: 0, biasFrac: 0, outFrac: 0)
                c.outH = (c.inH - 1 + h.pad) / h.s + 1
                c.outW = (c.inW - 1 + w.pad) / w.s + 1
                Self.randomFormats(&c, &g)
                let problem = try Self.mismatch(
                    c, input: g.int8s(c.inH * c.inW * c.inC), weights: g.int8s(c.outC * h.k * w.k * c.inC),
                    bias: g.int8s(c.outC))
                #expect(problem == nil, "\(problem ?? "")")
            }
        }
    }

    @Test("Keras 'same' padding: a 28x28 input, 7x7 kernel, stride 2 gives 14x14")
    func kerasSamePadding() throws {
        var g = SeededGenerator(seed: 28)
        // Keras pads 5 rows in all, 2 above and 3 below; the kernel takes the top 2 and infers the rest.
        let c = Reference.Conv(
            inH: 28, inW: 28, inC: 2, outH: 14, outW: 14, outC: 3, kH: 7, kW: 7, strideH: 2, strideW: 2,
            padH: 2, padW: 2, inFrac: 7, weightFrac: 7, biasFrac: 7, outFrac: 5)
        let problem = try Self.mismatch(c, input: g.int8s(28 * 28 * 2), weights: g.int8s(3 * 49 * 2), bias: g.int8s(3))
        #expect(problem == nil, "\(problem ?? "")")
    }

    @Test("the largest window the accumulator allows, with every product at its extreme")
    func maximumAccumulator() throws {
        // 131071 * 2^14 = 2^31 - 2^14 is the largest sum of products that the guard admits.
        let k = 131_071
        let low = [Int8](repeating: -128, count: k)
        let high = [Int8](repeating: 127, count: k)
        func conv(inFrac: Int, weightFrac: Int, biasFrac: Int = 0, outFrac: Int) -> Reference.Conv {
            Reference.Conv(
                inH: 1, inW: 1, inC: k, outH: 1, outW: 1, outC: 1, kH: 1, kW: 1, strideH: 1, strideW: 1, padH: 0,
                padW: 0,
                inFrac: inFrac, weightFrac: weightFrac, biasFrac: biasFrac, outFrac: outFrac)
        }
        // Shift 31: (2^31 - 2^14) / 2^31 rounds to 1.
        #expect(
            try Self.mismatch(conv(inFrac: 15, weightFrac: 8, outFrac: -8), input: low, weights: low, bias: nil) == nil)
        // The most negative sum, -128 * 127 per product, at shift 0 saturates.
        #expect(
            try Self.mismatch(conv(inFrac: 4, weightFrac: 4, outFrac: 8), input: low, weights: high, bias: nil) == nil)
        // The 2^14 - 1 of headroom leaves room for a bias shifted by 6 (2^7 * 2^6 = 2^13), of either sign.
        let biased = conv(inFrac: 7, weightFrac: 7, biasFrac: 8, outFrac: -8)
        #expect(try Self.mismatch(biased, input: low, weights: low, bias: [127]) == nil)
        #expect(try Self.mismatch(biased, input: low, weights: high, bias: [-128]) == nil)
        let positive = try Kernels.convolution(
            low, shape: capsnet_hwc(h: 1, w: 1, c: Int32(k)), weights: low, bias: nil,
            parameters: capsnet_conv_params(
                kernel: capsnet_hw(h: 1, w: 1), stride: capsnet_hw(h: 1, w: 1), padding: capsnet_hw(h: 0, w: 0),
                input_frac: 15, weight_frac: 8, bias_frac: 0, output_frac: -8, activation: Activation.none.cValue, weight_fracs: nil),
            outputShape: capsnet_hwc(h: 1, w: 1, c: 1))
        #expect(positive == [1])
    }
}
