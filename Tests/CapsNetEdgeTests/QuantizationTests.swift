import Foundation
import Testing

@testable import CapsNetConverter
@testable import CapsNetRuntime
import CapsNetEdge

/// The tiny fixture CapsNet quantized on the fixture digits (both 12×12×1).
func tinyQuantized(_ scheme: QuantizationScheme = .rules) throws -> (CapsNetModel, QuantizedModel) {
    let model = try CapsNetModel(contentsOf: TestData.fixture("tiny_sequential.keras"))
    let calibration = try Dataset(GeneratedData.digits)
    return (model, try Quantizer(scheme: scheme).quantize(model, calibration: calibration))
}

@Suite("Quantizer, model file and int8 engine")
struct QuantizationTests {
    @Test("the reference rule: frac = 7 - ceil(log2 max|x|), raised while round(max|x|·2^frac) <= 128")
    func referenceRule() {
        #expect(FormatRule.reference(maxAbs: 1.0) == 7)
        #expect(FormatRule.reference(maxAbs: 0.5) == 8)  // 0.5·2^8 = 128 still fits the rule
        #expect(FormatRule.reference(maxAbs: 6.97) == 4)
        #expect(FormatRule.reference(maxAbs: 50.55) == 1)
        #expect(FormatRule.reference(maxAbs: 1e-9) == 15)  // clamped to the kernels' range
        #expect(FormatRule.noSaturation(maxAbs: 1.0) == 6)  // 1.0 in Q0.7 would saturate to 127
    }

    @Test(
        "every format the quantizer picks is one the kernels accept",
        .needsFixtures, arguments: QuantizationScheme.allCases)
    func formatsAreValid(scheme: QuantizationScheme) throws {
        let (_, quantized) = try tinyQuantized(scheme)
        #expect(quantized.scheme == scheme)
        _ = try Int8Engine(quantized)  // checks every layer's call once
    }

    @Test("each filter gets its own format, never coarser than the layer's; per-layer and reference give none", .needsFixtures)
    func perFilterFormats() throws {
        let model = try CapsNetModel(contentsOf: TestData.fixture("tiny_sequential.keras"))
        let digits = try Dataset(GeneratedData.digits)
        func convolutions(_ quantized: QuantizedModel) -> [QuantizedConvolution] {
            quantized.layers.compactMap {
                ($0.kind as? QuantizedConvolution) ?? ($0.kind as? QuantizedPrimaryCapsule)?.convolution
            }
        }
        let perFilter = try Quantizer(scheme: .rules, perFilterWeights: true).quantize(model, calibration: digits)
        let filters = convolutions(perFilter)
        #expect(filters.contains { $0.weightFracs != nil })
        for convolution in filters {
            let fracs = convolution.weightFracs ?? []
            #expect(fracs.allSatisfy { Int($0) >= convolution.weightFrac })
            #expect(fracs.isEmpty || fracs.count == convolution.filters)
            // Each filter's values in its own format: its largest magnitude is within the format's range.
            let window = convolution.weights.count / convolution.filters
            for (filter, frac) in fracs.enumerated() where Int(frac) > convolution.weightFrac {
                let values = convolution.weights[filter * window..<(filter + 1) * window]
                #expect(values.contains { abs(Int($0)) > 127 >> (Int(frac) - convolution.weightFrac) })
            }
        }
        _ = try Int8Engine(perFilter)  // the kernels take every filter's shifts
        let perLayer = try Quantizer(scheme: .rules).quantize(model, calibration: digits)
        #expect(convolutions(perLayer).allSatisfy { $0.weightFracs == nil })
        #expect(
            convolutions(try Quantizer(scheme: .reference, perFilterWeights: true).quantize(model, calibration: digits))
                .allSatisfy {
            $0.weightFracs == nil
        })
        #expect(perFilter.flashBytes > perLayer.flashBytes)
    }

    @Test("the model file round-trips exactly, through bytes and through a file", .needsFixtures)
    func roundTrip() throws {
        let (_, quantized) = try tinyQuantized()
        #expect(try QuantizedModelFile.decode(QuantizedModelFile.encode(quantized)) == quantized)
        let folder = try TestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("model.capsnet").path
        try QuantizedModelFile.write(quantized, to: path)
        #expect(try QuantizedModelFile.read(path) == quantized)
        #expect(QuantizedModelFile.isQuantizedModel(path))

        // Per-filter formats round-trip; a version 1 file (no per-filter formats) still reads.
        let convolution = try #require(quantized.layers.first?.kind as? QuantizedConvolution)
        var perFilter = quantized
        var filters = convolution
        filters.weightFracs = (0..<convolution.filters).map { Int8(convolution.weightFrac + $0 % 3) }
        perFilter.layers[0].kind = filters
        if let index = perFilter.layers.firstIndex(where: { $0.kind is QuantizedCapsule }),
            var capsule = perFilter.layers[index].kind as? QuantizedCapsule
        {
            capsule.weightFracs = (0..<capsule.outputs).map { Int8(capsule.weightFrac + $0 % 2) }
            perFilter.layers[index].kind = capsule
        }
        #expect(try QuantizedModelFile.decode(QuantizedModelFile.encode(perFilter)) == perFilter)
        _ = try Int8Engine(perFilter)  // every filter's and capsule's shift is one the kernels take
        var perLayer = quantized
        for index in perLayer.layers.indices {
            if var layer = perLayer.layers[index].kind as? QuantizedConvolution {
                layer.weightFracs = nil
                perLayer.layers[index].kind = layer
            }
            if var layer = perLayer.layers[index].kind as? QuantizedPrimaryCapsule {
                layer.convolution.weightFracs = nil
                perLayer.layers[index].kind = layer
            }
            if var layer = perLayer.layers[index].kind as? QuantizedCapsule {
                layer.weightFracs = nil
                perLayer.layers[index].kind = layer
            }
        }
        let old = QuantizedModelFile.encode(perLayer, version: 1)
        #expect(old[8] == 1)
        #expect(old.count < QuantizedModelFile.encode(perLayer).count)
        #expect(try QuantizedModelFile.decode(old) == perLayer)

        // The 16-bit routing round-trips; a version 2 file (8-bit routing only) still reads.
        var sixteenBit = perFilter
        for index in sixteenBit.layers.indices {
            if var capsule = sixteenBit.layers[index].kind as? QuantizedCapsule {
                capsule.precision = .q15
                sixteenBit.layers[index].kind = capsule
            }
        }
        #expect(sixteenBit != perFilter)
        #expect(try QuantizedModelFile.decode(QuantizedModelFile.encode(sixteenBit)) == sixteenBit)
        let version2 = QuantizedModelFile.encode(perFilter, version: 2)
        #expect(version2[8] == 2)
        #expect(try QuantizedModelFile.decode(version2) == perFilter)
        // A routing width other than 8 or 16 bits is refused, naming the layer.
        let capsuleName = try #require(perFilter.layers.first { $0.kind is QuantizedCapsule }?.name)
        // The width is the one byte where the two models' payloads differ (16 against 8).
        let payload = Array(QuantizedModelFile.encode(sixteenBit)[QuantizedModelFile.headerBytes...])
        let narrow = Array(QuantizedModelFile.encode(perFilter)[QuantizedModelFile.headerBytes...])
        let widthAt = try #require(payload.indices.first { payload[$0] != narrow[$0] })
        #expect(payload[widthAt] == 16 && narrow[widthAt] == 8)
        var damaged = payload
        damaged[widthAt] = 12
        let bytes = QuantizedModelFile.framed(damaged)
        do {
            _ = try QuantizedModelFile.decode(bytes)
            Issue.record("a 12-bit routing width was read")
        } catch {
            #expect("\(error)".contains(capsuleName) && "\(error)".contains("12-bit routing"), "\(error)")
        }
    }

    @Test(
        "a damaged model file is refused: truncated, corrupted, foreign, a future version, inconsistent",
        .needsFixtures)
    func damagedFiles() throws {
        let (_, quantized) = try tinyQuantized()
        let bytes = QuantizedModelFile.encode(quantized)
        func reason(_ bytes: [UInt8]) -> QuantizedModelFileError.Reason? {
            do {
                _ = try QuantizedModelFile.decode(bytes)
                return nil
            } catch {
                return error
            }
        }
        #expect(
            reason(Array(bytes.prefix(bytes.count - 5))) == .truncated(expected: bytes.count, actual: bytes.count - 5))
        #expect(reason(Array(bytes.prefix(10))) == .truncated(expected: 24, actual: 10))
        var corrupted = bytes
        corrupted[bytes.count / 2] ^= 1
        #expect(reason(corrupted) == .checksum)
        #expect(reason(Array("PK\u{3}\u{4} not a model".utf8)) == .notAQuantizedModel)
        var future = bytes
        future[8] = 4
        #expect(reason(future) == .unsupportedVersion(4))

        var inconsistent = quantized
        if var capsule = inconsistent.layers[2].kind as? QuantizedCapsule {
            capsule.weights.removeLast()
            inconsistent.layers[2].kind = capsule
        }
        #expect(
            reason(QuantizedModelFile.encode(inconsistent))
                == .malformed("layer 'capsule': the capsule layer's sizes disagree"))
    }

    @Test("the arena plan: each layer's input, scratch and output fit and do not overlap", .needsFixtures)
    func arenaPlan() throws {
        let (_, quantized) = try tinyQuantized()
        let plan = ArenaPlan(quantized)
        for (layer, memory) in zip(quantized.layers, plan.layers) {
            #expect(memory.inputOffset + memory.inputBytes <= plan.bytes)
            #expect(memory.outputOffset + memory.outputBytes <= plan.bytes)
            #expect(memory.scratchOffset + memory.kernelScratchBytes <= plan.bytes)
            if memory.outputOffset != memory.inputOffset {
                let regions = [
                    (memory.inputOffset, memory.inputBytes), (memory.outputOffset, memory.outputBytes),
                    (memory.scratchOffset, memory.kernelScratchBytes),
                ].filter { $0.1 > 0 }.sorted { $0.0 < $1.0 }
                for (first, second) in zip(regions, regions.dropFirst()) { #expect(first.0 + first.1 <= second.0) }
            }
            // A convolution below the peak gets the bytes up to the tensor at the top for its filter
            // bank; the other kinds get none.
            let usesSpare = layer.kind.arenaNeed(layer, routing: .keepPredictions, cores: 1).usesSpareScratch
            #expect(usesSpare == (layer.kind is QuantizedConvolution || layer.kind is QuantizedPrimaryCapsule))
            if usesSpare && memory.peakBytes + 2 * ArenaPlan.scratchAlignment < plan.bytes {
                #expect(memory.spareBytes > 0, "\(layer.name)")
            } else if !usesSpare {
                #expect(memory.spareBytes == 0, "\(layer.name)")
            }
        }
        // The arena is the largest layer's need, plus at most the padding that aligns its scratch.
        let largest = plan.layers.map(\.peakBytes).max() ?? 0
        #expect(plan.bytes >= largest && plan.bytes < largest + 2 * ArenaPlan.scratchAlignment)
    }

    @Test("the engine follows the float model: the same classes on the fixture digits", .needsFixtures)
    func engineTracksFloat() throws {
        let (model, quantized) = try tinyQuantized()
        let digits = try Dataset(GeneratedData.digits)
        let float = try FloatReference(model).outputs(digits.images(for: model))
        let engine = try Int8Engine(quantized)
        let int8 = try engine.outputs(digits.images(for: model))
        let step = pow(2, -Double(quantized.outputFrac))
        for (image, output) in int8.enumerated() {
            for (index, value) in output.enumerated() {
                #expect(abs(Double(value) * step - Double(float.values[image * 3 + index])) < 0.1)
            }
        }
    }

    @Test(
        "bad calibration data is refused: a shape that does not fit, NaN, an empty range", .needsFixtures,
        arguments: ["shape", "nan", "empty"])
    func badCalibration(kind: String) throws {
        let model = try CapsNetModel(contentsOf: TestData.fixture("tiny_sequential.keras"))
        let folder = try TestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        switch kind {
        case "shape":
            let other = try CapsNetModel(contentsOf: TestData.fixture("tiny_functional.keras"))
            #expect {
                try Quantizer().quantize(other, calibration: Dataset(GeneratedData.digits))
            } throws: { error in
                "\(error)".contains("the images are 12×12×1, but the model takes 11×9×2")
            }
        case "nan":
            // The reader refuses a NaN pixel in a file; a dataset made in memory meets the quantizer's check.
            let images = try writeNaNImages(to: folder)
            #expect(throws: DatasetError.self) { try Dataset(images) }
            var pixels = [Float](repeating: 0.5, count: 3 * 144)
            pixels[144 + 7] = .nan
            let made = Dataset(name: "made", imageFile: "made", images: Tensor(shape: [3, 12, 12, 1], values: pixels), labels: [0, 1, 2])
            #expect(throws: QuantizationError.nonFiniteCalibration(dataset: "made", image: 1)) {
                try Quantizer().quantize(model, calibration: made)
            }
        default:
            #expect(throws: DatasetError.self) {
                try Quantizer().quantize(model, calibration: Dataset(GeneratedData.digits + "@4-3"))
            }
        }
    }

    @Test(
        "16-bit routing lifts the paper's MNIST model to 99.9% agreement with float (8-bit: 99.83%), at twice the routing RAM",
        .needsSharedData, .datasetScale)
    func sixteenBitRoutingOnMNIST() throws {
        let model = try CapsNetModel(contentsOf: TestData.mnistModel)
        let calibration = try Dataset(TestData.shared("mnist") + "@0-999")
        let evaluation = try Dataset(TestData.shared("mnist") + "@1000-9999")
        let quantized = try Quantizer(scheme: .rules, routingPrecision: .q15).quantize(model, calibration: calibration)
        let capsule = try #require(quantized.layers.lazy.compactMap { $0.kind as? QuantizedCapsule }.first)
        #expect(capsule.precision == .q15)
        let engine = try Int8Engine(quantized)
        let report = try QuantizationReport.measure(
            float: model, int8: engine, modelName: "mnist", calibration: calibration, evaluation: evaluation)
        print("MNIST agreement with float, 16-bit routing: \(report.agreement)% (8-bit: 99.83%, the README's table)")
        #expect(report.agreement >= 99.9)
        // The same layers with 8-bit routing (the arena does not depend on the formats): the README's 87,468 B.
        var narrow = quantized
        for index in narrow.layers.indices {
            if var layer = narrow.layers[index].kind as? QuantizedCapsule {
                layer.precision = .q7
                narrow.layers[index].kind = layer
            }
        }
        #expect(engine.arenaBytes(routing: .keepPredictions) == 159_388)
        #expect(try Int8Engine(narrow).arenaBytes(routing: .keepPredictions) == 87_468)
    }

    @Test("the MNIST int8 outputs of the first 100 test images are stable", .needsSharedData, .datasetScale)
    func mnistDigest() throws {
        let model = try CapsNetModel(contentsOf: TestData.mnistModel)
        let quantized = try Quantizer(scheme: .rules).quantize(
            model, calibration: Dataset(TestData.shared("mnist") + "@0-999"))
        let images = try Dataset(TestData.shared("mnist") + "@0-99").images(for: model)
        let outputs = try Int8Engine(quantized).outputs(images).flatMap { $0 }
        let digest = String(Zlib.crc32(outputs.map { UInt8(bitPattern: $0) }), radix: 16)
        // Regenerate on purpose only, when the kernels or the rules change: print the new value.
        #expect(digest == Self.mnistDigest, "new digest \(digest)")
        #expect(outputs.count == 1_000)
    }

    static let mnistDigest = "760692d5"

    /// The README's "Quantize and run one image" example, with what it prints.
    @Test("the README's quantization example prints what the README says", .needsSharedData, .datasetScale)
    func readmeExample() throws {
        let folder = try TestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = try CapsNetModel(contentsOf: TestData.shared("models/caps_net_mnist.h5"))
        let quantized = try Quantizer().quantize(model, calibration: Dataset(TestData.shared("mnist") + "@0-999"))
        let engine = try Int8Engine(quantized)
        let test = try Dataset(TestData.shared("mnist") + "@1000-1000")
        let lengths = try engine.run(engine.quantizeInput(test.images.values[...]))
        #expect("\(Int8Engine.predictedClass(lengths)) \(test.labels[0])" == "9 9")
        #expect("\(engine.ramBytes) \(quantized.flashBytes)" == "87468 297064")
        #expect("\(engine.arenaBytes(routing: .recomputePredictions))" == "15860")
        try QuantizedModelFile.write(quantized, to: folder.appendingPathComponent("mnist.capsnet").path)
    }
}

/// A NumPy `.npy` file (version 1) of `payload` with the given element type and shape.
func numpyFile(_ descriptor: String, _ shape: String, _ payload: [UInt8]) -> Data {
    var header = "{'descr': '\(descriptor)', 'fortran_order': False, 'shape': \(shape), }"
    while (10 + header.count + 1) % 64 != 0 { header += " " }
    header += "\n"
    let count = header.utf8.count
    return Data(
        [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(count & 0xff), UInt8(count >> 8)] + Array(header.utf8) + payload)
}

/// Three 12×12 float images, the second with a NaN, and their labels; returns the images' path.
func writeNaNImages(to folder: URL) throws -> String {
    var pixels = [Float](repeating: 0.5, count: 3 * 144)
    pixels[144 + 7] = .nan
    let bytes = pixels.flatMap { value in withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) } }
    let images = folder.appendingPathComponent("images.npy")
    try numpyFile("<f4", "(3, 12, 12)", bytes).write(to: images)
    try numpyFile("|u1", "(3,)", [1, 2, 3]).write(to: folder.appendingPathComponent("labels.npy"))
    return images.path
}

@Suite("Engine split over cores")
struct EngineSplitTests {
    @Test(
        "one image on 1 to 8 threads gives the same bytes as the one-thread engine, both memories (fixture)",
        .needsFixtures)
    func tinyModel() throws {
        let (model, quantized) = try tinyQuantized()
        let images = try Dataset(GeneratedData.digits).images(for: model)
        let size = quantized.inputShape.reduce(1, *)
        let engine = try Int8Engine(quantized)
        let lean = try Int8Engine(quantized, routing: .recomputePredictions)
        let teams = (1...8).map { CoreTeam(cores: $0) }
        let runners = teams.map { engine.runner(on: $0) } + teams.map { lean.runner(on: $0) }
        let short = [Int8](repeating: 0, count: size - 1)
        #expect(throws: EngineError.inputLength(expected: size, actual: size - 1)) { try engine.run(short) }
        for runner in runners {
            #expect(throws: EngineError.inputLength(expected: size, actual: size - 1)) { try runner.run(short) }
        }
        for image in 0..<images.shape[0] {
            let input = engine.quantizeInput(images.values[image * size..<(image + 1) * size])
            let expected = try engine.run(input)
            #expect(try lean.run(input) == expected)
            // Each runner keeps its arena from image to image.
            for runner in runners {
                #expect(try runner.run(input) == expected, "\(runner.team.cores) cores, \(runner.engine.routing.rawValue)")
            }
        }
    }

    @Test(
        "the leaky ReLU fixture: its file reads back equal, and 1 to 4 threads give the one-thread bytes",
        .needsFixtures)
    func leakyModel() throws {
        let model = try CapsNetModel(contentsOf: TestData.fixture("tiny_leaky.keras"))
        let data = TestData.fixture("tiny_leaky_data/images.npy")
        let quantized = try Quantizer().quantize(model, calibration: Dataset(data + "@0-15"))
        let kinds = quantized.layers.map { type(of: $0.kind).kernelName }
        #expect(kinds.filter { $0 == QuantizedLeakyReLU.kernelName }.count == 2, "\(kinds)")
        let leaks = quantized.layers.compactMap { ($0.kind as? QuantizedConvolution)?.activation }
        #expect(leaks == [.leakyReLU(leak: 9830), .none, .leakyReLU(leak: 6554)])
        #expect(try QuantizedModelFile.decode(QuantizedModelFile.encode(quantized)) == quantized)
        let engine = try Int8Engine(quantized)
        let runners = (1...4).map { engine.runner(on: CoreTeam(cores: $0)) }
        let images = try Dataset(data + "@16-23").images(for: model)
        let size = quantized.inputShape.reduce(1, *)
        for image in 0..<8 {
            let input = engine.quantizeInput(images.values[image * size..<(image + 1) * size])
            let expected = try engine.run(input)
            for runner in runners { #expect(try runner.run(input) == expected, "\(runner.team.cores) cores") }
        }
    }

    @Test("MNIST: 1 to 8 threads and lean-memory routing give the same bytes on 10 test images", .needsSharedData)
    func mnist() throws {
        let model = try CapsNetModel(contentsOf: TestData.mnistModel)
        let quantized = try Quantizer().quantize(model, calibration: Dataset(TestData.shared("mnist") + "@0-99"))
        let engine = try Int8Engine(quantized)
        let lean = try Int8Engine(quantized, routing: .recomputePredictions)
        let teams = (1...8).map { CoreTeam(cores: $0) }
        let runners = teams.map { engine.runner(on: $0) } + teams.map { lean.runner(on: $0) }
        let images = try Dataset(TestData.shared("mnist") + "@0-9").images(for: model)
        for image in 0..<10 {
            let input = engine.quantizeInput(images.values[image * 784..<(image + 1) * 784])
            let expected = try engine.run(input)
            #expect(try lean.run(input) == expected)
            // Each runner keeps its arena from image to image.
            for runner in runners {
                #expect(try runner.run(input) == expected, "\(runner.team.cores) cores, \(runner.engine.routing.rawValue)")
            }
        }
        #expect(lean.ramBytes <= 20 * 1024, "lean-memory routing arena \(lean.ramBytes) B")
        #expect(engine.ramBytes > 3 * lean.ramBytes)
    }
}
