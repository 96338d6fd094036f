import CapsNetEdge
import Foundation
import Testing

@Suite("capsnet convert")
struct ConvertCommandTests {
    @Test("outputs are one set: a failure leaves the previous ones whole, an unwritable folder fails first", .needsFixtures)
    func outputsAreASet() throws {
        let folder = try TestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let out = folder.appendingPathComponent("out").path
        let digits = GeneratedData.digits
        func convert(_ out: String) throws -> ProcessResult {
            try CapsNetTool.run([
                "convert", TestData.fixture("tiny_sequential.keras"), "--calibration", digits, "--eval", digits, "--out", out,
            ])
        }
        #expect(try convert(out).status == 0)
        let model = try Data(contentsOf: URL(fileURLWithPath: out + "/model.capsnet"))
        let names = try FileManager.default.contentsOfDirectory(atPath: out).sorted()

        // report.md cannot be written (a folder stands in its way) in a second convert, on other
        // calibration images: model.capsnet and report.json stay the first run's, and no staging is left.
        try FileManager.default.removeItem(atPath: out + "/report.md")
        try FileManager.default.createDirectory(atPath: out + "/report.md", withIntermediateDirectories: false)
        let blocked = try CapsNetTool.run([
            "convert", TestData.fixture("tiny_sequential.keras"), "--calibration", digits + "@0-1", "--eval", digits,
            "--out", out,
        ])
        #expect(blocked.status != 0)
        #expect(blocked.error.contains("\(out)/report.md: a folder is in the way of the output file"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: out + "/model.capsnet")) == model)
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).sorted() == names)

        // An export whose name is too long for the file system leaves the previous export whole.
        let export = folder.appendingPathComponent("export").path
        #expect(try CapsNetTool.run(["export", out + "/model.capsnet", "--out", export]).status == 0)
        let cmake = try Data(contentsOf: URL(fileURLWithPath: export + "/CMakeLists.txt"))
        let long = try CapsNetTool.run(["export", out + "/model.capsnet", "--out", export, "--name", String(repeating: "a", count: 300)])
        #expect(long.status != 0)
        #expect(long.error.contains(": cannot write: File name too long"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: export + "/CMakeLists.txt")) == cmake)
        #expect(try FileManager.default.contentsOfDirectory(atPath: export).allSatisfy { !$0.hasPrefix(".capsnet-staging") })

        // An output folder that cannot be made fails before any work, in one line naming it.
        let file = folder.appendingPathComponent("file").path
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        let unwritable = try convert(file + "/out")
        #expect(unwritable.status != 0)
        #expect(unwritable.error == "Error: \(file): not a folder, cannot write into it\n")
        #expect(!unwritable.error.contains("NSCocoaErrorDomain"))
        // A folder made for a run that fails is removed again.
        let fresh = folder.appendingPathComponent("fresh/deeper").path
        #expect(try CapsNetTool.run(["convert", TestData.fixture("tiny_sequential.keras"), "--calibration", "missing.npy", "--eval", digits, "--out", fresh]).status != 0)
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("fresh").path))
    }

    @Test("convert writes the model and both reports; eval runs the quantized model", .needsFixtures)
    func convertTiny() throws {
        let folder = try TestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let out = folder.appendingPathComponent("out").path
        let digits = GeneratedData.digits
        let result = try CapsNetTool.run([
            "convert", TestData.fixture("tiny_sequential.keras"), "--calibration", digits + "@0-2", "--eval", digits,
            "--out", out, "--scheme", "reference",
        ])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output.contains("# Quantization report"))
        let json = try Data(contentsOf: URL(fileURLWithPath: out + "/report.json"))
        let report = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        for key in ["float_top1", "int8_top1", "agreement", "flash_bytes", "ram_bytes", "scheme", "images", "layers"] {
            #expect(report[key] != nil, "report.json lacks \(key)")
        }
        #expect(report["scheme"] as? String == "reference")
        #expect(report["images"] as? Int == 5)
        let layers = try #require(report["layers"] as? [[String: Any]])
        #expect(layers.map { $0["name"] as? String } == ["conv2d", "primary_capsule", "capsule", "length"])
        #expect(layers.allSatisfy { $0["sqnr_db"] is Double })
        #expect(FileManager.default.fileExists(atPath: out + "/report.md"))
        let page = try String(contentsOfFile: out + "/report.html", encoding: .utf8)
        #expect(page.hasPrefix("<!DOCTYPE html>") && page.contains("<h2>Sensitivity</h2>"))
        let sensitivity = try #require(report["sensitivity"] as? [String: Any])
        #expect((sensitivity["rows"] as? [Any])?.isEmpty == false)

        let eval = try CapsNetTool.run(["eval", out + "/model.capsnet", "--data", digits, "--json"])
        #expect(eval.status == 0, "\(eval.error)")
        let scores = try JSONSerialization.jsonObject(with: Data(eval.output.utf8)) as? [String: Any]
        #expect(scores?["int8_top1"] as? Double == report["int8_top1"] as? Double)

        let bench = try CapsNetTool.run([
            "bench", out + "/model.capsnet", "--data", digits, "--images", "3", "--threads", "3", "--json",
        ])
        #expect(bench.status == 0, "\(bench.error)")
        let timing = try #require(try JSONSerialization.jsonObject(with: Data(bench.output.utf8)) as? [String: Any])
        #expect(timing["images"] as? Int == 3)
        let int8 = try #require(timing["int8"] as? [[String: Any]])
        #expect(int8.map { $0["threads"] as? Int } == [1, 3])
        for configuration in int8 {
            #expect((configuration["ms_per_image"] as? Double ?? 0) > 0)
            #expect((configuration["median_ms_per_run"] as? Double ?? 0) > 0)
        }
        #expect(int8.map { $0["arena_bytes"] as? Int }.allSatisfy { ($0 ?? 0) > 0 })
    }

    /// Each bad invocation ends with a message and a non-zero exit, and writes nothing.
    @Test(
        "bad calibration data and bad options: a clear message, a non-zero exit, nothing written", .needsFixtures,
        arguments: [
            (["--calibration", "digits@4-3"], "the range 4-3 selects no images"),
            (["--calibration", "nan"], "image 1 holds a pixel that is nan, not a number"),
            (["--calibration", "functional"], "the images are 11×9×2, but the model takes 12×12×1"),
            (["--out", "file"], "--out"),
            (["--scheme", "best"], "'best'"),
            (["--model", "quantized"], "is already quantized"),
        ])
    func badInvocations(change: [String], message: String) throws {
        let folder = try TestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let out = folder.appendingPathComponent("out").path
        let file = folder.appendingPathComponent("file").path
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        let nan = try writeNaNImages(to: folder)
        let quantized = folder.appendingPathComponent("q.capsnet").path
        let (_, model) = try tinyQuantized()
        try QuantizedModelFile.write(model, to: quantized)
        let functionalImages = TestData.fixture("tiny_functional_input.npy")
        // tiny_functional_input.npy (three 11×9×2 images) has no labels.npy beside it: give it some.
        let functionalFolder = folder.appendingPathComponent("functional")
        try FileManager.default.createDirectory(at: functionalFolder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            atPath: functionalImages, toPath: functionalFolder.appendingPathComponent("x.npy").path)
        try numpyFile("|u1", "(3,)", [0, 1, 2]).write(to: functionalFolder.appendingPathComponent("labels.npy"))

        var options = [
            "--model": TestData.fixture("tiny_sequential.keras"), "--calibration": GeneratedData.digits,
            "--eval": GeneratedData.digits, "--out": out,
        ]
        let substitutions = [
            "nan": nan, "file": file, "quantized": quantized, "functional": functionalFolder.path + "/x.npy",
            "digits@4-3": GeneratedData.digits + "@4-3",
        ]
        var extra: [String] = []
        for pair in stride(from: 0, to: change.count, by: 2) {
            let value = substitutions[change[pair + 1]] ?? change[pair + 1]
            if options[change[pair]] != nil { options[change[pair]] = value } else { extra += [change[pair], value] }
        }
        let arguments =
            ["convert", options["--model"] ?? ""]
            + ["--calibration", options["--calibration"] ?? "", "--eval", options["--eval"] ?? ""]
            + ["--out", options["--out"] ?? ""] + extra
        let result = try CapsNetTool.run(arguments)
        #expect(result.status != 0)
        #expect(result.error.contains(message), "\(result.error)")
        #expect(!FileManager.default.fileExists(atPath: out + "/model.capsnet"))
    }
}
