import ArgumentParser
import CapsNetEdge
import Foundation

/// Writes a quantized model as C for firmware.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a quantized model as plain C for firmware, with CMake and Make glue.",
        discussion: """
            Writes DIR/NAME.h and DIR/NAME.c (the weights as const int8_t arrays, every layer's parameters, \
            NAME_ARENA_SIZE and the entry points NAME_run and NAME_run_split, the second for a team of up to \
            --cores cores, PULP-cluster style), DIR/CMakeLists.txt (for add_subdirectory) and \
            DIR/NAME.mk (a Makefile fragment). They compile with the kernels of CSources/CCapsNet and nothing \
            else. With --test-images, also DIR/NAME_test_data.{h,c}: those images in int8 and the host int8 \
            engine's outputs for them, for a self-test on the device. See vendor-notes/.
            """
    )

    @Argument(help: "The quantized model (.capsnet, written by convert).")
    var model: String

    @Option(help: "The output folder, created if missing.")
    var out: String

    @Option(help: "Prefix of the exported symbols and files (a C identifier); default: from the model's name.")
    var name: String?

    @Option(help: "Labelled images to embed as a self-test: PATH or PATH@START-END.")
    var testImages: String?

    @Option(
        help: """
            What the capsule layer keeps of its predictions between routing iterations: keep (fastest) or \
            recompute (lean memory: a much smaller arena, more instructions).
            """)
    var routing: RoutingMemory = .keepPredictions

    @Option(help: "The most cores NAME_run_split runs on together (a PULP cluster: 8); the arena is planned for them.")
    var cores = 1

    func validate() throws {
        guard (1...FirmwareExporter.maxCores).contains(cores) else {
            throw ValidationError("--cores must be 1 to \(FirmwareExporter.maxCores), not \(cores)")
        }
    }

    func run() throws {
        let quantized = try QuantizedModelFile.read(model)
        let outputs = try OutputFiles(folder: out)
        let exporter = try FirmwareExporter(
            quantized, name: name ?? FirmwareExporter.identifier(from: quantized.name), routing: routing, cores: cores)
        let engine = try Int8Engine(quantized, routing: routing)
        var files = exporter.files()
        if let testImages {
            let dataset = try Dataset(testImages)
            let images = try dataset.batch(0..<dataset.count, inputShape: quantized.inputShape).images
            let size = quantized.inputShape.reduce(1, *)
            let inputs = (0..<dataset.count).map { engine.quantizeInput(images.values[$0 * size..<($0 + 1) * size]) }
            files.merge(exporter.testDataFiles(inputs: inputs, expected: try engine.outputs(images))) { $1 }
        }
        for (file, contents) in files.sorted(by: { $0.key < $1.key }) {
            try outputs.write(file, contents)
        }
        try outputs.commit()
        print("Wrote \(files.keys.sorted().joined(separator: ", ")) to \(out)")
        print(
            "Arena: \(exporter.arenaBytes(routing: routing)) bytes (routing: \(routing.rawValue)"
                + (cores > 1 ? ", up to \(cores) cores" : "") + "); keeping the predictions "
                + "\(exporter.arenaBytes(routing: .keepPredictions)) bytes, recomputing them "
                + "\(exporter.arenaBytes(routing: .recomputePredictions)) bytes.")
        print("Flash: \(quantized.flashBytes) bytes of weights and parameters.")
    }
}
