import CapsNetEdge
import Foundation
import Testing

/// The runtime library stands alone: `capsnet-run`, an executable that depends on the
/// `CapsNetRuntime` product only, runs a converted model as the full library does, and links
/// none of the converter's libraries.
@Suite("Runtime library")
struct RuntimeTests {
    static var executable: URL {
        CapsNetTool.executable.deletingLastPathComponent().appendingPathComponent("capsnet-run")
    }

    /// The tiny fixture quantized and written to a temporary folder.
    static func convertedModel() throws -> (QuantizedModel, folder: URL, path: String) {
        let (_, quantized) = try tinyQuantized()
        let folder = try TestData.temporaryFolder()
        let path = folder.appendingPathComponent("tiny.capsnet").path
        try QuantizedModelFile.write(quantized, to: path)
        return (quantized, folder, path)
    }

    @Test("capsnet-run gives the int8 engine's class lengths for a converted model", .needsFixtures)
    func runsAConvertedModel() throws {
        let (quantized, folder, modelPath) = try Self.convertedModel()
        defer { try? FileManager.default.removeItem(at: folder) }
        let digits = try Dataset(GeneratedData.digits + "@2-2")
        let (images, _) = try digits.batch(0..<1, inputShape: quantized.inputShape)
        let imagePath = folder.appendingPathComponent("digit.f32")
        var bytes: [UInt8] = []
        for value in images.values {
            withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 }
        }
        try Data(bytes).write(to: imagePath)

        let result = try runProcess(Self.executable.path, [modelPath, imagePath.path])
        #expect(result.status == 0, "\(result.error)")
        let engine = try Int8Engine(quantized)
        let expected = try engine.run(engine.quantizeInput(images.values[...]))
        #expect(result.output.contains("int8 " + expected.map(String.init).joined(separator: " ")), "\(result.output)")
        #expect(result.output.contains("class \(Int8Engine.predictedClass(expected))"))
    }

    @Test("capsnet-run refuses a missing model and an image of the wrong size, in one line each", .needsFixtures)
    func refusesBadInput() throws {
        let (_, folder, modelPath) = try Self.convertedModel()
        defer { try? FileManager.default.removeItem(at: folder) }
        let missing = try runProcess(Self.executable.path, [folder.appendingPathComponent("none.capsnet").path, modelPath])
        #expect(missing.status == 1)
        #expect(missing.error.contains("none.capsnet: no such file"), "\(missing.error)")
        let short = folder.appendingPathComponent("short.f32")
        try Data([1, 2, 3]).write(to: short)
        let wrong = try runProcess(Self.executable.path, [modelPath, short.path])
        #expect(wrong.status == 1)
        #expect(wrong.error.contains("short.f32: holds 3 bytes"), "\(wrong.error)")
        #expect(try runProcess(Self.executable.path, []).status == 2)
    }

    @Test("capsnet-run links none of HDF5, OpenBLAS and zlib")
    func linksTheRuntimeOnly() throws {
        let libraries = try runProcess("ldd", [Self.executable.path])
        #expect(libraries.status == 0, "\(libraries.error)")
        let linked = libraries.output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(!linked.isEmpty)
        for forbidden in ["libhdf5", "libopenblas", "libblas", "libz.so"] {
            #expect(!linked.contains { $0.hasPrefix(forbidden) }, "capsnet-run links \(forbidden): \(linked)")
        }
        // The check can fail: the full tool links all three.
        let tool = try runProcess("ldd", [CapsNetTool.executable.path])
        #expect(tool.output.contains("libhdf5") && tool.output.contains("libz.so"))
    }
}
