import Foundation
import Testing

@testable import CapsNetConverter
@testable import CapsNetRuntime
import CapsNetEdge

@Suite("Keras model loader")
struct KerasLoaderTests {
    @Test("the MNIST CapsNet loads with the paper's shapes and its 296,800 parameters", .needsSharedData)
    func mnistModel() throws {
        let model = try CapsNetModel(contentsOf: TestData.mnistModel)
        #expect(model.inputShape == [28, 28, 1])
        #expect(model.layers.map(\.className) == ["Conv2D", "Activation", "PrimaryCapsule", "Capsule", "Length"])
        #expect(model.layers.map(\.outputShape) == [[22, 22, 16], [22, 22, 16], [1024, 4], [10, 6], [10]])
        #expect(model.layers.map(\.parameterCount).reduce(0, +) == 296_800)
        #expect(model.layers.map(\.macs).reduce(0, +) == 4_143_680)
        guard let capsule = model.layers[3].kind as? Capsule else {
            Issue.record("layer 3 is not a capsule layer")
            return
        }
        #expect(capsule.routings == 3)
        #expect(capsule.weightShape == [10, 1024, 6, 4])
        guard let primary = model.layers[2].kind as? PrimaryCapsule else {
            Issue.record("layer 2 is not a primary capsule layer")
            return
        }
        #expect(primary.convolution.kernelShape == [7, 7, 16, 64])
        #expect(primary.convolution.strideY == 2 && primary.convolution.strideX == 2)
    }

    @Test(
        "Keras 3 writes the same model as .keras and legacy .h5; both load to the same value", .needsFixtures,
        arguments: ["tiny_sequential", "tiny_functional", "tiny_leaky", "tiny_bn_valid", "tiny_bn_same"])
    func keras3Formats(name: String) throws {
        let archive = try CapsNetModel(contentsOf: TestData.fixture(name + ".keras"))
        let legacy = try CapsNetModel(contentsOf: TestData.fixture(name + ".h5"))
        #expect(archive.layers == legacy.layers)
        #expect(archive.inputShape == legacy.inputShape)
    }

    @Test(
        "a re-zipped (deflated) .keras archive loads as the stored one; a flipped byte fails its check", .needsFixtures)
    func deflatedArchive() throws {
        let stored = try CapsNetModel(contentsOf: TestData.fixture("tiny_sequential.keras"))
        let deflatedPath = TestData.fixture("tiny_sequential_deflated.keras")
        #expect(try CapsNetModel(contentsOf: deflatedPath) == stored)

        let folder = try TestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: deflatedPath)))
        bytes[bytes.count / 2] ^= 0x40
        let corrupted = folder.appendingPathComponent("corrupted.keras")
        try Data(bytes).write(to: corrupted)
        #expect {
            _ = try CapsNetModel(contentsOf: corrupted.path)
        } throws: { error in
            guard let error = error as? KerasModelError, case .damaged(let detail) = error.reason else { return false }
            return detail.contains("model.weights.h5")
        }
    }

    @Test("a functional chain with same padding, no bias, rectangular strides and no-op layers", .needsFixtures)
    func functionalChain() throws {
        let model = try CapsNetModel(contentsOf: TestData.fixture("tiny_functional.keras"))
        #expect(
            model.layers.map(\.className) == [
                "Conv2D", "Dropout", "Activation", "PrimaryCapsule", "Reshape", "Capsule", "Length", "Flatten",
            ])
        guard let convolution = model.layers[0].kind as? Convolution else {
            Issue.record("layer 0 is not a convolution")
            return
        }
        #expect(convolution.bias == nil)
        #expect(convolution.padding == .same)
        #expect((convolution.strideY, convolution.strideX) == (2, 1))
        #expect(model.layers[0].outputShape == [6, 9, 6])
        #expect(model.layers[3].outputShape == [90, 4])
        #expect(model.outputShape == [2])
    }

    /// Each bad file gives its own message, naming the file and the cause.
    @Test(
        "weights-only files in both layouts load with --config, matched by position even when renamed",
        .needsFixtures,
        arguments: [
            ("weights_only.weights.h5", "tiny_sequential.json", "tiny_sequential"),
            ("weights_only_keras2.h5", "tiny_sequential.json", "tiny_sequential"),
            ("weights_only.weights.h5", "tiny_sequential_renamed.json", "tiny_sequential"),
            ("weights_only_keras2.h5", "tiny_sequential_renamed.json", "tiny_sequential"),
            ("tiny_bn_same.weights.h5", "tiny_bn_same_config.json", "tiny_bn_same"),
            ("tiny_bn_same_weights_keras2.h5", "tiny_bn_same_config.json", "tiny_bn_same"),
        ])
    func weightsOnly(weights: String, config: String, saved: String) throws {
        let whole = try CapsNetModel(contentsOf: TestData.fixture(saved + ".keras"))
        let loaded = try CapsNetModel(contentsOf: TestData.fixture(weights), config: TestData.fixture(config))
        #expect(loaded.inputShape == whole.inputShape)
        #expect(loaded.layers.count == whole.layers.count)
        for (mine, theirs) in zip(loaded.layers, whole.layers) {
            #expect(mine.kind.isEqual(to: theirs.kind), "\(mine.name)")
            #expect(mine.outputShape == theirs.outputShape)
        }
        #expect(loaded.layers.first?.name == (config.contains("renamed") ? "renamed_1" : whole.layers.first?.name))
    }

    @Test("a weights-only file without --config lists what it holds and says how to write the JSON", .needsFixtures)
    func weightsOnlyWithoutConfig() {
        for name in ["weights_only.weights.h5", "weights_only_keras2.h5"] {
            let path = TestData.fixture(name)
            #expect {
                _ = try CapsNetModel(contentsOf: path)
            } throws: { error in
                let text = (error as? KerasModelError)?.description ?? ""
                return text.contains("holds weights only") && text.contains("to_json()") && text.contains("--config")
                    && text.contains("3×3×1×4")
            }
        }
    }

    @Test("weights and a configuration that do not fit are refused, naming both sides", .needsFixtures)
    func weightsMismatch() {
        #expect {
            _ = try CapsNetModel(
                contentsOf: TestData.fixture("weights_only_keras2.h5"), config: TestData.fixture("tiny_leaky_config.json"))
        } throws: { error in
            let text = (error as? KerasModelError)?.description ?? ""
            return text.contains("the file holds 3 layers with weights") && text.contains("the configuration 5")
        }
        #expect {
            _ = try CapsNetModel(contentsOf: TestData.fixture("weights_only_keras2.h5"), config: TestData.fixture("none.json"))
        } throws: { error in
            (error as? KerasModelError)?.description.contains("none.json: no such file") ?? false
        }
    }

    @Test("every way Keras writes a ReLU or a leaky ReLU loads as its kind, with its slope", .needsFixtures)
    func activations() throws {
        let model = try CapsNetModel(contentsOf: TestData.fixture("tiny_leaky.keras"))
        let convolutions = model.layers.compactMap { $0.kind as? Convolution }.map(\.activation)
        #expect(convolutions == [.leakyReLU(alpha: 0.3), .none, .leakyReLU(alpha: 0.2)])
        let slopes = model.layers.compactMap { ($0.kind as? LeakyReLU)?.alpha }
        #expect(slopes == [0.1, 0.2])
        #expect(model.layers.filter { $0.kind is ReLU }.map(\.className) == ["ReLU"])
    }

    @Test(
        "bad model files are refused with a message naming the cause", .needsFixtures,
        arguments: [
            ("missing.h5", "no such file"),
            ("not-a-model", "not a Keras model: neither an HDF5 file"),
            ("weights_only.weights.h5", "holds weights only"),
            ("unsupported_layer.h5", "layer 'max_pooling2d' is a MaxPooling2D, which is not supported"),
            ("unsupported_activation.h5", "(Conv2D): activation = 'tanh' is not supported"),
            ("saved_model", "a TensorFlow SavedModel directory; save the Keras model as .keras or .h5"),
            ("checkpoint.pt", "a PyTorch checkpoint; this tool reads Keras models"),
            ("legacy_checkpoint.pt", "a PyTorch checkpoint; this tool reads Keras models"),
            ("model.tflite", "a TensorFlow Lite flatbuffer"),
            ("model.onnx", "an ONNX model"),
            ("", "a directory, not a model file"),
            (
                "shape_mismatch.h5",
                "weight 'tiny_sequential/conv2d/kernel' is 3×3×1×5, but the configuration needs 3×3×1×4"
            ),
        ])
    func badFiles(name: String, message: String) {
        let path = name == "not-a-model" ? TestData.notAModel : name.isEmpty ? TestData.fixtures.path : TestData.fixture(name)
        do {
            _ = try CapsNetModel(contentsOf: path)
            Issue.record("\(name) loaded")
        } catch {
            #expect(error.path == path)
            #expect(error.description.contains(message), "\(error.description)")
        }
    }

    @Test("a truncated HDF5 file and a truncated .keras archive are reported as damaged", .needsFixtures)
    func truncated() throws {
        let folder = try TestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        for name in ["tiny_sequential.h5", "tiny_sequential.keras"] {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: TestData.fixture(name)))
            let path = folder.appendingPathComponent(name).path
            try bytes.prefix(bytes.count * 2 / 3).write(to: URL(fileURLWithPath: path))
            #expect {
                _ = try CapsNetModel(contentsOf: path)
            } throws: { error in
                guard let error = error as? KerasModelError, case .damaged = error.reason else { return false }
                return error.description.contains("truncated or damaged")
            }
        }
    }

    @Test("the input shape comes from an InputLayer, a first layer's batch_input_shape or build_input_shape")
    func inputShapeSources() throws {
        let conv = #"{"class_name": "Conv2D", "config": {"name": "c", "filters": 1, "kernel_size": 1"#
        let keras2 =
            #"{"class_name": "Sequential", "config": {"name": "s", "layers": ["#
            + conv + #", "batch_input_shape": [null, 9, 8, 3]}}]}}"#
        let keras3 =
            #"{"class_name": "Sequential", "config": {"name": "s", "build_input_shape": [null, 7, 6, 2], "layers": ["#
            + conv + "}}]}}"
        #expect(try KerasModelConfig(json: keras2).inputShape == [9, 8, 3])
        #expect(try KerasModelConfig(json: keras3).inputShape == [7, 6, 2])
        let undeclared = #"{"class_name": "Sequential", "config": {"name": "s", "layers": ["# + conv + "}}]}}"
        #expect(
            throws: KerasModelError.Reason.invalidConfig(
                detail: "the input shape is not declared (no InputLayer with 'batch_shape')")
        ) { try KerasModelConfig(json: undeclared) }
    }

    @Test("a Functional configuration whose output is not class lengths is refused")
    func notAChain() throws {
        // Two layers reading the input, written in Keras 2's inbound-node form, without output_layers:
        // the last layer is the output, and it is not a Length.
        let config = """
            {"class_name": "Functional", "config": {"name": "branch", "layers": [
              {"class_name": "InputLayer", "name": "in", "config": {"name": "in", "batch_input_shape": [null, 8, 8, 1]},
               "inbound_nodes": []},
              {"class_name": "Conv2D", "name": "a", "config": {"name": "a", "filters": 1, "kernel_size": [1, 1]},
               "inbound_nodes": [[["in", 0, 0, {}]]]},
              {"class_name": "Conv2D", "name": "b", "config": {"name": "b", "filters": 1, "kernel_size": [1, 1]},
               "inbound_nodes": [[["in", 0, 0, {}]]]}]}}
            """
        #expect(
            throws: KerasModelError.Reason.invalidConfig(
                detail: "no output of the model holds class lengths (a Length layer); its outputs come from b (Conv2D)")
        ) {
            try KerasModelConfig(json: config)
        }
    }
}
