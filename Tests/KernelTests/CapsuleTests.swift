import CapsNetRuntime
import Testing

@Suite("Capsule functions")
struct CapsuleTests {
    // MARK: Primary capsules

    @Test("primary capsules are the convolution followed by squash of each capsule")
    func primaryCapsules() throws {
        var g = SeededGenerator(seed: 11)
        for _ in 0..<150 {
            let dim = g.int(1...5)
            var c = Reference.Conv(
                inH: g.int(3...10), inW: g.int(3...10), inC: g.int(1...4), outH: 0, outW: 0, outC: dim * g.int(1...3),
                kH: g.int(1...3), kW: g.int(1...3), strideH: g.int(1...2), strideW: g.int(1...2), padH: 0, padW: 0,
                inFrac: 0, weightFrac: 0, biasFrac: 0, outFrac: 0)
            c.padH = g.int(0...c.kH - 1)
            c.padW = g.int(0...c.kW - 1)
            c.outH = (c.inH - 1 + c.padH) / c.strideH + 1
            c.outW = (c.inW - 1 + c.padW) / c.strideW + 1
            ConvolutionTests.randomFormats(&c, &g)
            let outFrac = g.int(0...15)
            let input = g.int8s(c.inH * c.inW * c.inC)
            let weights = g.int8s(c.outC * c.kH * c.kW * c.inC)
            let bias = g.chance(0.8) ? g.int8s(c.outC) : nil
            let params = capsnet_primary_capsule_params(
                conv: capsnet_conv_params(
                    kernel: capsnet_hw(h: Int32(c.kH), w: Int32(c.kW)),
                    stride: capsnet_hw(h: Int32(c.strideH), w: Int32(c.strideW)),
                    padding: capsnet_hw(h: Int32(c.padH), w: Int32(c.padW)), input_frac: Int32(c.inFrac),
                    weight_frac: Int32(c.weightFrac), bias_frac: Int32(c.biasFrac), output_frac: Int32(c.outFrac),
                    activation: c.activation, weight_fracs: nil),
                capsule_dim: Int32(dim), output_frac: Int32(outFrac))
            let actual = try Kernels.primaryCapsules(
                input, shape: capsnet_hwc(h: Int32(c.inH), w: Int32(c.inW), c: Int32(c.inC)), weights: weights,
                bias: bias,
                parameters: params, outputShape: capsnet_hwc(h: Int32(c.outH), w: Int32(c.outW), c: Int32(c.outC)))
            let preSquash = Reference.convolution(c, input: input, weights: weights, bias: bias)
            #expect(
                actual == Reference.squash(preSquash, dim: dim, inFrac: c.outFrac, outFrac: outFrac), "\(c) D=\(dim)")
        }
    }

    // MARK: Capsule layer

    static func run(
        _ l: Reference.CapsuleLayer, input: [Int8], weights: [Int8], memory: RoutingMemory = .keepPredictions
    ) throws -> [Int8] {
        let iterations = l.iterations.map {
            capsnet_routing_formats(
                logit_frac: Int32($0.logit), sum_frac: Int32($0.sum), output_frac: Int32($0.output),
                agreement_frac: Int32($0.agreement))
        }
        return try Kernels.capsuleLayer(
            input, weights: weights,
            dims: capsnet_capsule_dims(
                num_inputs: Int32(l.inputs), input_dim: Int32(l.inputDim), num_outputs: Int32(l.outputs),
                output_dim: Int32(l.outputDim)),
            inputFormat: QFormat(fractionalBits: l.inputFrac), weightFormat: QFormat(fractionalBits: l.weightFrac),
            predictionFormat: QFormat(fractionalBits: l.predictionFrac), iterations: iterations, memory: memory,
            capsuleWeightFormats: l.weightFracs.map { $0.map { QFormat(fractionalBits: $0) } }, precision: l.precision)
    }

    /// Random formats that satisfy every shift constraint of the layer.
    static func randomLayer(
        _ g: inout SeededGenerator, inputs: Int, inputDim: Int, outputs: Int, outputDim: Int, routings: Int
    )
        -> Reference.CapsuleLayer
    {
        var inFrac = 0
        var weightFrac = 0
        repeat { (inFrac, weightFrac) = (g.frac(), g.frac()) } while inFrac + weightFrac < -8
        let prediction = g.productFrac(inFrac, weightFrac)!
        var iterations = [Reference.RoutingFormats]()
        var logit = g.frac()
        for _ in 0..<routings {
            let output = g.int(0...15)
            let agreement = g.productFrac(output, prediction)!
            iterations.append(
                .init(logit: logit, sum: g.productFrac(7, prediction)!, output: output, agreement: agreement))
            logit = g.int(-8...max(logit, agreement))
        }
        return Reference.CapsuleLayer(
            inputs: inputs, inputDim: inputDim, outputs: outputs, outputDim: outputDim, inputFrac: inFrac,
            weightFrac: weightFrac, predictionFrac: prediction, iterations: iterations)
    }

    @Test("the routing layer is bit-exact on random shapes and formats, predictions kept or recomputed")
    func layerBitExact() throws {
        var g = SeededGenerator(seed: 12)
        for _ in 0..<250 {
            let l = Self.randomLayer(
                &g, inputs: g.int(1...40), inputDim: g.int(1...8), outputs: g.int(1...12), outputDim: g.int(1...8),
                routings: g.int(1...4))
            let input = g.int8s(l.inputs * l.inputDim)
            let weights = g.int8s(l.outputs * l.inputs * l.outputDim * l.inputDim)
            let expected = Reference.capsuleLayer(l, input: input, weights: weights)
            for memory in RoutingMemory.allCases {
                #expect(try Self.run(l, input: input, weights: weights, memory: memory) == expected, "\(l), \(memory)")
            }
        }
    }

    @Test("16-bit routing: int16 predictions, Q0.15 couplings, 64-bit sums, bit-exact kept or recomputed")
    func sixteenBitRouting() throws {
        var g = SeededGenerator(seed: 0x0F15)
        for round in 0..<120 {
            var l = Self.randomLayer(
                &g, inputs: g.int(1...40), inputDim: g.int(1...8), outputs: g.int(1...12), outputDim: g.int(1...8),
                routings: g.int(1...4))
            l.precision = .q15
            // Predictions up to eight bits finer (what 16 bits hold), within the formats and shifts.
            let finer = min(g.int(0...8), 15 - l.predictionFrac, l.inputFrac + l.weightFrac - l.predictionFrac)
            l.predictionFrac += finer
            for r in l.iterations.indices {
                l.iterations[r].sum = max(l.iterations[r].sum, 15 + l.predictionFrac - 31)
                l.iterations[r].agreement = max(l.iterations[r].agreement, l.iterations[r].output + l.predictionFrac - 31)
            }
            if round % 3 == 0 {
                let finest = min(15, l.predictionFrac + 31 - l.inputFrac)
                l.weightFracs = (0..<l.outputs).map { _ in max(min(l.weightFrac + g.int(0...3), finest), l.weightFrac) }
            }
            let input = g.int8s(l.inputs * l.inputDim)
            let weights = g.int8s(l.outputs * l.inputs * l.outputDim * l.inputDim)
            let expected = Reference.capsuleLayer(l, input: input, weights: weights)
            for memory in RoutingMemory.allCases {
                #expect(try Self.run(l, input: input, weights: weights, memory: memory) == expected, "\(l), \(memory)")
            }
        }
        // Calibrated formats, so that no tensor saturates or underflows: every rounding shows.
        for _ in 0..<40 {
            let (inputs, inputDim, outputs, outputDim) = (g.int(1...48), g.int(1...8), g.int(1...12), g.int(1...16))
            let (u, w) = Self.randomFloatLayer(&g, inputs: inputs, inputDim: inputDim, outputs: outputs, outputDim: outputDim)
            let trace = Reference.capsuleTrace(
                u, w, inputs: inputs, inputDim: inputDim, outputs: outputs, outputDim: outputDim, routings: g.int(1...4))
            let l = Self.sixteenBit(Self.calibratedLayer(trace, inputs: inputs, inputDim: inputDim, outputs: outputs, outputDim: outputDim))
            let input = QFormat(fractionalBits: l.inputFrac).quantize(u)
            let weights = QFormat(fractionalBits: l.weightFrac).quantize(w)
            let expected = Reference.capsuleLayer(l, input: input, weights: weights)
            for memory in RoutingMemory.allCases {
                #expect(try Self.run(l, input: input, weights: weights, memory: memory) == expected, "\(l), \(memory)")
            }
        }
    }

    /// Squashed input capsules, as a primary capsule layer gives, and small weights.
    static func randomFloatLayer(
        _ g: inout SeededGenerator, inputs: Int, inputDim: Int, outputs: Int, outputDim: Int
    ) -> (u: [Double], w: [Double]) {
        let raw = (0..<inputs * inputDim).map { _ in Double.random(in: -3...3, using: &g) }
        let w = (0..<outputs * inputs * outputDim * inputDim).map { _ in Double.random(in: -0.6...0.6, using: &g) }
        return (Reference.squashFloat(raw, dim: inputDim), w)
    }

    /// `l` with 16-bit routing: predictions eight bits finer (the same range), within the shifts.
    static func sixteenBit(_ l: Reference.CapsuleLayer) -> Reference.CapsuleLayer {
        var wide = l
        wide.precision = .q15
        wide.predictionFrac = min(l.predictionFrac + 8, 15, l.inputFrac + l.weightFrac)
        for r in wide.iterations.indices {
            wide.iterations[r].sum = max(wide.iterations[r].sum, 15 + wide.predictionFrac - 31)
            wide.iterations[r].agreement = max(
                wide.iterations[r].agreement, wide.iterations[r].output + wide.predictionFrac - 31)
        }
        return wide
    }

    @Test("16-bit routing refuses what its 32-bit agreements and 16-bit sums cannot hold")
    func sixteenBitLimits() throws {
        let formats = [Reference.RoutingFormats(logit: 0, sum: 4, output: 7, agreement: 4)]
        for (inputs, outputDim, refused) in [(65_536, 1, true), (1, 512, true), (2, 511, false)] {
            let l = Reference.CapsuleLayer(
                inputs: inputs, inputDim: 1, outputs: 1, outputDim: outputDim, inputFrac: 7, weightFrac: 7,
                predictionFrac: 12, iterations: formats, precision: .q15)
            do {
                _ = try Self.run(l, input: [Int8](repeating: 1, count: inputs), weights: [Int8](repeating: 1, count: inputs * outputDim))
                #expect(!refused, "I=\(inputs) D=\(outputDim) ran")
            } catch let error as KernelError {
                #expect(refused && "\(error)".contains("overflow"), "I=\(inputs) D=\(outputDim): \(error)")
            }
        }
    }

    @Test("per-output-capsule weight formats: each capsule's predictions shifted by its own format")
    func perCapsuleFormats() throws {
        var g = SeededGenerator(seed: 0xCA95)
        for _ in 0..<150 {
            var l = Self.randomLayer(
                &g, inputs: g.int(1...30), inputDim: g.int(1...8), outputs: g.int(2...10), outputDim: g.int(1...8),
                routings: g.int(1...3))
            // Up to three bits finer per output capsule, within the formats and the prediction shift.
            let finest = min(15, l.predictionFrac + 31 - l.inputFrac)
            l.weightFracs = (0..<l.outputs).map { _ in max(min(l.weightFrac + g.int(0...3), finest), l.weightFrac) }
            let input = g.int8s(l.inputs * l.inputDim)
            let weights = g.int8s(l.outputs * l.inputs * l.outputDim * l.inputDim)
            let expected = Reference.capsuleLayer(l, input: input, weights: weights)
            for memory in RoutingMemory.allCases {
                #expect(try Self.run(l, input: input, weights: weights, memory: memory) == expected, "\(l), \(memory)")
            }
        }
    }

    @Test(
        "one input capsule, one output capsule, one routing iteration",
        arguments: [
            (1, 1, 1, 1, 1), (1, 3, 5, 4, 3), (17, 4, 1, 6, 3), (9, 2, 4, 3, 1), (1, 1, 10, 1, 2),
        ])
    func layerDegenerateShapes(inputs: Int, inputDim: Int, outputs: Int, outputDim: Int, routings: Int) throws {
        var g = SeededGenerator(seed: UInt64(inputs * 1000 + outputs * 10 + routings))
        for _ in 0..<20 {
            let l = Self.randomLayer(
                &g, inputs: inputs, inputDim: inputDim, outputs: outputs, outputDim: outputDim, routings: routings)
            let input = g.int8s(inputs * inputDim)
            let weights = g.int8s(outputs * inputs * outputDim * inputDim)
            let expected = Reference.capsuleLayer(l, input: input, weights: weights)
            for memory in RoutingMemory.allCases {
                #expect(try Self.run(l, input: input, weights: weights, memory: memory) == expected, "\(l), \(memory)")
            }
        }
    }

    /// Formats chosen from the float layer's own ranges, as a calibration would, kept within the
    /// shift constraints of the kernels.
    static func calibratedLayer(
        _ trace: Reference.CapsuleTrace, inputs: Int, inputDim: Int, outputs: Int, outputDim: Int
    ) -> Reference.CapsuleLayer {
        let frac = { (x: Double) in QFormat(covering: x).fractionalBits }
        let (inFrac, weightFrac) = (frac(trace.inputMax), frac(trace.weightMax))
        let prediction = min(frac(trace.predictionMax), inFrac + weightFrac)
        var iterations = [Reference.RoutingFormats]()
        for (r, it) in trace.iterations.enumerated() {
            let output = max(0, frac(it.outputMax))
            let agreement = min(frac(it.agreementMax), output + prediction)
            let logit = r == 0 ? 0 : min(frac(it.logitMax), max(iterations[r - 1].logit, iterations[r - 1].agreement))
            iterations.append(
                .init(logit: logit, sum: min(frac(it.sumMax), 7 + prediction), output: output, agreement: agreement))
        }
        return Reference.CapsuleLayer(
            inputs: inputs, inputDim: inputDim, outputs: outputs, outputDim: outputDim, inputFrac: inFrac,
            weightFrac: weightFrac, predictionFrac: prediction, iterations: iterations)
    }

    @Test("with calibrated formats, the int8 layer follows the float layer (measured)")
    func layerAccuracy() throws {
        var g = SeededGenerator(seed: 13)
        var worst = 0.0
        var worstWide = 0.0
        var (meanError, meanErrorWide) = (0.0, 0.0)
        for _ in 0..<25 {
            let (inputs, inputDim, outputs, outputDim) = (64, 4, 10, 6)
            let (u, w) = Self.randomFloatLayer(&g, inputs: inputs, inputDim: inputDim, outputs: outputs, outputDim: outputDim)
            let trace = Reference.capsuleTrace(
                u, w, inputs: inputs, inputDim: inputDim, outputs: outputs, outputDim: outputDim, routings: 3)
            let l = Self.calibratedLayer(
                trace, inputs: inputs, inputDim: inputDim, outputs: outputs, outputDim: outputDim)
            let input = QFormat(fractionalBits: l.inputFrac).quantize(u)
            let weights = QFormat(fractionalBits: l.weightFrac).quantize(w)
            // Against the float layer on the same dequantized int8 operands: the error of routing alone.
            let exact = Reference.capsuleLayerFloat(
                l, input: QFormat(fractionalBits: l.inputFrac).dequantize(input),
                weights: QFormat(fractionalBits: l.weightFrac).dequantize(weights))
            let step = QFormat(fractionalBits: l.iterations.last!.output).step
            func errors(_ layer: Reference.CapsuleLayer) throws -> [Double] {
                let actual = try Self.run(layer, input: input, weights: weights)
                #expect(actual == Reference.capsuleLayer(layer, input: input, weights: weights), "\(layer)")
                return zip(actual, exact).map { abs(Double($0) * step - $1) / step }
            }
            let (narrow, wide) = (try errors(l), try errors(Self.sixteenBit(l)))
            worst = max(worst, narrow.max()!)
            worstWide = max(worstWide, wide.max()!)
            meanError += narrow.reduce(0, +) / Double(narrow.count) / 25
            meanErrorWide += wide.reduce(0, +) / Double(wide.count) / 25
        }
        print(
            "capsule layer (I=64, Din=4, J=10, D=6, 3 routings): error against float in LSB of the output format, "
                + "max \(worst) and mean \(meanError) with 8-bit routing, max \(worstWide) and mean \(meanErrorWide) with 16-bit"
        )
        #expect(worst <= 4)
        // The 16-bit predictions and couplings remove most of the error but the int8 sums, agreements and logits.
        #expect(worstWide <= 2 && meanErrorWide < 0.75 * meanError)
    }

    // MARK: Length

    @Test("capsule lengths are bit-exact and exactly rounded, for every format pair")
    func length() throws {
        var g = SeededGenerator(seed: 14)
        var worst = 0.0
        for inFrac in QFormat.supportedFractionalBits {
            for outFrac in QFormat.supportedFractionalBits {
                let dim = g.int(1...12)
                let capsules = g.int8s(dim * g.int(1...6))
                let actual = try Kernels.capsuleLengths(
                    capsules, capsuleDim: dim, inputFormat: QFormat(fractionalBits: inFrac),
                    outputFormat: QFormat(fractionalBits: outFrac))
                #expect(
                    actual == Reference.length(capsules, dim: dim, inFrac: inFrac, outFrac: outFrac),
                    "Q.\(inFrac) -> Q.\(outFrac)")
                for (n, q) in actual.enumerated() {
                    let v = capsules[n * dim..<(n + 1) * dim].map { Double($0) * Reference.pow2(-inFrac) }
                    let target = v.reduce(0) { $0 + $1 * $1 }.squareRoot() * Reference.pow2(outFrac)
                    if target <= 127 { worst = max(worst, abs(Double(q) - target)) }
                }
            }
        }
        print("capsule length: max error against float \(worst) LSB of the output format")
        #expect(worst <= 0.5)
        // The longest capsule the guard admits: 131071 values of -128.
        let longest = [Int8](repeating: -128, count: 131_071)
        for outFrac in [-8, -3, 0] {
            #expect(
                try Kernels.capsuleLengths(
                    longest, capsuleDim: longest.count, inputFormat: .init(fractionalBits: 15),
                    outputFormat: .init(fractionalBits: outFrac))
                    == Reference.length(longest, dim: longest.count, inFrac: 15, outFrac: outFrac))
        }
    }
}
