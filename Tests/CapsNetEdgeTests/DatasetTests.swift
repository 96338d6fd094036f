import CapsNetEdge
import Foundation
import Testing

@Suite("Dataset readers")
struct DatasetTests {
    static let digits = GeneratedData.digits

    /// The generated digits, scaled as the readers scale 8-bit pixels.
    static func expectedDigits() -> Tensor {
        Tensor(shape: [5, 12, 12, 1], values: GeneratedData.digitPixels.map { Float($0) / 255 })
    }

    @Test(
        "MNIST idx (plain, gzip, by file or folder) and NumPy (uint8, float32) read the same images and labels",
        arguments: [
            "tiny-images-idx3-ubyte", "tiny-images-idx3-ubyte.gz", "images_u8.npy", "images_f32.npy", "",
        ])
    func digits(file: String) throws {
        let path = file.isEmpty ? Self.digits : "\(Self.digits)/\(file)"
        let dataset = try Dataset(path)
        #expect(dataset.labels == [2, 1, 0, 1, 2])
        #expect(dataset.imageShape == [12, 12, 1])
        let expected = Self.expectedDigits()
        let (maxAbs, _) = difference(dataset.images, expected)
        #expect(maxAbs <= 1e-7)
    }

    @Test("CIFAR-10 binary records become HWC images scaled to [0, 1]")
    func cifar() throws {
        let dataset = try Dataset(GeneratedData.cifar)
        #expect(dataset.labels == GeneratedData.cifarLabels.map { Int($0) })
        #expect(dataset.imageShape == [32, 32, 3])
        for image in 0..<3 {
            for pixel in [0, 1, 33, 1023] {
                for channel in 0..<3 {
                    let value = dataset.images.values[(image * 1024 + pixel) * 3 + channel]
                    #expect(value == Float(GeneratedData.cifarPixel(image, channel, pixel)) / 255)
                }
            }
        }
    }

    @Test("PATH@START-END selects images START to END inclusive")
    func range() throws {
        let all = try Dataset(Self.digits)
        let part = try Dataset(Self.digits + "@1-3")
        #expect(part.labels == [1, 0, 1])
        #expect(part.images == all.images.batch(1..<4))
        #expect(try Dataset(Self.digits + "@4-4").count == 1)
    }

    @Test(
        "bad datasets and ranges are refused with a message naming the cause",
        arguments: [
            ("@3-1", "the range 3-1 selects no images"),
            ("@2-5", "the range 2-5 goes past the last image (the dataset holds 5, indices 0-4)"),
            ("@2", "'@2' is not a range"),
            ("@x-3", "'@x-3' is not a range"),
            ("/missing", "no such file or folder"),
        ])
    func badSpecifications(suffix: String, message: String) {
        let specification = Self.digits + suffix
        do {
            _ = try Dataset(specification)
            Issue.record("\(specification) was read")
        } catch {
            #expect(error.path == specification)
            #expect(error.description.contains(message), "\(error.description)")
        }
    }

    @Test("damaged files: truncated gzip, an idx header that announces more data, a missing labels file")
    func damagedFiles() throws {
        let folder = try TestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let source = URL(fileURLWithPath: Self.digits)
        let gzip = try Data(contentsOf: source.appendingPathComponent("tiny-images-idx3-ubyte.gz"))
        let plain = try Data(contentsOf: source.appendingPathComponent("tiny-images-idx3-ubyte"))
        let labels = try Data(contentsOf: source.appendingPathComponent("tiny-labels-idx1-ubyte"))

        let cases: [(String, Data, Data?, String)] = [
            ("a-images-idx3-ubyte.gz", gzip.prefix(gzip.count / 2), labels, "the compressed stream is truncated"),
            ("b-images-idx3-ubyte", plain.dropLast(7), labels, "holds 713 data bytes, its header announces 720"),
            ("c-images-idx3-ubyte", plain, nil, "no labels file beside it (looked for c-labels-idx1-ubyte)"),
            ("d-images-idx3-ubyte", plain, labels.dropLast(), "holds 4 data bytes, its header announces 5"),
            ("e.bin", Data(count: 3000), nil, "3000 bytes is not a whole number of CIFAR-10 records"),
            ("f.npy", Data("not numpy".utf8), nil, "not a NumPy .npy file"),
            ("g.txt", Data("text".utf8), nil, "not a known dataset"),
        ]
        for (name, bytes, labelBytes, message) in cases {
            let path = folder.appendingPathComponent(name)
            try bytes.write(to: path)
            if let labelBytes {
                let labelName = name.replacingOccurrences(of: "images-idx3", with: "labels-idx1")
                    .replacingOccurrences(of: ".gz", with: "")
                try labelBytes.write(to: folder.appendingPathComponent(labelName))
            }
            #expect {
                _ = try Dataset(path.path)
            } throws: { error in
                (error as? DatasetError)?.description.contains(message) == true
            }
        }
    }

    @Test("images of another shape than the model's input are refused", .needsFixtures)
    func shapeMismatch() throws {
        let model = try CapsNetModel(contentsOf: TestData.fixture("tiny_functional.keras"))
        let dataset = try Dataset(Self.digits)
        #expect(throws: DatasetError(path: Self.digits, reason: .imageShape(images: [12, 12, 1], model: [11, 9, 2]))) {
            try dataset.images(for: model)
        }
        let fits = try CapsNetModel(contentsOf: TestData.fixture("tiny_sequential.keras"))
        #expect(try dataset.images(for: fits).shape == [5, 12, 12, 1])
    }

    @Test("NumPy headers: versions, byte orders and element types")
    func numpyTypes() throws {
        let folder = try TestData.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        func npy(_ descriptor: String, _ shape: String, _ payload: [UInt8], version: UInt8 = 1) -> Data {
            var header = "{'descr': '\(descriptor)', 'fortran_order': False, 'shape': \(shape), }"
            let prefix = version == 1 ? 10 : 12
            while (prefix + header.count + 1) % 64 != 0 { header += " " }
            header += "\n"
            var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [version, 0]
            let count = header.utf8.count
            bytes +=
                version == 1
                ? [UInt8(count & 0xff), UInt8(count >> 8)] : [UInt8(count & 0xff), UInt8(count >> 8), 0, 0]
            return Data(bytes + Array(header.utf8) + payload)
        }
        let cases: [(Data, [Int], [Double])] = [
            (
                npy("<i8", "(2,)", [1, 0, 0, 0, 0, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), [2],
                [1, -2]
            ),
            (npy(">i4", "(1, 1)", [0, 0, 1, 0]), [1, 1], [256]),
            (npy("<f4", "(1,)", [0, 0, 0xc0, 0x3f], version: 2), [1], [1.5]),
            (npy("|u1", "()", [200]), [], [200]),
        ]
        for (index, (bytes, shape, values)) in cases.enumerated() {
            let path = folder.appendingPathComponent("\(index).npy")
            try bytes.write(to: path)
            let array = try NumPyArray(contentsOf: path.path)
            #expect(array.shape == shape)
            #expect(array.values == values)
        }
        let fortran = folder.appendingPathComponent("fortran.npy")
        try Data(npy("<f4", "(1,)", [0, 0, 0, 0]).map { $0 }).write(to: fortran)
        var text = try String(contentsOf: fortran, encoding: .isoLatin1)
        text = text.replacingOccurrences(of: "False", with: "True ")
        try text.data(using: .isoLatin1)?.write(to: fortran)
        #expect(throws: DatasetError.self) { try NumPyArray(contentsOf: fortran.path) }
    }
}
