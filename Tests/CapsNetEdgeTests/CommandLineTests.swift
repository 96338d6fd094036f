import CapsNetEdge
import Foundation
import Testing

/// Runs the built `capsnet` executable, which `swift test` builds beside the test bundle.
enum CapsNetTool {
    static var executable: URL {
        let tests = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        return tests.deletingLastPathComponent().appendingPathComponent("capsnet")
    }

    static func run(_ arguments: [String]) throws -> ProcessResult { try runProcess(executable.path, arguments) }
}

@Suite("capsnet command line")
struct CommandLineTests {
    @Test("inspect prints the layer table with totals, and JSON with the same figures", .needsFixtures)
    func inspect() throws {
        let model = TestData.fixture("tiny_sequential.keras")
        let table = try CapsNetTool.run(["inspect", model])
        #expect(table.status == 0, "\(table.error)")
        #expect(table.output.contains("PrimaryCapsule"))
        #expect(table.output.contains("total"))
        let json = try CapsNetTool.run(["inspect", model, "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any]
        let total = object?["total"] as? [String: Int]
        #expect(total?["parameters"] == 1_872)
        #expect(total?["int8_bytes"] == 1_872)
        #expect(total?["float32_bytes"] == 7_488)
        #expect((object?["layers"] as? [Any])?.count == 4)
    }

    @Test("inspect and eval take a weights-only file with --config", .needsFixtures)
    func weightsOnlyWithConfig() throws {
        let arguments = [TestData.fixture("weights_only_keras2.h5"), "--config", TestData.fixture("tiny_sequential.json")]
        let json = try CapsNetTool.run(["inspect"] + arguments + ["--json"])
        #expect(json.status == 0, "\(json.error)")
        let object = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any]
        #expect((object?["total"] as? [String: Int])?["parameters"] == 1_872)
        let eval = try CapsNetTool.run(["eval"] + arguments + ["--data", GeneratedData.digits])
        #expect(eval.status == 0, "\(eval.error)")
        let without = try CapsNetTool.run(["inspect", TestData.fixture("weights_only_keras2.h5")])
        #expect(without.status != 0)
        #expect(without.error.contains("pass --config model.json"), "\(without.error)")
    }

    @Test("eval scores a dataset; the JSON has float_top1 and images", .needsFixtures)
    func evalJSON() throws {
        let result = try CapsNetTool.run([
            "eval", TestData.fixture("tiny_sequential.keras"), "--data", GeneratedData.digits + "@1-4", "--json",
        ])
        #expect(result.status == 0, "\(result.error)")
        let object = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any]
        #expect(object?["images"] as? Int == 4)
        let top1 = try #require(object?["float_top1"] as? Double)
        #expect(top1 >= 0 && top1 <= 100)
    }

    @Test("eval on the MNIST test set prints 99.01%", .needsSharedData, .datasetScale)
    func mnist() throws {
        let result = try CapsNetTool.run(["eval", TestData.mnistModel, "--data", TestData.shared("mnist")])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output.contains("float32 top-1: 99.01% (9,901 correct)"), "\(result.output)")
    }

    /// Every bad input ends with a message on standard error and a non-zero exit.
    @Test(
        "bad input: a clear message and a non-zero exit", .needsFixtures,
        arguments: [
            (["eval", "missing.h5", "--data", "digits"], "missing.h5: no such file"),
            (["eval", "not-a-model", "--data", "digits"], "not a Keras model: neither an HDF5 file"),
            (["inspect", "truncated"], "the file is truncated or damaged"),
            (["inspect", "quantized"], "is a quantized model; inspect reads the trained Keras model"),
            (["inspect", "weights_only.weights.h5"], "holds weights only"),
            (["inspect", "unsupported_layer.h5"], "is a MaxPooling2D, which is not supported"),
            (["inspect", "shape_mismatch.h5"], "is 3×3×1×5, but the configuration needs 3×3×1×4"),
            (
                ["eval", "tiny_functional.keras", "--data", "digits"],
                "the images are 12×12×1, but the model takes 11×9×2"
            ),
            (["eval", "tiny_sequential.keras", "--data", "digits@3-2"], "the range 3-2 selects no images"),
            (["eval", "tiny_sequential.keras", "--data", "digits@0-9"], "goes past the last image"),
            (
                ["eval", "tiny_sequential.keras", "--data", "digits", "--batch-size", "0"],
                "--batch-size must be at least 1"
            ),
        ])
    func badInput(arguments: [String], message: String) throws {
        let folder = try TestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let truncated = folder.appendingPathComponent("truncated.h5")
        let model = try Data(contentsOf: URL(fileURLWithPath: TestData.fixture("tiny_sequential.h5")))
        try model.prefix(model.count / 2).write(to: truncated)

        let quantized = folder.appendingPathComponent("model.capsnet")
        try QuantizedModelFile.write(try tinyQuantized().1, to: quantized.path)

        let resolved = arguments.map { argument -> String in
            if argument == "truncated" { return truncated.path }
            if argument == "quantized" { return quantized.path }
            if argument == "not-a-model" { return TestData.notAModel }
            if argument.hasPrefix("digits") { return GeneratedData.digits + argument.dropFirst("digits".count) }
            if argument.hasSuffix(".h5") || argument.hasSuffix(".keras") {
                return TestData.fixture(argument)
            }
            return argument
        }
        let result = try CapsNetTool.run(resolved)
        #expect(result.status != 0)
        #expect(result.error.contains(message), "\(result.error)")
        #expect(result.output.isEmpty)
    }
}
