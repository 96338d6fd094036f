import CZlibShim
import Foundation

/// Small datasets in every format the readers take, written once per test run into a temporary
/// folder (data files are not committed): five 12×12 "digits" as MNIST idx (plain and gzip) and
/// as NumPy arrays, and three CIFAR-10 records.
enum GeneratedData {
    static let digitLabels: [UInt8] = [2, 1, 0, 1, 2]

    /// The digits' pixels, `[5][12][12]`, from a fixed sequence.
    static let digitPixels: [UInt8] = {
        var state: UInt32 = 0x2026_1126
        return (0..<5 * 144).map { _ in
            state ^= state << 13
            state ^= state >> 17
            state ^= state << 5
            return UInt8(truncatingIfNeeded: state >> 11)
        }
    }()

    /// A folder with `tiny-images-idx3-ubyte[.gz]`, `tiny-labels-idx1-ubyte[.gz]`, `images_u8.npy`,
    /// `images_f32.npy` and `labels.npy`.
    static let digits: String = {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "capsnet-digits-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let images: [UInt8] = [0, 0, 8, 3] + bigEndian([5, 12, 12]) + digitPixels
            let labels: [UInt8] = [0, 0, 8, 1] + bigEndian([5]) + digitLabels
            for (name, bytes) in [("tiny-images-idx3-ubyte", images), ("tiny-labels-idx1-ubyte", labels)] {
                try Data(bytes).write(to: folder.appendingPathComponent(name))
                try Data(gzip(bytes)).write(to: folder.appendingPathComponent(name + ".gz"))
            }
            try numpyFile("|u1", "(5, 12, 12, 1)", digitPixels).write(
                to: folder.appendingPathComponent("images_u8.npy"))
            let floats = digitPixels.flatMap { pixel in
                withUnsafeBytes(of: (Float(pixel) / 255).bitPattern.littleEndian) { Array($0) }
            }
            try numpyFile("<f4", "(5, 12, 12)", floats).write(to: folder.appendingPathComponent("images_f32.npy"))
            let labelBytes = digitLabels.flatMap { withUnsafeBytes(of: Int64($0).littleEndian) { Array($0) } }
            try numpyFile("<i8", "(5,)", labelBytes).write(to: folder.appendingPathComponent("labels.npy"))
        } catch {
            fatalError("cannot write the generated test data in \(folder.path): \(error)")
        }
        return folder.path
    }()

    /// Three CIFAR-10 records (label byte, then 3×32×32 channel-major pixels) and their labels.
    static let cifarLabels: [UInt8] = [7, 0, 9]

    static func cifarPixel(_ image: Int, _ channel: Int, _ pixel: Int) -> UInt8 {
        UInt8(truncatingIfNeeded: image * 89 + channel * 41 + pixel * 7 + pixel / 32)
    }

    static let cifar: String = {
        var bytes: [UInt8] = []
        for (image, label) in cifarLabels.enumerated() {
            bytes.append(label)
            for channel in 0..<3 { for pixel in 0..<1024 { bytes.append(cifarPixel(image, channel, pixel)) } }
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("capsnet-\(UUID().uuidString).bin")
        do { try Data(bytes).write(to: path) } catch { fatalError("cannot write \(path.path): \(error)") }
        return path.path
    }()

    private static func bigEndian(_ values: [UInt32]) -> [UInt8] {
        values.flatMap { value in (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * $0)) } }
    }

    /// `bytes` gzip-compressed by zlib.
    static func gzip(_ bytes: [UInt8]) -> [UInt8] {
        var stream = z_stream()
        guard capsnet_deflate_init_gzip(&stream) == Z_OK else { fatalError("zlib could not start") }
        defer { deflateEnd(&stream) }
        var input = bytes
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(bytes.count))) + 64)
        let written = input.withUnsafeMutableBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                stream.next_in = source.baseAddress
                stream.avail_in = uInt(source.count)
                stream.next_out = target.baseAddress
                stream.avail_out = uInt(target.count)
                guard deflate(&stream, Z_FINISH) == Z_STREAM_END else { fatalError("zlib could not compress") }
                return target.count - Int(stream.avail_out)
            }
        }
        return Array(output.prefix(written))
    }
}
