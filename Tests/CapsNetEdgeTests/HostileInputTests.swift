import Foundation
import Testing

@testable import CapsNetConverter
@testable import CapsNetRuntime

/// Crafted inputs, one per class of hostile file: each used to trap on an arithmetic overflow,
/// allocate without bound, run without end or be accepted as if it were sound. Each must now be
/// refused with a message that names the cause (``ResourceLimits``).
@Suite("Hostile input")
struct HostileInputTests {
    static let huge = Int(Int32.max)

    /// What decoding `model`'s bytes (with their CRC recomputed: the structure is what is tested)
    /// reports, or nil if it decodes.
    static func refusal(_ model: QuantizedModel) -> String? {
        do {
            _ = try QuantizedModelFile.decode(QuantizedModelFile.encode(model))
            return nil
        } catch {
            return QuantizedModelFileError(path: "m.capsnet", reason: error).description
        }
    }

    /// `model` with the layer of kind `Kind` changed by `change`.
    static func changing<Kind: QuantizedLayerKind>(
        _ model: QuantizedModel, _: Kind.Type, _ change: (inout Kind, inout QuantizedLayer) -> Void
    ) -> QuantizedModel {
        var model = model
        guard let index = model.layers.firstIndex(where: { $0.kind is Kind }), var kind = model.layers[index].kind as? Kind
        else { return model }
        var layer = model.layers[index]
        change(&kind, &layer)
        layer.kind = kind
        model.layers[index] = layer
        return model
    }

    @Test("a .capsnet whose sizes multiply past Int, or whose formats disagree, is refused", .needsFixtures)
    func modelFileSizes() throws {
        let (_, model) = try tinyQuantized()
        #expect(Self.refusal(model) == nil)
        var cases: [(QuantizedModel, String)] = []

        // Kernel height x width x channels near 2^93 before the weight count is compared.
        cases.append((Self.changing(model, QuantizedConvolution.self) { conv, _ in
            conv.kernelHeight = Self.huge
            conv.kernelWidth = Self.huge
            conv.inputChannels = Self.huge
        }, "the convolution has a size of 2147483647, outside 1 to 32768"))
        // An output of three 2^31 - 1 sizes.
        cases.append((Self.changing(model, QuantizedConvolution.self) { _, layer in
            layer.outputShape = [Self.huge, Self.huge, Self.huge]
        }, "the output shape [2147483647, 2147483647, 2147483647] has a size outside 1 to 32768"))
        // Positions x filters of the primary capsules.
        cases.append((Self.changing(model, QuantizedPrimaryCapsule.self) { primary, _ in
            primary.convolution.outputHeight = Self.huge
            primary.convolution.outputWidth = Self.huge
        }, "the convolution has a size of 2147483647"))
        // A window that starts outside the input.
        cases.append((Self.changing(model, QuantizedConvolution.self) { conv, _ in
            conv.strideX = 1000
        }, "the convolution's windows do not fit its input"))
        // Capsule sizes, and routings beyond what the kernel runs.
        cases.append((Self.changing(model, QuantizedCapsule.self) { capsule, _ in
            capsule.inputs = Self.huge
            capsule.outputs = Self.huge
        }, "the capsule layer has a size of 2147483647"))
        cases.append((Self.changing(model, QuantizedCapsule.self) { capsule, _ in
            capsule.iterations = Array(repeating: capsule.iterations[0], count: 17)
        }, "17 routing iterations, outside 1 to 16"))
        // Formats: a layer reading another format than the one before it writes, and absurd ones.
        cases.append((Self.changing(model, QuantizedCapsule.self) { capsule, _ in
            capsule.inputFrac += 1
        }, "reads its input as Q"))
        var input = model
        input.inputFrac = Self.huge
        cases.append((input, "the input has the format Q2147483647, outside the kernels' -8 to 15 fractional bits"))
        cases.append((Self.changing(model, QuantizedLength.self) { _, layer in
            layer.outputFrac = -Self.huge
        }, "has the format Q-2147483647"))
        var shape = model
        shape.inputShape = [Self.huge, Self.huge, 1]
        cases.append((shape, "the input shape [2147483647, 2147483647, 1] is not [H, W, C] with sizes 1 to 32768"))

        for (crafted, message) in cases {
            let refusal = Self.refusal(crafted)
            #expect(refusal?.contains(message) == true, "\(refusal ?? "accepted"), expected: \(message)")
        }
    }

    /// What reading the dataset at `path` reports, or nil if it reads.
    static func datasetRefusal(_ path: URL) -> String? {
        do {
            _ = try Dataset(path.path)
            return nil
        } catch {
            return error.description
        }
    }

    @Test("dataset headers that announce more than the tool reads are refused before anything is formed")
    func datasetHeaders() throws {
        let folder = try TestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        func idx(_ rank: UInt8, _ sizes: [UInt32], data: [UInt8] = []) -> [UInt8] {
            [0, 0, 8, rank] + sizes.flatMap { size in (0..<4).map { UInt8(truncatingIfNeeded: size >> (24 - 8 * $0)) } } + data
        }
        let labels = idx(1, [2], data: [1, 2])
        try Data(labels).write(to: folder.appendingPathComponent("x-labels-idx1-ubyte"))

        // 0xFFFFFFFF x 3 x 3: a product past the dataset limit (it used to be formed unchecked).
        let huge = folder.appendingPathComponent("x-images-idx3-ubyte")
        try Data(idx(3, [0xFFFF_FFFF, 3, 3])).write(to: huge)
        #expect(Self.datasetRefusal(huge)?.contains("announces 4294967295×3×3: an empty size, or more than the 268435456 values") == true)

        // A gzip bomb: 2 images announced, 64 MiB of zeros behind them, in about 64 KiB. Inflating
        // stops one byte past what the header announced.
        let bomb = folder.appendingPathComponent("y-images-idx3-ubyte.gz")
        try Data(GeneratedData.gzip(idx(3, [2, 2, 2], data: [UInt8](repeating: 0, count: 64 << 20)))).write(to: bomb)
        try Data(labels).write(to: folder.appendingPathComponent("y-labels-idx1-ubyte"))
        #expect(Self.datasetRefusal(bomb)?.contains("holds more than 8 data bytes, its header announces 8") == true)
        // The same with no header to go by: the limit of one file.
        #expect(throws: Zlib.Failure.self) {
            _ = try Zlib.inflate(GeneratedData.gzip([UInt8](repeating: 0, count: 1 << 20))[...], .gzip, limit: 1 << 16)
        }

        // A .npy header whose shape overflows Int, and one whose product overflows with the item size.
        for shape in ["(4294967295, 4294967295, 4294967295)", "(2305843009213693952, 8)"] {
            let npy = folder.appendingPathComponent("images.npy")
            try numpyFile("<f8", shape, []).write(to: npy)
            #expect(Self.datasetRefusal(npy)?.contains("the .npy header announces") == true, "\(shape)")
        }
    }

    @Test("a Keras input of 2^31 x 2^31 and routings beyond the kernels' are refused at load")
    func kerasSizes() throws {
        func config(input: String, routings: Int = 3) -> String {
            """
            {"class_name": "Sequential", "config": {"name": "m", "layers": [
              {"class_name": "InputLayer", "config": {"name": "input", "batch_shape": \(input)}},
              {"class_name": "Capsule", "config": {"name": "capsule", "num_capsule": 2, "dim_capsule": 3, "routings": \(routings)}},
              {"class_name": "Length", "config": {"name": "length"}}]}}
            """
        }
        #expect(throws: KerasModelError.Reason.invalidConfig(
            detail: "the input shape 2147483648×2147483648×1 has a size above 32768 or more than 67108864 values")
        ) { try KerasModelConfig(json: config(input: "[null, 2147483648, 2147483648, 1]")) }

        struct NoWeights: LayerWeights {
            func weights(of layer: KerasLayerConfig) -> [StoredWeight] { [] }
        }
        for routings in [50, 1_000_000] {
            let parsed = try KerasModelConfig(json: config(input: "[null, 4, 5]", routings: routings))
            #expect(throws: KerasModelError.Reason.unsupportedAttribute(
                layer: "capsule", className: "Capsule", attribute: "routings", value: "\(routings) (at most 16)")
            ) { try CapsNetModel.build(parsed, weights: NoWeights(), squashLambdas: []) }
        }
    }

    @Test("labels outside the model's classes, NaN pixels and non-finite or absurd weights are refused", .needsFixtures)
    func silentGarbage() throws {
        let folder = try TestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = try CapsNetModel(contentsOf: TestData.fixture("tiny_sequential.keras"))  // 3 classes
        let reference = FloatReference(model)
        let pixels = [UInt8](repeating: 9, count: 3 * 144)
        for (labels, refusal) in [([0, 2, 200], "image 2 has the label 200"), ([-1, 0, 1], "image 0 has the label -1")] {
            let data = folder.appendingPathComponent("labels\(labels[2])")
            try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
            try numpyFile("|u1", "(3, 12, 12)", pixels).write(to: data.appendingPathComponent("images.npy"))
            let bytes = labels.flatMap { withUnsafeBytes(of: Int64($0).littleEndian) { Array($0) } }
            try numpyFile("<i8", "(3,)", bytes).write(to: data.appendingPathComponent("labels.npy"))
            let dataset = try Dataset(data.path)
            #expect {
                _ = try reference.evaluate(dataset)
            } throws: { error in
                (error as? DatasetError)?.description.hasSuffix("\(refusal), but the model has 3 classes (0-2)") == true
            }
        }
        // 255 in an idx label file, for the int8 engine's scoring too.
        let (_, quantized) = try tinyQuantized()
        let engine = try Int8Engine(quantized)
        #expect(throws: DatasetError.self) { try Dataset(GeneratedData.digits).labels(classes: engine.model.outputShape[0] - 1) }

        // A NaN pixel in a float array.
        let nan = folder.appendingPathComponent("nan")
        try FileManager.default.createDirectory(at: nan, withIntermediateDirectories: true)
        var floats = [Float](repeating: 0.5, count: 2 * 144)
        floats[144 + 7] = .nan
        try numpyFile("<f4", "(2, 12, 12)", floats.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian) { Array($0) } })
            .write(to: nan.appendingPathComponent("images.npy"))
        try numpyFile("<i8", "(2,)", [Int64(0), 1].flatMap { withUnsafeBytes(of: $0.littleEndian) { Array($0) } })
            .write(to: nan.appendingPathComponent("labels.npy"))
        #expect(Self.datasetRefusal(nan)?.contains("image 1 holds a pixel that is nan, not a number") == true)
    }

    @Test("weights that are NaN, infinite or absurd, and a model that does not end in class lengths, are refused at load")
    func kerasGarbage() throws {
        struct Filled: LayerWeights {
            var value: Float
            func weights(of layer: KerasLayerConfig) -> [StoredWeight] {
                layer.className == "Capsule" ? [StoredWeight(name: "weights", shape: [2, 4, 3, 5], values: .init(repeating: value, count: 120))] : []
            }
        }
        func config(last: String) -> String {
            """
            {"class_name": "Sequential", "config": {"name": "m", "layers": [
              {"class_name": "InputLayer", "config": {"name": "input", "batch_shape": [null, 4, 5]}},
              {"class_name": "Capsule", "config": {"name": "capsule", "num_capsule": 2, "dim_capsule": 3, "routings": 2}}\(last)]}}
            """
        }
        let lengths = try KerasModelConfig(json: config(last: #", {"class_name": "Length", "config": {"name": "length"}}"#))
        #expect(try CapsNetModel.build(lengths, weights: Filled(value: 0.5), squashLambdas: []).layers.count == 2)
        for value in [Float.nan, .infinity, 1e30] {
            #expect {
                try CapsNetModel.build(lengths, weights: Filled(value: value), squashLambdas: [])
            } throws: { error in
                guard case .weightValue("capsule", "Capsule", "weights", let held) = error as? KerasModelError.Reason else { return false }
                return held.isNaN ? value.isNaN : held == value
            }
        }
        let flattened = try KerasModelConfig(json: config(last: #", {"class_name": "Flatten", "config": {"name": "flatten"}}"#))
        #expect(throws: KerasModelError.Reason.notClassLengths(layer: "capsule", className: "Capsule")) {
            try CapsNetModel.build(flattened, weights: Filled(value: 0.5), squashLambdas: [])
        }
    }

    @Test("capsnet-fuzz replays inputs through each target without libFuzzer, as regressions are checked", .needsFixtures)
    func fuzzReplay() throws {
        let folder = try TestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (_, model) = try tinyQuantized()
        let payload = folder.appendingPathComponent("payload")
        try Data(QuantizedModelFile.encode(model).dropFirst(24)).write(to: payload)
        let garbage = folder.appendingPathComponent("garbage")
        try Data([0xFF, 0xFF, 0xFF, 0x7F, 0, 0, 0, 0, 0x4C, 0x42]).write(to: garbage)
        let fuzz = CapsNetTool.executable.deletingLastPathComponent().appendingPathComponent("capsnet-fuzz").path
        for target in ["capsnet", "npy", "idx", "cifar", "keras-archive"] {
            let result = try runProcess(fuzz, [target, payload.path, garbage.path])
            #expect(result.status == 0, "\(target): \(result.error)")
            #expect(result.output.components(separatedBy: ": ran").count == 3, "\(target)")
        }
        let keras = try runProcess("/usr/bin/env", [
            "CAPSNET_FUZZ_WEIGHTS=" + TestData.fixture("weights_only_keras2.h5"), fuzz, "keras", TestData.fixture("tiny_sequential.json"), garbage.path,
        ])
        #expect(keras.status == 0, "\(keras.error)")
        #expect(try runProcess(fuzz, ["nonsense"]).status == 2)
    }
}
