@testable import CapsNetConverter
import Foundation
import Testing

@Suite("Batch normalization")
struct BatchNormalizationTests {
    @Test(
        "folds are exact: the folded float model gives the original's outputs, and each note says what was done",
        .needsFixtures, arguments: ["tiny_bn_valid", "tiny_bn_same"])
    func folds(name: String) throws {
        let model = try CapsNetModel(contentsOf: TestData.fixture(name + ".keras"))
        let (folded, notes) = model.folded()
        let input = try tensor(TestData.fixture(name + "_input.npy"))
        let (maxAbs, range) = difference(
            try FloatReference(folded).outputs(input), try FloatReference(model).outputs(input))
        #expect(maxAbs <= 1e-5 * range, "max abs difference \(maxAbs), range \(range)")
        let normalizations = model.layers.indices.filter { model.layers[$0].kind is BatchNormalization }
        #expect(normalizations.count == 2 && notes.count == 2)
        if name == "tiny_bn_valid" {
            // One before-fold (into the convolution without activation), one after-fold (valid padding).
            #expect(notes[0].hasSuffix("folded into the convolution 'conv2d_5' before it") || notes[0].contains("before it"))
            #expect(notes[1].contains("folded into the primary capsule layer") && notes[1].hasSuffix("after it"))
            #expect(normalizations.allSatisfy { folded.layers[$0].kind is Reshape })
            #expect(folded.layers.map(\.name) == model.layers.map(\.name))
        } else {
            #expect(notes.allSatisfy { $0.contains("kept as a per-channel affine layer") && $0.contains("pads with zeros") })
            #expect(folded == model)
        }
    }

    @Test("a convolution reads no padding with valid padding, or same padding that adds no zeros")
    func paddingRule() {
        func convolution(_ size: Int, _ stride: Int, _ padding: Convolution.Padding) -> Convolution {
            Convolution(
                kernelHeight: size, kernelWidth: size, strideY: stride, strideX: stride, padding: padding,
                inputChannels: 1, filters: 1, kernel: [Float](repeating: 1, count: size * size), bias: nil,
                activation: .none)
        }
        #expect(convolution(3, 1, .valid).readsNoPadding([8, 8, 1]))
        #expect(convolution(1, 1, .same).readsNoPadding([8, 8, 1]))
        #expect(convolution(2, 2, .same).readsNoPadding([8, 8, 1]))
        #expect(!convolution(2, 2, .same).readsNoPadding([9, 8, 1]))
        #expect(!convolution(3, 1, .same).readsNoPadding([8, 8, 1]))
    }

    @Test(
        "in int8: folded layers cost nothing, kept ones are affine layers; the file reads back; 1 to 4 threads agree",
        .needsFixtures, arguments: ["tiny_bn_valid", "tiny_bn_same"])
    func quantized(name: String) throws {
        let model = try CapsNetModel(contentsOf: TestData.fixture(name + ".keras"))
        let data = TestData.fixture(name + "_data/images.npy")
        let quantized = try Quantizer().quantize(model, calibration: Dataset(data + "@0-15"))
        let kinds = model.layers.indices.filter { model.layers[$0].kind is BatchNormalization }.map {
            type(of: quantized.layers[$0].kind)
        }
        let expected: any QuantizedLayerKind.Type = name == "tiny_bn_valid" ? QuantizedReshape.self : QuantizedChannelAffine.self
        #expect(kinds.allSatisfy { $0 == expected })
        #expect(try QuantizedModelFile.decode(QuantizedModelFile.encode(quantized)) == quantized)

        let engine = try Int8Engine(quantized)
        let evaluation = try Dataset(data + "@16-23")
        let report = try QuantizationReport.measure(
            float: model, int8: engine, modelName: name, calibration: Dataset(data + "@0-15"), evaluation: evaluation)
        #expect(report.folds == model.folded().notes)
        #expect(report.markdown.contains("Batch normalization: layer '"))
        // Every layer's int8 output tracks the float layer of the same index.
        #expect(report.layers.allSatisfy { ($0.sqnrDb ?? 99) > 15 }, "\(report.layers.map(\.sqnrDb))")

        let runners = (1...4).map { engine.runner(on: CoreTeam(cores: $0)) }
        let images = try evaluation.images(for: model)
        let size = quantized.inputShape.reduce(1, *)
        for image in 0..<8 {
            let input = engine.quantizeInput(images.values[image * size..<(image + 1) * size])
            let expected = try engine.run(input)
            for runner in runners { #expect(try runner.run(input) == expected, "\(runner.team.cores) cores") }
        }
    }

    @Test("the affine layer is within a few LSB of the float normalization on its own input")
    func affineAccuracy() throws {
        let channels = 5
        let normalization = BatchNormalization(
            scales: [0.013, 1.7, -0.6, 40, 0.5], offsets: [0.2, -1.1, 3.9, -0.01, 0], storedValues: 4 * channels)
        let layer = Layer(
            name: "bn", className: "BatchNormalization", kind: normalization, inputShape: [4, 4, channels],
            outputShape: [4, 4, channels])
        let model = CapsNetModel(name: "bn", inputShape: [4, 4, channels], layers: [layer])
        var statistics = Statistics()
        let inputFrac = 5
        let input = (0..<80).map { Float(($0 * 37) % 255 - 127) / 32 }
        let output = normalization.forward(Tensor(shape: [1, 4, 4, channels], values: input), layer, recording: false)
        statistics.tensors[.layer(0, .output), default: TensorStatistics()].add(output.output.values)
        let context = QuantizationContext(
            scheme: .rules, model: model, index: 0, inputFrac: inputFrac, statistics: statistics)
        let (kind, outputFrac) = normalization.quantize(context)
        let affine = try #require(kind as? QuantizedChannelAffine)
        var values = input.map { Int8(($0 * 32).rounded()) }
        try Kernels.channelAffine(
            &values, scales: affine.scales, scaleFracs: affine.scaleFracs, offsets: affine.offsets, inputFrac: inputFrac,
            outputFrac: outputFrac)
        let step = pow(2, -Float(outputFrac))
        for (index, value) in values.enumerated() {
            let exact = output.output.values[index]
            let stored = Float(value) * step
            // Rounding the output is 0.5 LSB; the scale and offset add little; saturation is the
            // format's choice (the largest values may be clipped).
            if abs(exact) < 127 * step { #expect(abs(stored - exact) <= 0.6 * step, "value \(index): \(stored) vs \(exact)") }
        }
    }
}
