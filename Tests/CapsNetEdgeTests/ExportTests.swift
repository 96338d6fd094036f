import CapsNetEdge
import Foundation
import Testing

@Suite("Firmware export")
struct ExportTests {
    @Test("names must be C identifiers; identifier(from:) makes one", .needsFixtures)
    func names() throws {
        let (_, quantized) = try tinyQuantized()
        #expect(throws: ExportError.invalidName("2fast")) { try FirmwareExporter(quantized, name: "2fast") }
        #expect(throws: ExportError.invalidName("my-model")) { try FirmwareExporter(quantized, name: "my-model") }
        #expect(FirmwareExporter.identifier(from: "tiny-sequential.v2") == "tiny_sequential_v2")
        #expect(FirmwareExporter.identifier(from: "9lives") == "model_9lives")
    }

    /// The exported C, compiled for this machine with gcc and the kernels, gives the host engine's bytes:
    /// the tiny dynamic-routing CapsNet on the generated digits, Efficient-CapsNet on its fixture's images;
    /// on one core (`NAME_run`) and on a team of 3 threads meeting at a pthread barrier (`NAME_run_split`).
    @Test(
        "the exported C compiles without warnings and runs bit-exact with the engine on the host, on one core and three",
        .needsFixtures,
        arguments: ["tiny_sequential", "efficient_capsnet", "efficient_capsnet_smallnorb"])
    func hostBuild(fixture: String) throws {
        let model = try CapsNetModel(contentsOf: TestData.fixture(fixture + ".keras"))
        let data = try Dataset(
            fixture == "tiny_sequential" ? GeneratedData.digits : TestData.fixture(fixture + "_data/images.npy") + "@0-4")
        let quantized = try Quantizer().quantize(model, calibration: data)
        let engine = try Int8Engine(quantized)
        let images = try data.images(for: model)
        let size = quantized.inputShape.reduce(1, *)
        let inputs = (0..<data.count).map { engine.quantizeInput(images.values[$0 * size..<($0 + 1) * size]) }
        let exporter = try FirmwareExporter(quantized, name: "tiny", cores: 3)
        var files = exporter.files()
        files.merge(exporter.testDataFiles(inputs: inputs, expected: try engine.outputs(images))) { $1 }

        let folder = try TestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        for (name, contents) in files { try Data(contents.utf8).write(to: folder.appendingPathComponent(name)) }
        let main = """
            #define _POSIX_C_SOURCE 200112L
            #include <pthread.h>
            #include <stdio.h>
            #include "tiny_test_data.h"
            static unsigned long long arena[(TINY_ARENA_SIZE + 7) / 8];
            static pthread_barrier_t barrier;
            static int8_t team_out[TINY_OUTPUT_SIZE];
            static int image, failed;
            static void wait(void *unused) { (void)unused; pthread_barrier_wait(&barrier); }
            static void *member(void *id) {
                const capsnet_core_split split = {(int32_t)(size_t)id, 3, wait, NULL};
                if (tiny_run_split(tiny_test_inputs[image], team_out, arena, &split) != CAPSNET_OK) failed = 1;
                return NULL;
            }
            int main(void) {
                int8_t out[TINY_OUTPUT_SIZE];
                int same = 0, team_same = 0;
                pthread_barrier_init(&barrier, NULL, 3);
                for (image = 0; image < TINY_TEST_COUNT; image++) {
                    if (tiny_run(tiny_test_inputs[image], out, arena) != CAPSNET_OK) return 2;
                    int equal = 1;
                    for (int k = 0; k < TINY_OUTPUT_SIZE; k++) equal &= out[k] == tiny_test_expected[image][k];
                    same += equal;
                    pthread_t threads[3];
                    for (size_t t = 0; t < 3; t++) pthread_create(&threads[t], NULL, member, (void *)t);
                    for (size_t t = 0; t < 3; t++) pthread_join(threads[t], NULL);
                    equal = !failed;
                    for (int k = 0; k < TINY_OUTPUT_SIZE; k++) equal &= team_out[k] == tiny_test_expected[image][k];
                    team_same += equal;
                }
                const capsnet_core_split too_many = {0, TINY_CORES + 1, wait, NULL};
                if (tiny_run_split(tiny_test_inputs[0], out, arena, &too_many) != CAPSNET_ERROR_DIMENSION) return 3;
                printf("%d/%d %d/%d\\n", same, TINY_TEST_COUNT, team_same, TINY_TEST_COUNT);
                return same == TINY_TEST_COUNT && team_same == TINY_TEST_COUNT ? 0 : 1;
            }
            """
        try Data(main.utf8).write(to: folder.appendingPathComponent("main.c"))
        let kernels = TestData.packageRoot.appendingPathComponent("CSources/CCapsNet")
        let sources = try FileManager.default.subpathsOfDirectory(atPath: kernels.appendingPathComponent("src").path)
            .filter { $0.hasSuffix(".c") }.map { kernels.appendingPathComponent("src/\($0)").path }
        let binary = folder.appendingPathComponent("tiny").path
        let compile = try runProcess(
            "gcc",
            ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-I", folder.path, "-I", kernels.path + "/include"]
                + [
                    folder.appendingPathComponent("main.c").path, folder.appendingPathComponent("tiny.c").path,
                    folder.appendingPathComponent("tiny_test_data.c").path,
                ] + sources + ["-pthread", "-o", binary])
        #expect(compile.status == 0, "\(compile.output)\(compile.error)")
        let run = try runProcess(binary, [])
        #expect(run.status == 0)
        #expect(run.output == "5/5 5/5\n")
    }

    /// `NAME_run_split` shares a layer exactly when the host's team runner does.
    @Test("every kind the team runner shares is shared by the exported split", .needsFixtures)
    func splitLowering() throws {
        for fixture in ["efficient_capsnet_smallnorb", "tiny_leaky", "tiny_bn_valid", "capsnet_keras_train"] {
            let model = try CapsNetModel(contentsOf: TestData.fixture(fixture + ".keras"))
            let data = try Dataset(TestData.fixture(fixture + "_data/images.npy") + "@0-3")
            let quantized = try Quantizer().quantize(model, calibration: data)
            let lowered = try FirmwareExporter(quantized, name: "m", cores: 8).loweredLayers
            for (layer, lowering) in zip(quantized.layers, lowered) where lowering.call != nil {
                #expect((lowering.split != .coreZero) == layer.kind.splitsOverCores, "\(fixture): \(layer.name)")
            }
        }
        #expect(throws: ExportError.invalidCores(0)) { try FirmwareExporter(try tinyQuantized().1, name: "m", cores: 0) }
    }

    @Test("export refuses a damaged quantized model with a message and writes nothing", .needsFixtures)
    func damagedModel() throws {
        let folder = try TestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (_, quantized) = try tinyQuantized()
        var bytes = QuantizedModelFile.encode(quantized)
        bytes[bytes.count - 3] ^= 0x10
        let path = folder.appendingPathComponent("damaged.capsnet").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let out = folder.appendingPathComponent("out").path
        let result = try CapsNetTool.run(["export", path, "--out", out])
        #expect(result.status != 0)
        #expect(result.error.contains("the file is corrupted: its CRC-32 does not match"), "\(result.error)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }
}
