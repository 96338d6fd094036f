@testable import CapsNetConverter
import Foundation
import Testing

@Suite("The CapsNet-Keras family and Functional graphs")
struct CapsNetKerasTests {
    /// Every save of the fixture's CapsNet: the training model (label input, Mask, decoder), the
    /// evaluation model (two outputs), the CapsNet nested inside the training model, and weights
    /// only in both layouts with the training model's to_json().
    static let saves: [(file: String, config: String?)] = [
        ("capsnet_keras_train.keras", nil), ("capsnet_keras_train.h5", nil), ("capsnet_keras_eval.keras", nil),
        ("capsnet_keras_eval.h5", nil), ("capsnet_keras_nested.keras", nil), ("capsnet_keras_nested.h5", nil),
        ("capsnet_keras.weights.h5", "capsnet_keras_train.json"),
        ("capsnet_keras_weights_keras2.h5", "capsnet_keras_train.json"),
    ]

    @Test(
        "every save loads to the same CapsNet, the primary capsules recognized, the rest left out, equal to Keras",
        .needsFixtures, arguments: saves)
    func loads(file: String, config: String?) throws {
        let model = try CapsNetModel(contentsOf: TestData.fixture(file), config: config.map(TestData.fixture))
        #expect(model.layers.map(\.className) == ["Conv2D", "Conv2D+Reshape+Lambda", "CapsuleLayer", "Length"])
        #expect(model.inputShape == [12, 12, 1])  // the file's fixed batch size of 3 is not a dimension
        let primary = try #require(model.layers[1].kind as? PrimaryCapsule)
        #expect(primary.capsulesPerPosition == 2 && primary.dimension == 4 && primary.squashEpsilon == 1e-7)
        #expect((model.layers[2].kind as? Capsule)?.squashEpsilon == 1e-7)
        #expect(model.leftOut.contains { $0.hasPrefix("decoder (Sequential)") })
        #expect(model.leftOut.contains { $0.hasSuffix("(Mask)") })
        #expect(model.leftOut.count == (file.contains("eval") ? 2 : 3))  // the evaluation model has no label input

        let reference = try CapsNetModel(contentsOf: TestData.fixture("capsnet_keras_train.keras"))
        #expect(model.layers == reference.layers)
        let input = try tensor(TestData.fixture("capsnet_keras_input.npy"))
        let expected = try tensor(TestData.fixture("capsnet_keras_output.npy"))
        let (maxAbs, range) = difference(try FloatReference(model).outputs(input), expected)
        #expect(maxAbs <= 1e-4 * range, "max abs difference \(maxAbs), range \(range)")
    }

    @Test("in int8 the family runs like the others: its file reads back, and 1 to 4 threads agree", .needsFixtures)
    func quantized() throws {
        let model = try CapsNetModel(contentsOf: TestData.fixture("capsnet_keras_train.h5"))
        let data = TestData.fixture("capsnet_keras_train_data/images.npy")
        let quantized = try Quantizer().quantize(model, calibration: Dataset(data + "@0-15"))
        #expect(quantized.layers[1].kind is QuantizedPrimaryCapsule)
        #expect(try QuantizedModelFile.decode(QuantizedModelFile.encode(quantized)) == quantized)
        let engine = try Int8Engine(quantized)
        let images = try Dataset(data + "@16-23").images(for: model)
        let size = quantized.inputShape.reduce(1, *)
        for image in 0..<8 {
            let input = engine.quantizeInput(images.values[image * size..<(image + 1) * size])
            let expected = try engine.run(input)
            for cores in 2...4 { #expect(try engine.runner(on: CoreTeam(cores: cores)).run(input) == expected) }
        }
    }

    // MARK: - Lambda

    /// `squash` and `lambda x: squash(x, axis=-1)` and `lambda x: x * 2.0` as Python 3.11's marshal
    /// writes their bytecode, base64 as Keras's func_dump stores it.
    static let squashCode =
        "4wIAAAAAAAAAAAAAAAMAAAADAAAA80gAAACXAHwAZAF6CAAAoAAAAAAAAAAAAAAAAAAAAAAAAAAA\nAHwBpgEAAKsBAAAAAAAAAAB9AnwCZAJ8AnoAAAB6CwAAfAB6BQAAUwApA07pAgAAAOkBAAAAKQHa\nA3N1bSkD2gd2ZWN0b3Jz2gRheGlz2gFucwMAAAAgICD6CDxzdHJpbmc+2gZzcXVhc2hyCQAAAAMA\nAABzLAAAAIAA2AkQkCGJGtcIGNIIGJgU0Qge1AgegEHYCwyQAZBBkQWJO5gX0Qsg0AQg8wAAAAA=\n"
    static let callsSquashCode =
        "4wEAAAAAAAAAAAAAAAQAAAADAAAA8yQAAACXAHQBAAAAAAAAAAAAAHwAZAGsAqYCAACrAgAAAAAA\nAAAAUwApA07p/////ykB2gRheGlzKQHaBnNxdWFzaKkB2gF4cwEAAAAg+gg8c3RyaW5nPvoIPGxh\nbWJkYT5yCAAAAAcAAABzEwAAAIAAjWaQUZhS0A4g0Q4g1A4ggADzAAAAAA==\n"
    static let doublesCode =
        "4wEAAAAAAAAAAAAAAAIAAAADAAAA8wwAAACXAHwAZAF6BQAAUwApAk7nAAAAAAAAAECpAKkB2gF4\ncwEAAAAg+gg8c3RyaW5nPvoIPGxhbWJkYT5yBwAAAAYAAABzCgAAAIAAiGGQI4lngADzAAAAAA==\n"

    @Test("a Lambda is a squash by its function's name, in both Keras versions' forms, or when declared one")
    func lambdaFunctions() {
        func identifiers(_ json: String) -> [String] { Squash.function(JSONValue(parsing: json)).identifiers }
        #expect(identifiers(#"{"class_name": "function", "config": "squash", "module": "builtins"}"#) == ["squash"])
        #expect(identifiers(#""squash""#) == ["squash"])  // Keras 2, function_type "function"
        for code in [Self.squashCode, Self.callsSquashCode] {
            #expect(identifiers("[\"\(code.replacingOccurrences(of: "\n", with: "\\n"))\", null, null]").contains("squash"))
            #expect(
                identifiers("{\"class_name\": \"__lambda__\", \"config\": {\"code\": \"\(code.replacingOccurrences(of: "\n", with: "\\n"))\"}}")
                    .contains("squash"))
        }
        #expect(!Squash.marshalNames(Self.doublesCode).contains { $0.contains("squash") })
        #expect(Squash.marshalNames(Self.doublesCode).contains("x"))
    }

    /// A Keras 2 Functional configuration: input, Conv2D, Reshape, a Lambda running `function`, a
    /// Capsule and a Length.
    static func keras2Model(lambda function: String, extraLayers: String = "", outputs: String = #"[["length", 0, 0]]"#) -> String {
        """
        {"class_name": "Model", "config": {"name": "k2", "layers": [
          {"class_name": "InputLayer", "name": "input_1", "config": {"name": "input_1", "batch_input_shape": [20, 6, 6, 1]},
           "inbound_nodes": []},
          {"class_name": "Conv2D", "name": "pc", "config": {"name": "pc", "filters": 4, "kernel_size": [3, 3], "use_bias": false},
           "inbound_nodes": [[["input_1", 0, 0, {}]]]},
          {"class_name": "Reshape", "name": "r", "config": {"name": "r", "target_shape": [-1, 2]},
           "inbound_nodes": [[["pc", 0, 0, {}]]]},
          {"class_name": "Lambda", "name": "sq", "config": {"name": "sq", "function": \(function), "function_type": "lambda",
           "arguments": {}}, "inbound_nodes": [[["r", 0, 0, {}]]]},
          {"class_name": "Length", "name": "length", "config": {"name": "length"}, "inbound_nodes": [[["sq", 0, 0, {}]]]}
          \(extraLayers)],
          "input_layers": [["input_1", 0, 0]], "output_layers": \(outputs)}}
        """
    }

    /// The model of a configuration, with random weights where it needs any.
    static func load(_ json: String, squashLambdas: Set<String> = []) throws(KerasModelError.Reason) -> CapsNetModel {
        let config = try KerasModelConfig(json: json)
        struct Zeros: LayerWeights {
            func weights(of layer: KerasLayerConfig) -> [StoredWeight] {
                layer.className == "Conv2D" ? [StoredWeight(name: "kernel", shape: [3, 3, 1, 4], values: .init(repeating: 0.1, count: 36))] : []
            }
        }
        return try CapsNetModel.build(config, weights: Zeros(), squashLambdas: squashLambdas)
    }

    @Test("Keras 2's form: a bytecode squash makes primary capsules; another function is refused until declared")
    func keras2Lambda() throws {
        let squash = "[\"\(Self.squashCode.replacingOccurrences(of: "\n", with: "\\n"))\", null, null]"
        let model = try Self.load(Self.keras2Model(lambda: squash))
        #expect(model.layers.map(\.className) == ["Conv2D+Reshape+Lambda", "Length"])
        #expect(model.inputShape == [6, 6, 1])  // batch_input_shape [20, ...]: a fixed batch size
        let other = "[\"\(Self.doublesCode.replacingOccurrences(of: "\n", with: "\\n"))\", null, null]"
        #expect(throws: KerasModelError.Reason.unsupportedLambda(layer: "sq", function: nil)) {
            try Self.load(Self.keras2Model(lambda: other))
        }
        let named = #"{"class_name": "function", "config": "my_norm"}"#
        #expect(throws: KerasModelError.Reason.unsupportedLambda(layer: "sq", function: "my_norm")) {
            try Self.load(Self.keras2Model(lambda: named))
        }
        let message = KerasModelError(path: "m.h5", reason: .unsupportedLambda(layer: "sq", function: "my_norm")).description
        #expect(message == "m.h5: layer 'sq' is a Lambda running 'my_norm', which this tool cannot run; if it is a squash over the last axis, pass --squash-lambda sq")
        for declared in ["sq", "my_norm"] {
            #expect(try Self.load(Self.keras2Model(lambda: named), squashLambdas: [declared]).layers.count == 2)
        }
        // A misspelt name is an error of its own, not silence followed by the advice to pass it.
        #expect(throws: KerasModelError.Reason.unmatchedSquashLambda(name: "my_nrom", lambdas: ["sq"])) {
            try Self.load(Self.keras2Model(lambda: named), squashLambdas: ["my_norm", "my_nrom"])
        }
        let unmatched = KerasModelError(path: "m.h5", reason: .unmatchedSquashLambda(name: "x", lambdas: [])).description
        #expect(unmatched == "m.h5: --squash-lambda x names no Lambda layer or function on the path to the class lengths; that path has no Lambda")
    }

    // MARK: - Graphs

    @Test("graphs without a class-length output, with a branch, a cycle or a repeated call on the path are refused")
    func badGraphs() {
        let squash = #"{"class_name": "function", "config": "squash"}"#
        #expect(throws: KerasModelError.Reason.invalidConfig(
            detail: "no output of the model holds class lengths (a Length layer); its outputs come from r (Reshape)")
        ) { try KerasModelConfig(json: Self.keras2Model(lambda: squash, outputs: #"[["r", 0, 0]]"#)) }

        let branch = #"""
            , {"class_name": "Add", "name": "add", "config": {"name": "add"},
               "inbound_nodes": [[["length", 0, 0, {}], ["length", 0, 0, {}]]]},
              {"class_name": "Flatten", "name": "flat", "config": {"name": "flat"}, "inbound_nodes": [[["add", 0, 0, {}]]]}
            """#
        // Flatten after an Add: the Add is not a no-op, so the class lengths are at 'length' only.
        #expect(throws: KerasModelError.Reason.self) {
            try KerasModelConfig(json: Self.keras2Model(lambda: squash, extraLayers: branch, outputs: #"[["flat", 0, 0]]"#))
        }
        let twoInputs = #"""
            , {"class_name": "Length", "name": "sum", "config": {"name": "sum"},
               "inbound_nodes": [[["sq", 0, 0, {}], ["r", 0, 0, {}]]]}
            """#
        #expect(throws: KerasModelError.Reason.invalidConfig(
            detail: "sum (Length) reads 2 tensors on the path from the input to the class lengths; only a chain of layers is supported")
        ) { try KerasModelConfig(json: Self.keras2Model(lambda: squash, extraLayers: twoInputs, outputs: #"[["sum", 0, 0]]"#)) }

        var cycle = Self.keras2Model(lambda: squash)
        cycle = cycle.replacingOccurrences(of: #"[[["pc", 0, 0, {}]]]"#, with: #"[[["sq", 0, 0, {}]]]"#)
        #expect(throws: KerasModelError.Reason.invalidConfig(detail: "the layers' inbound nodes form a cycle through sq (Lambda)")) {
            try KerasModelConfig(json: cycle)
        }
        let twice = Self.keras2Model(lambda: squash).replacingOccurrences(
            of: #""inbound_nodes": [[["sq", 0, 0, {}]]]"#, with: #""inbound_nodes": [[["sq", 0, 0, {}]], [["sq", 0, 0, {}]]]"#)
        #expect(throws: KerasModelError.Reason.invalidConfig(
            detail: "length (Length) is called 2 times on the path from the input to the class lengths; only a chain of layers is supported")
        ) { try KerasModelConfig(json: twice) }
    }

    @Test("a squash Lambda that does not follow a convolution and a reshape is a layer of its own, in int8 too")
    func standaloneSquash() throws {
        let squash = #"{"class_name": "function", "config": "squash"}"#
        let withActivation = Self.keras2Model(lambda: squash).replacingOccurrences(
            of: #""use_bias": false}"#, with: #""use_bias": false, "activation": "relu"}"#)
        let model = try Self.load(withActivation)
        #expect(model.layers.map(\.className) == ["Conv2D", "Reshape", "Lambda", "Length"])
        #expect(model.layers[2].kind is Squash)
        let images = (0..<5 * 36).map { Float(($0 * 7919) % 256) / 255 }
        let folder = try TestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("images.npy").path
        try numpyFile("<f4", "(5, 6, 6, 1)", images.withUnsafeBytes { [UInt8]($0) }).write(to: URL(fileURLWithPath: path))
        try numpyFile("<i8", "(5,)", (0..<5).flatMap { withUnsafeBytes(of: Int64($0 % 2).littleEndian) { [UInt8]($0) } })
            .write(to: folder.appendingPathComponent("labels.npy"))
        let quantized = try Quantizer().quantize(model, calibration: Dataset(path))
        #expect(quantized.layers[2].kind is QuantizedSquash)
        #expect(try QuantizedModelFile.decode(QuantizedModelFile.encode(quantized)) == quantized)
        let engine = try Int8Engine(quantized)
        let float = try FloatReference(model).outputs(Tensor(shape: [5, 6, 6, 1], values: images))
        for image in 0..<5 {
            let input = engine.quantizeInput(images[image * 36..<(image + 1) * 36])
            let output = try engine.run(input)
            #expect(try engine.runner(on: CoreTeam(cores: 3)).run(input) == output)
            let step = pow(2, -Double(quantized.layers.last?.outputFrac ?? 0))
            for (j, value) in output.enumerated() {
                #expect(abs(Double(value) * step - Double(float.values[image * output.count + j])) < 0.05)
            }
        }
    }
}
