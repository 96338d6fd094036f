@testable import CapsNetConverter
import Foundation
import Testing

/// Efficient-CapsNet (self-attention routing), as its repository defines the layers: the saves
/// load, and the float reference equals Keras on the class capsules and their lengths.
@Suite("Efficient-CapsNet")
struct EfficientCapsNetTests {
    /// The CapsNet (two outputs), the training model it is nested in (label input, Mask, the Dense
    /// generator), the play model (plus the noise input and its Add), both formats each, and the
    /// training model's weights only in Keras 2's layout with its to_json().
    static let saves: [(file: String, config: String?)] = [
        ("efficient_capsnet.keras", nil), ("efficient_capsnet.h5", nil), ("efficient_capsnet_train.keras", nil),
        ("efficient_capsnet_train.h5", nil), ("efficient_capsnet_play.keras", nil), ("efficient_capsnet_play.h5", nil),
        ("efficient_capsnet_weights_keras2.h5", "efficient_capsnet_train.json"),
    ]

    @Test("every save loads to the same layers, pruned to the inference path, equal to Keras", .needsFixtures, arguments: saves)
    func loads(file: String, config: String?) throws {
        let model = try CapsNetModel(contentsOf: TestData.fixture(file), config: config.map(TestData.fixture))
        #expect(
            model.layers.map(\.className) == [
                "Conv2D", "BatchNormalization", "Conv2D", "BatchNormalization", "PrimaryCaps", "FCCaps", "Length",
            ])
        #expect(model.inputShape == [14, 14, 1])
        let primary = try #require(model.layers[4].kind as? DepthwisePrimaryCapsule)
        #expect(primary.channels == 8 && primary.kernelHeight == 5 && primary.capsules == 4 && primary.dimension == 2)
        let routing = try #require(model.layers[5].kind as? SelfAttentionCapsule)
        #expect(routing.outputs == 3 && routing.dimension == 4 && routing.inputs == 4 && routing.inputDimension == 2)
        if file.contains("train") || file.contains("play") {
            #expect(model.leftOut.contains { $0.hasPrefix("Generator (Sequential)") })
        }
        let reference = try CapsNetModel(contentsOf: TestData.fixture("efficient_capsnet.keras"))
        #expect(model.layers == reference.layers)

        let input = try tensor(TestData.fixture("efficient_capsnet_input.npy"))
        let float = FloatReference(model)
        let (maxAbs, range) = difference(try float.outputs(input), try tensor(TestData.fixture("efficient_capsnet_output.npy")))
        #expect(maxAbs <= 1e-4 * range, "lengths: max abs difference \(maxAbs), range \(range)")
        let capsules = try #require(try float.trace(input).layers.dropLast().last?.output)
        let (capsuleDifference, capsuleRange) = difference(capsules, try tensor(TestData.fixture("efficient_capsnet_capsules.npy")))
        #expect(capsuleDifference <= 1e-4 * capsuleRange, "capsules: max abs difference \(capsuleDifference), range \(capsuleRange)")
    }

    @Test(
        "the smallNORB variant: LeakyReLU and TensorFlow Addons' InstanceNormalization load, equal Keras, and run in int8",
        .needsFixtures, arguments: ["efficient_capsnet_smallnorb.keras", "efficient_capsnet_smallnorb.h5"])
    func smallNORB(file: String) throws {
        let model = try CapsNetModel(contentsOf: TestData.fixture(file))
        #expect(
            model.layers.map(\.className) == [
                "Conv2D", "LeakyReLU", "InstanceNormalization", "Conv2D", "LeakyReLU", "InstanceNormalization",
                "PrimaryCaps", "FCCaps", "Length",
            ])
        let normalization = try #require(model.layers[2].kind as? InstanceNormalization)
        #expect(normalization.channels == 8 && normalization.epsilon == 1e-3)
        let input = try tensor(TestData.fixture("efficient_capsnet_smallnorb_input.npy"))
        let (maxAbs, range) = difference(
            try FloatReference(model).outputs(input), try tensor(TestData.fixture("efficient_capsnet_smallnorb_output.npy")))
        #expect(maxAbs <= 1e-4 * range, "lengths: max abs difference \(maxAbs), range \(range)")

        let data = TestData.fixture("efficient_capsnet_smallnorb_data/images.npy")
        for scheme in QuantizationScheme.allCases {
            let quantized = try Quantizer(scheme: scheme).quantize(model, calibration: Dataset(data + "@0-15"))
            #expect(quantized.layers[2].kind is QuantizedInstanceNormalization)
            #expect(try QuantizedModelFile.decode(QuantizedModelFile.encode(quantized)) == quantized)
            let engine = try Int8Engine(quantized)
            let evaluation = try Dataset(data + "@16-23")
            let report = try QuantizationReport.measure(
                float: model, int8: engine, modelName: "efficient_capsnet_smallnorb",
                calibration: Dataset(data + "@0-15"), evaluation: evaluation)
            print("Efficient-CapsNet smallNORB fixture, \(scheme): SQNR per layer \(report.layers.map(\.sqnrDb))")
            #expect(report.layers.allSatisfy { ($0.sqnrDb ?? 99) > 15 }, "\(report.layers.map(\.sqnrDb))")
            // The normalization runs on one core of a team (its statistics span the image); the
            // team's output is the one-core output.
            let runner = engine.runner(on: CoreTeam(cores: 3))
            let images = try evaluation.images(for: model)
            let size = quantized.inputShape.reduce(1, *)
            for image in 0..<4 {
                let input = engine.quantizeInput(images.values[image * size..<(image + 1) * size])
                #expect(try runner.run(input) == engine.run(input))
            }
        }
    }

    @Test("the exponential squash: zero stays zero, lengths follow 1 - e^-|s|, directions are kept")
    func exponentialSquash() {
        let s = Tensor(shape: [1, 3, 2], values: [0, 0, 3, 4, 1e-3, 0])
        let v = FloatMath.exponentialSquash(s)
        #expect(v.values[0] == 0 && v.values[1] == 0)
        #expect(abs(v.values[2] - 0.6 * (1 - exp(-5))) < 1e-6 && abs(v.values[3] - 0.8 * (1 - exp(-5))) < 1e-6)
        #expect(abs(v.values[4] - (1 - exp(-1e-3))) < 1e-7)
    }

    @Test(
        "in int8, both schemes: its own kinds, the file reads back, every layer tracks float, 1 to 4 threads agree",
        .needsFixtures, arguments: QuantizationScheme.allCases)
    func quantized(scheme: QuantizationScheme) throws {
        let model = try CapsNetModel(contentsOf: TestData.fixture("efficient_capsnet.keras"))
        let data = TestData.fixture("efficient_capsnet_data/images.npy")
        let quantized = try Quantizer(scheme: scheme).quantize(model, calibration: Dataset(data + "@0-15"))
        // Both normalizations cost nothing: the first joins the convolution before it, the second
        // (after an activation) the depthwise primary capsules after it.
        #expect(quantized.layers[1].kind is QuantizedReshape && quantized.layers[3].kind is QuantizedReshape)
        #expect(quantized.layers[4].kind is QuantizedDepthwisePrimaryCapsule)
        #expect(quantized.layers[5].kind is QuantizedSelfAttentionCapsule)
        #expect(try QuantizedModelFile.decode(QuantizedModelFile.encode(quantized)) == quantized)

        let engine = try Int8Engine(quantized)
        let evaluation = try Dataset(data + "@16-23")
        let report = try QuantizationReport.measure(
            float: model, int8: engine, modelName: "efficient_capsnet", calibration: Dataset(data + "@0-15"),
            evaluation: evaluation)
        print("Efficient-CapsNet fixture, \(scheme): SQNR per layer \(report.layers.map(\.sqnrDb))")
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

    @Test("a normalization before the primary capsules folds into their depthwise filters exactly", .needsFixtures)
    func foldIntoPrimaryCapsules() throws {
        let model = try CapsNetModel(contentsOf: TestData.fixture("efficient_capsnet.keras"))
        let (folded, notes) = model.folded()
        #expect(notes.contains { $0.contains("folded into the primary capsule layer 'primary_caps' after it") }, "\(notes)")
        #expect(folded.layers[3].kind is Reshape)
        let input = try tensor(TestData.fixture("efficient_capsnet_input.npy"))
        let (maxAbs, range) = difference(try FloatReference(folded).outputs(input), try FloatReference(model).outputs(input))
        #expect(maxAbs <= 1e-5 * range, "max abs difference \(maxAbs), range \(range)")
    }

    @Test("convert writes the int8 model and its report", .needsFixtures)
    func convert() throws {
        let folder = try TestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let data = TestData.fixture("efficient_capsnet_data/images.npy")
        let out = folder.appendingPathComponent("out").path
        let result = try CapsNetTool.run([
            "convert", TestData.fixture("efficient_capsnet.keras"), "--calibration", data, "--eval", data, "--out", out,
        ])
        #expect(result.status == 0, "\(result.error)")
        #expect(FileManager.default.fileExists(atPath: out + "/model.capsnet"))
        let report = try String(contentsOfFile: out + "/report.md", encoding: .utf8)
        #expect(report.contains("FCCaps"), "\(report)")
    }
}
