import CapsNetRuntime
import Testing

@Suite("Self-attention routing")
struct SelfAttentionTests {
    // MARK: Exponential squash

    @Test("the exponential squash is bit-exact on random capsules and every format pair")
    func squashBitExact() throws {
        var g = SeededGenerator(seed: 0x5E1F)
        for inFrac in QFormat.supportedFractionalBits {
            for outFrac in 0...15 {
                let dim = g.int(1...16)
                let capsules = g.int8s(dim * g.int(1...12))
                let actual = try Kernels.exponentialSquash(
                    capsules, capsuleDim: dim, inputFormat: QFormat(fractionalBits: inFrac),
                    outputFormat: QFormat(fractionalBits: outFrac))
                let expected = Reference.exponentialSquash(capsules, dim: dim, inFrac: inFrac, outFrac: outFrac)
                #expect(actual == expected, "dim \(dim) Q\(inFrac) -> Q\(outFrac): \(capsules)")
            }
        }
    }

    @Test("the exponential squash of zeros, the smallest and largest norms, and |s| around 32")
    func squashEdges() throws {
        var cases: [([Int8], Int)] = [
            ([Int8](repeating: 0, count: 8), 4), ([-128, 127, 0, 1, -1], 1), ([Int8](repeating: -128, count: 64), 64),
            ([Int8](repeating: 127, count: 3 * 5), 5), ([Int8](repeating: -128, count: 131_071), 131_071),
        ]
        // |s| = q * 2^-f just below, at and above 32, where exp(-|s|) becomes 0.
        cases.append(([31, 32, 33, -32, 64, 127], 1))
        for (capsules, dim) in cases {
            for (inFrac, outFrac) in [(-8, 0), (-8, 15), (0, 7), (0, 15), (7, 7), (15, 15), (15, 0), (3, 9)] {
                let actual = try Kernels.exponentialSquash(
                    capsules, capsuleDim: dim, inputFormat: QFormat(fractionalBits: inFrac),
                    outputFormat: QFormat(fractionalBits: outFrac))
                #expect(actual == Reference.exponentialSquash(capsules, dim: dim, inFrac: inFrac, outFrac: outFrac))
            }
        }
        let zeros = try Kernels.exponentialSquash(
            [0, 0, 0], capsuleDim: 3, inputFormat: .init(fractionalBits: 3), outputFormat: .init(fractionalBits: 7))
        #expect(zeros == [0, 0, 0])
        // |s| = 127 saturates the factor to 1: v = s / |s| in Q0.7 is 127, and -1 for -1 of 128.
        let unit = try Kernels.exponentialSquash(
            [127], capsuleDim: 1, inputFormat: .init(fractionalBits: 0), outputFormat: .init(fractionalBits: 7))
        #expect(unit == [127])
    }

    @Test("the exponential squash stays within 0.5 + 2^-7 LSB of the float squash wherever the result fits int8")
    func squashAccuracy() throws {
        var g = SeededGenerator(seed: 0x5E20)
        var worst = 0.0
        for _ in 0..<4000 {
            let inFormat = QFormat(fractionalBits: g.frac())
            let outFormat = QFormat(fractionalBits: g.int(0...15))
            let dim = g.int(1...16)
            let capsules = g.int8s(dim * g.int(1...4))
            let actual = try Kernels.exponentialSquash(
                capsules, capsuleDim: dim, inputFormat: inFormat, outputFormat: outFormat)
            let exact = Reference.exponentialSquashFloat(inFormat.dequantize(capsules), dim: dim)
            for (q, v) in zip(actual, exact) {
                let target = v / outFormat.step
                guard target >= -128, target <= 127 else { continue }
                worst = max(worst, abs(Double(q) - target))
            }
        }
        print("exponential squash: max error against float \(worst) LSB of the output format")
        #expect(worst <= 0.5 + 1.0 / 128)
        #expect(worst > 0.5, "random capsules must reach the rounding bound, or the test measures nothing")
    }

    // MARK: The layer

    static func dims(_ l: Reference.SelfAttentionLayer) -> capsnet_capsule_dims {
        capsnet_capsule_dims(
            num_inputs: Int32(l.inputs), input_dim: Int32(l.inputDim), num_outputs: Int32(l.outputs),
            output_dim: Int32(l.outputDim))
    }

    static func parameters(_ l: Reference.SelfAttentionLayer) -> capsnet_self_attention_params {
        capsnet_self_attention_params(
            input_frac: Int32(l.inputFrac), weight_frac: Int32(l.weightFrac), prediction_frac: Int32(l.predictionFrac),
            agreement_frac: Int32(l.agreementFrac), bias_frac: Int32(l.biasFrac), coupling_frac: Int32(l.couplingFrac),
            sum_frac: Int32(l.sumFrac), output_frac: Int32(l.outputFrac))
    }

    static func run(_ l: Reference.SelfAttentionLayer, input: [Int8], weights: [Int8], bias: [Int8]) throws -> [Int8] {
        try Kernels.selfAttentionCapsule(
            input, weights: weights, bias: bias, dims: dims(l), parameters: parameters(l))
    }

    /// Random formats that satisfy every shift constraint of the layer.
    static func randomLayer(
        _ g: inout SeededGenerator, inputs: Int, inputDim: Int, outputs: Int, outputDim: Int
    ) -> Reference.SelfAttentionLayer {
        while true {
            let (inFrac, weightFrac) = (g.frac(), g.frac())
            guard let prediction = g.productFrac(inFrac, weightFrac) else { continue }
            let agreement = g.int(max(-8, 2 * prediction - 32)...min(15, 30 + 2 * prediction))
            let bias = g.frac()
            let coupling = g.int(-8...max(7, bias))
            guard let sum = g.productFrac(coupling, prediction) else { continue }
            return Reference.SelfAttentionLayer(
                inputs: inputs, inputDim: inputDim, outputs: outputs, outputDim: outputDim, inputFrac: inFrac,
                weightFrac: weightFrac, predictionFrac: prediction, agreementFrac: agreement, biasFrac: bias,
                couplingFrac: coupling, sumFrac: sum, outputFrac: g.int(0...15))
        }
    }

    @Test("the layer is bit-exact on random shapes and formats")
    func layerBitExact() throws {
        var g = SeededGenerator(seed: 0x5E21)
        for _ in 0..<250 {
            let l = Self.randomLayer(
                &g, inputs: g.int(1...40), inputDim: g.int(1...8), outputs: g.int(1...12), outputDim: g.int(1...16))
            let input = g.int8s(l.inputs * l.inputDim)
            let weights = g.int8s(l.outputs * l.inputs * l.outputDim * l.inputDim)
            let bias = g.int8s(l.outputs * l.inputs)
            let expected = Reference.selfAttention(l, input: input, weights: weights, bias: bias)
            #expect(try Self.run(l, input: input, weights: weights, bias: bias) == expected, "\(l)")
        }
    }

    @Test(
        "one input capsule, one output capsule, scalar capsules",
        arguments: [(1, 1, 1, 1), (1, 3, 5, 4), (17, 4, 1, 6), (9, 2, 4, 1), (1, 1, 10, 1)])
    func layerDegenerateShapes(inputs: Int, inputDim: Int, outputs: Int, outputDim: Int) throws {
        var g = SeededGenerator(seed: UInt64(inputs * 1000 + outputs * 10 + outputDim))
        for _ in 0..<20 {
            let l = Self.randomLayer(&g, inputs: inputs, inputDim: inputDim, outputs: outputs, outputDim: outputDim)
            let input = g.int8s(inputs * inputDim)
            let weights = g.int8s(outputs * inputs * outputDim * inputDim)
            let bias = g.int8s(outputs * inputs)
            let expected = Reference.selfAttention(l, input: input, weights: weights, bias: bias)
            #expect(try Self.run(l, input: input, weights: weights, bias: bias) == expected, "\(l)")
        }
    }

    @Test("with calibrated formats, the int8 layer follows the float layer (measured)")
    func layerAccuracy() throws {
        var g = SeededGenerator(seed: 0x5E22)
        var worst = 0.0
        let (inputs, inputDim, outputs, outputDim) = (16, 8, 10, 16)
        for _ in 0..<25 {
            // Inputs are squashed capsules, as Efficient-CapsNet's primary capsules give; weights
            // and biases are small.
            let raw = (0..<inputs * inputDim).map { _ in Double.random(in: -3...3, using: &g) }
            let u = Reference.exponentialSquashFloat(raw, dim: inputDim)
            let w = (0..<outputs * inputs * outputDim * inputDim).map { _ in Double.random(in: -0.5...0.5, using: &g) }
            let b = (0..<outputs * inputs).map { _ in Double.random(in: -0.2...0.2, using: &g) }
            let ranges = Reference.selfAttentionFloat(
                u, weights: w, bias: b, inputs: inputs, inputDim: inputDim, outputs: outputs, outputDim: outputDim)
            let frac = { (x: [Double]) in QFormat(covering: x.map(abs).max() ?? 0).fractionalBits }
            let (inFrac, weightFrac, biasFrac) = (frac(u), frac(w), frac(b))
            let prediction = min(frac(ranges.predictions), inFrac + weightFrac)
            let coupling = min(frac(ranges.couplings), max(7, biasFrac))
            let l = Reference.SelfAttentionLayer(
                inputs: inputs, inputDim: inputDim, outputs: outputs, outputDim: outputDim, inputFrac: inFrac,
                weightFrac: weightFrac, predictionFrac: prediction,
                agreementFrac: min(frac(ranges.agreements), 30 + 2 * prediction), biasFrac: biasFrac,
                couplingFrac: coupling, sumFrac: min(frac(ranges.sums), coupling + prediction),
                outputFrac: max(0, frac(ranges.output)))
            let input = QFormat(fractionalBits: l.inputFrac).quantize(u)
            let weights = QFormat(fractionalBits: l.weightFrac).quantize(w)
            let bias = QFormat(fractionalBits: l.biasFrac).quantize(b)
            let actual = try Self.run(l, input: input, weights: weights, bias: bias)
            #expect(actual == Reference.selfAttention(l, input: input, weights: weights, bias: bias), "\(l)")
            // Against the float layer on the same dequantized int8 operands: the error of routing alone.
            let exact = Reference.selfAttentionFloat(
                QFormat(fractionalBits: l.inputFrac).dequantize(input),
                weights: QFormat(fractionalBits: l.weightFrac).dequantize(weights),
                bias: QFormat(fractionalBits: l.biasFrac).dequantize(bias), inputs: inputs, inputDim: inputDim,
                outputs: outputs, outputDim: outputDim
            ).output
            let step = QFormat(fractionalBits: l.outputFrac).step
            worst = max(worst, zip(actual, exact).map { abs(Double($0) * step - $1) / step }.max()!)
        }
        print(
            "self-attention layer (I=16, Din=8, J=10, D=16): max error against float \(worst) LSB of the output format")
        #expect(worst <= 4)
    }

    @Test("shapes, formats and buffers outside the contract are refused and nothing is written")
    func refusals() {
        let l = Reference.SelfAttentionLayer(
            inputs: 3, inputDim: 2, outputs: 2, outputDim: 4, inputFrac: 7, weightFrac: 7, predictionFrac: 7,
            agreementFrac: 5, biasFrac: 7, couplingFrac: 7, sumFrac: 5, outputFrac: 7)
        let input = [Int8](repeating: 10, count: 6)
        let weights = [Int8](repeating: 20, count: 2 * 3 * 4 * 2)
        let bias = [Int8](repeating: 0, count: 6)
        var dims = Self.dims(l)
        let size = capsnet_self_attention_capsule_q7_get_buffer_size(&dims)
        #expect(size == 1024 + 2 * 32 + 4 + 24 + 3)
        var scratch = [UInt8](repeating: 0, count: Int(size))
        func call(_ params: capsnet_self_attention_params, _ dims: capsnet_capsule_dims, bytes: Int32? = nil)
            -> (capsnet_status, [Int8])
        {
            var (p, d) = (params, dims)
            var output = [Int8](repeating: 99, count: 8)
            let status = scratch.withUnsafeMutableBytes { buffer in
                var ctx = capsnet_context(buf: buffer.baseAddress, size: bytes ?? Int32(buffer.count))
                return capsnet_self_attention_capsule_q7(&ctx, &p, &d, input, weights, bias, &output)
            }
            return (status, output)
        }
        let good = Self.parameters(l)
        #expect(call(good, dims).0 == CAPSNET_OK)
        var cases: [(capsnet_self_attention_params, capsnet_capsule_dims, Int32?, capsnet_status)] = []
        var p = good
        p.agreement_frac = 15
        p.prediction_frac = -8  // 30 - 16 - 15 < 0
        p.input_frac = -8
        p.weight_frac = 0
        cases.append((p, dims, nil, CAPSNET_ERROR_SHIFT))
        p = good
        p.coupling_frac = 8  // finer than both the softmax's Q0.7 and the bias
        cases.append((p, dims, nil, CAPSNET_ERROR_SHIFT))
        p = good
        p.output_frac = -1
        cases.append((p, dims, nil, CAPSNET_ERROR_SHIFT))
        p = good
        p.bias_frac = 16
        cases.append((p, dims, nil, CAPSNET_ERROR_SHIFT))
        var d = dims
        d.output_dim = 0
        cases.append((good, d, nil, CAPSNET_ERROR_DIMENSION))
        cases.append((good, dims, size - 1, CAPSNET_ERROR_BUFFER_SIZE))
        for (params, dims, bytes, status) in cases {
            let (actual, output) = call(params, dims, bytes: bytes)
            #expect(actual == status, "\(params) \(dims)")
            #expect(output == [Int8](repeating: 99, count: 8))
        }
        // I * D * 2^14 must fit int32: I * D = 131,072 does not.
        var wide = capsnet_capsule_dims(num_inputs: 8192, input_dim: 1, num_outputs: 1, output_dim: 16)
        let wideSize = capsnet_self_attention_capsule_q7_get_buffer_size(&wide)
        #expect(wideSize > 0)
        var wideScratch = [UInt8](repeating: 0, count: Int(wideSize))
        var params = good
        var output = [Int8](repeating: 99, count: 16)
        let zeros = [Int8](repeating: 0, count: 8192 * 16)
        let status = wideScratch.withUnsafeMutableBytes { buffer in
            var ctx = capsnet_context(buf: buffer.baseAddress, size: wideSize)
            return capsnet_self_attention_capsule_q7(&ctx, &params, &wide, zeros, zeros, zeros, &output)
        }
        #expect(status == CAPSNET_ERROR_OVERFLOW)
        #expect(output == [Int8](repeating: 99, count: 16))
    }
}
