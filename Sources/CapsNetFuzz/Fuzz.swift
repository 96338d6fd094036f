import CapsNetConverter
import Foundation

/// Fuzz targets for the readers of untrusted files, run by `.ci/fuzz` (libFuzzer, built with
/// `-DFUZZING`, AddressSanitizer and coverage) and replayable without it:
///
///     capsnet-fuzz TARGET [libFuzzer options] [CORPUS ...]   (built with -DFUZZING)
///     capsnet-fuzz TARGET FILE ...                           (any build: runs each file once)
///
/// Every target feeds one input to a reader through its public entry point and accepts any
/// thrown error: what it must never do is trap, read out of bounds, hang or allocate without
/// bound (ResourceLimits). The targets:
///
/// - `capsnet`: a `.capsnet` payload, given a valid header and CRC so that the structure is
///   what gets exercised; a model that decodes (of up to 10^7 MACs) is also built by the int8
///   engine, which runs one inference: every C kernel with the parameters the file gave.
/// - `keras`: a `model.to_json()` architecture, loaded against the weights-only file named by
///   `CAPSNET_FUZZ_WEIGHTS` (the configuration parser, the graph and every layer builder).
/// - `keras-archive`: a `.keras` zip archive (the zip reader, its entries and their CRCs).
/// - `npy`, `idx`, `cifar`: dataset files; for `npy` and `idx` the input is the images file
///   and, after its first `0xFF 'L' 'B' 'L'` marker, the labels file.
@main
struct Fuzz {
    static let targets: [String: @Sendable (Data) -> Void] = [
        "capsnet": capsnet, "keras": keras, "keras-archive": kerasArchive, "npy": npy, "idx": idx, "cifar": cifar,
    ]

    static func main() {
        let arguments = CommandLine.arguments
        guard arguments.count >= 2, let target = targets[arguments[1]] else {
            let names = targets.keys.sorted().joined(separator: ", ")
            FileHandle.standardError.write(Data("usage: capsnet-fuzz TARGET [FILE ...]; targets: \(names)\n".utf8))
            exit(2)
        }
        selected = target
        #if FUZZING
            // libFuzzer reads its own options and corpus folders from the arguments after TARGET.
            let forwarded = [arguments[0]] + arguments.dropFirst(2)
            var argv = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: forwarded.count + 1)
            for (index, argument) in forwarded.enumerated() { argv[index] = strdup(argument) }
            argv[forwarded.count] = nil
            var count = Int32(forwarded.count)
            exit(LLVMFuzzerRunDriver(&count, &argv, runOne))
        #else
            for path in arguments.dropFirst(2) {
                guard let data = FileManager.default.contents(atPath: path) else {
                    FileHandle.standardError.write(Data("capsnet-fuzz: cannot read \(path)\n".utf8))
                    exit(1)
                }
                target(data)
                print("\(path): ran")
            }
        #endif
    }

    nonisolated(unsafe) static var selected: @Sendable (Data) -> Void = { _ in }

    /// A folder of this process's own in shared memory, for the readers that take paths.
    static let scratch: String = {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let folder = (base as NSString).appendingPathComponent("capsnet-fuzz-\(getpid())")
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return folder
    }()

    static func file(_ name: String, _ data: Data) -> String {
        let path = (scratch as NSString).appendingPathComponent(name)
        _ = FileManager.default.createFile(atPath: path, contents: data)
        return path
    }

    /// The input split at the labels marker: images, labels.
    static func split(_ data: Data) -> (Data, Data) {
        let marker = Data([0xFF, 0x4C, 0x42, 0x4C])
        guard let range = data.range(of: marker) else { return (data, Data()) }
        return (data[..<range.lowerBound], data[range.upperBound...])
    }

    static func capsnet(_ payload: Data) {
        // A model that decodes is one the engine can plan and run (its init runs one inference);
        // only up to 10^7 MACs, since a large valid model is slow, not a defect.
        guard let model = try? QuantizedModelFile.decode(QuantizedModelFile.framed(Array(payload))),
            model.layers.map(\.macs).reduce(0, +) <= 10_000_000
        else { return }
        _ = try? Int8Engine(model)
    }

    static func keras(_ config: Data) {
        guard let weights = ProcessInfo.processInfo.environment["CAPSNET_FUZZ_WEIGHTS"] else {
            fatalError("CAPSNET_FUZZ_WEIGHTS must name the weights-only file the configurations are loaded with")
        }
        _ = try? CapsNetModel(contentsOf: weights, config: file("config.json", config))
    }

    static func kerasArchive(_ archive: Data) {
        _ = try? CapsNetModel(contentsOf: file("model.keras", archive))
    }

    static func npy(_ data: Data) {
        let (images, labels) = split(data)
        _ = file("labels.npy", labels)
        _ = try? Dataset(file("images.npy", images))
    }

    static func idx(_ data: Data) {
        let (images, labels) = split(data)
        _ = file("f-labels-idx1-ubyte", labels)
        _ = try? Dataset(file("f-images-idx3-ubyte", images))
    }

    static func cifar(_ data: Data) {
        _ = try? Dataset(file("batch.bin", data))
    }
}

#if FUZZING
    /// One input, as libFuzzer hands it over.
    func runOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
        Fuzz.selected(data.map { Data(bytes: $0, count: size) } ?? Data())
        return 0
    }

    /// libFuzzer's entry point for a program with its own `main` (libclang_rt.fuzzer_no_main).
    @_silgen_name("LLVMFuzzerRunDriver")
    func LLVMFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
    ) -> Int32
#endif
