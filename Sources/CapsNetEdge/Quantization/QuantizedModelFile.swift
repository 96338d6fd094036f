import Foundation

/// Why a quantized model file could not be read or written.
public struct QuantizedModelFileError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Reason: Error, Equatable, Sendable {
        case fileNotFound
        /// The file does not start with the format's magic bytes.
        case notAQuantizedModel
        case unsupportedVersion(Int)
        /// The file is shorter than its header announces.
        case truncated(expected: Int, actual: Int)
        /// The payload's CRC-32 differs from the header's.
        case checksum
        /// The payload does not describe a model this version can run.
        case malformed(String)
        case writeFailed(String)
    }

    public let path: String
    public let reason: Reason

    public init(path: String, reason: Reason) {
        self.path = path
        self.reason = reason
    }

    public var description: String {
        let detail: String
        switch reason {
        case .fileNotFound: detail = "no such file"
        case .notAQuantizedModel: detail = "not a quantized CapsNet model (no 'CAPSNETQ' magic at the start)"
        case .unsupportedVersion(let version):
            detail =
                "format version \(version) is not supported (this tool reads version \(QuantizedModelFile.version))"
        case .truncated(let expected, let actual):
            detail = "the file is truncated: its header announces \(expected) bytes, it holds \(actual)"
        case .checksum: detail = "the file is corrupted: its CRC-32 does not match"
        case .malformed(let reason): detail = "the model is malformed: \(reason)"
        case .writeFailed(let reason): detail = "cannot write the model: \(reason)"
        }
        return "\(path): \(detail)"
    }
}

/// The quantized model file, `.capsnet`, version 1. All integers are little-endian.
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 8 | magic `CAPSNETQ` |
/// | 8 | 4 | format version (1) |
/// | 12 | 8 | payload bytes |
/// | 20 | 4 | CRC-32 (zlib's) of the payload |
/// | 24 | | payload |
///
/// The payload is a sequence of fields: a string is a u32 byte count and UTF-8; an integer is an
/// i32; a list of integers or an int8 array is a u32 count then the items; a flag is a byte. It
/// holds the model's name, scheme, input shape and input format, then each layer: name, Keras
/// class, operation tag (0 convolution, 1 ReLU, 2 primary capsules, 3 capsule layer, 4 length,
/// 5 reshape), input shape, output shape, output format, and the operation's fields in the order
/// `QuantizedConvolution`, `QuantizedPrimaryCapsule` and `QuantizedCapsule` declare them.
public enum QuantizedModelFile {
    public static let version = 1
    static let magic = Array("CAPSNETQ".utf8)
    static let headerBytes = 24

    /// The file's bytes for `model`.
    public static func encode(_ model: QuantizedModel) -> [UInt8] {
        var payload = Writer()
        payload.string(model.name)
        payload.string(model.scheme.rawValue)
        payload.ints(model.inputShape)
        payload.int(model.inputFrac)
        payload.count(model.layers.count)
        for layer in model.layers {
            payload.string(layer.name)
            payload.string(layer.className)
            payload.byte(layer.operation.tag)
            payload.ints(layer.inputShape)
            payload.ints(layer.outputShape)
            payload.int(layer.outputFrac)
            switch layer.operation {
            case .convolution(let convolution): payload.convolution(convolution)
            case .primaryCapsule(let primary):
                payload.convolution(primary.convolution)
                payload.int(primary.capsuleDimension)
            case .capsule(let capsule):
                payload.ints([capsule.outputs, capsule.dimension, capsule.inputs, capsule.inputDimension])
                payload.ints([capsule.inputFrac, capsule.weightFrac, capsule.predictionFrac])
                payload.count(capsule.iterations.count)
                for iteration in capsule.iterations {
                    payload.ints([
                        iteration.logitFrac, iteration.sumFrac, iteration.outputFrac, iteration.agreementFrac,
                    ])
                }
                payload.int8s(capsule.weights)
            case .relu, .length, .reshape: break
            }
        }
        var header = Writer()
        header.bytes += magic
        header.u32(UInt32(version))
        header.u64(UInt64(payload.bytes.count))
        header.u32(Zlib.crc32(payload.bytes))
        return header.bytes + payload.bytes
    }

    /// The model in `bytes`.
    public static func decode(_ bytes: [UInt8]) throws(QuantizedModelFileError.Reason) -> QuantizedModel {
        guard bytes.count >= magic.count, Array(bytes.prefix(magic.count)) == magic else { throw .notAQuantizedModel }
        guard bytes.count >= headerBytes else { throw .truncated(expected: headerBytes, actual: bytes.count) }
        var header = Reader(bytes[magic.count..<headerBytes])
        let version = Int(try header.u32())
        guard version == Self.version else { throw .unsupportedVersion(version) }
        let length = try header.u64()
        let crc = try header.u32()
        guard length <= UInt64(Int.max - headerBytes), bytes.count == headerBytes + Int(length) else {
            throw .truncated(expected: headerBytes + Int(min(length, UInt64(Int.max / 2))), actual: bytes.count)
        }
        let payloadBytes = Array(bytes[headerBytes...])
        guard Zlib.crc32(payloadBytes) == crc else { throw .checksum }

        var payload = Reader(payloadBytes[...])
        let name = try payload.string()
        guard let scheme = QuantizationScheme(rawValue: try payload.string()) else {
            throw .malformed("unknown scheme")
        }
        let inputShape = try payload.ints()
        let inputFrac = try payload.int()
        var layers: [QuantizedLayer] = []
        for _ in 0..<(try payload.count()) {
            let layerName = try payload.string()
            let className = try payload.string()
            let tag = try payload.byte()
            let layerInput = try payload.ints()
            let layerOutput = try payload.ints()
            let outputFrac = try payload.int()
            let operation: QuantizedOperation
            switch tag {
            case 0: operation = .convolution(try payload.convolution())
            case 1: operation = .relu
            case 2:
                operation = .primaryCapsule(
                    QuantizedPrimaryCapsule(convolution: try payload.convolution(), capsuleDimension: try payload.int())
                )
            case 3:
                let sizes = try payload.ints(expected: 4)
                let formats = try payload.ints(expected: 3)
                var iterations: [RoutingFormats] = []
                for _ in 0..<(try payload.count()) {
                    let fracs = try payload.ints(expected: 4)
                    iterations.append(
                        RoutingFormats(
                            logitFrac: fracs[0], sumFrac: fracs[1], outputFrac: fracs[2], agreementFrac: fracs[3]))
                }
                operation = .capsule(
                    QuantizedCapsule(
                        outputs: sizes[0], dimension: sizes[1], inputs: sizes[2], inputDimension: sizes[3],
                        weights: try payload.int8s(), inputFrac: formats[0], weightFrac: formats[1],
                        predictionFrac: formats[2], iterations: iterations))
            case 4: operation = .length
            case 5: operation = .reshape
            default: throw .malformed("layer '\(layerName)' has unknown operation \(tag)")
            }
            layers.append(
                QuantizedLayer(
                    name: layerName, className: className, operation: operation, inputShape: layerInput,
                    outputShape: layerOutput, outputFrac: outputFrac))
        }
        guard payload.isAtEnd else { throw .malformed("bytes left after the last layer") }
        let model = QuantizedModel(
            name: name, scheme: scheme, inputShape: inputShape, inputFrac: inputFrac, layers: layers)
        try validate(model)
        return model
    }

    /// Shapes that chain and arrays of the sizes the shapes imply; the kernels check the formats
    /// when the engine is built.
    static func validate(_ model: QuantizedModel) throws(QuantizedModelFileError.Reason) {
        guard model.inputShape.count == 3, model.inputShape.allSatisfy({ $0 > 0 }) else {
            throw .malformed("the input shape \(model.inputShape) is not [H, W, C]")
        }
        var shape = model.inputShape
        for layer in model.layers {
            guard layer.inputShape == shape, layer.outputShape.allSatisfy({ $0 > 0 }),
                layer.outputShape.reduce(1, *) < 1 << 30
            else {
                throw .malformed("layer '\(layer.name)' does not take the previous layer's output")
            }
            switch layer.operation {
            case .convolution(let convolution):
                try check(
                    convolution, layer,
                    expectedOutput: [convolution.outputHeight, convolution.outputWidth, convolution.filters])
            case .primaryCapsule(let primary):
                let convolution = primary.convolution
                let positions = convolution.outputHeight * convolution.outputWidth
                guard primary.capsuleDimension > 0, convolution.filters % primary.capsuleDimension == 0 else {
                    throw .malformed("layer '\(layer.name)': \(convolution.filters) filters are not whole capsules")
                }
                try check(
                    convolution, layer,
                    expectedOutput: [
                        positions * convolution.filters / primary.capsuleDimension, primary.capsuleDimension,
                    ])
            case .capsule(let capsule):
                guard layer.inputShape == [capsule.inputs, capsule.inputDimension],
                    layer.outputShape == [capsule.outputs, capsule.dimension], !capsule.iterations.isEmpty,
                    capsule.weights.count == capsule.outputs * capsule.inputs * capsule.dimension
                        * capsule.inputDimension
                else { throw .malformed("layer '\(layer.name)': the capsule layer's sizes disagree") }
            case .length:
                guard layer.inputShape.count == 2, layer.outputShape == [layer.inputShape[0]] else {
                    throw .malformed(
                        "layer '\(layer.name)': lengths of \(layer.inputShape) cannot be \(layer.outputShape)")
                }
            case .relu, .reshape:
                guard layer.outputShape.reduce(1, *) == layer.inputShape.reduce(1, *) else {
                    throw .malformed("layer '\(layer.name)' changes the number of values")
                }
            }
            shape = layer.outputShape
        }
    }

    private static func check(
        _ convolution: QuantizedConvolution, _ layer: QuantizedLayer, expectedOutput: [Int]
    ) throws(QuantizedModelFileError.Reason) {
        let taps = convolution.kernelHeight * convolution.kernelWidth * convolution.inputChannels
        guard layer.inputShape.count == 3, convolution.inputChannels == layer.inputShape[2],
            layer.outputShape == expectedOutput, taps > 0, convolution.filters > 0,
            convolution.weights.count == convolution.filters * taps,
            convolution.bias.map({ $0.count == convolution.filters }) ?? true
        else { throw .malformed("layer '\(layer.name)': the convolution's sizes disagree") }
    }

    /// Writes `model` to `path` atomically: a reader never sees half a file.
    public static func write(_ model: QuantizedModel, to path: String) throws(QuantizedModelFileError) {
        do {
            try Data(encode(model)).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw QuantizedModelFileError(path: path, reason: .writeFailed(error.localizedDescription))
        }
    }

    /// Reads the model at `path`.
    public static func read(_ path: String) throws(QuantizedModelFileError) -> QuantizedModel {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw QuantizedModelFileError(path: path, reason: .fileNotFound)
        }
        do { return try decode([UInt8](data)) } catch { throw QuantizedModelFileError(path: path, reason: error) }
    }

    /// Whether the file at `path` starts with the magic bytes.
    public static func isQuantizedModel(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: magic.count)).map { Array($0) == magic } ?? false
    }
}

extension QuantizedOperation {
    var tag: UInt8 {
        switch self {
        case .convolution: 0
        case .relu: 1
        case .primaryCapsule: 2
        case .capsule: 3
        case .length: 4
        case .reshape: 5
        }
    }
}

private struct Writer {
    var bytes: [UInt8] = []

    mutating func u32(_ value: UInt32) {
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> shift)) }
    }
    mutating func u64(_ value: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> shift)) }
    }
    mutating func byte(_ value: UInt8) { bytes.append(value) }
    mutating func int(_ value: Int) { u32(UInt32(bitPattern: Int32(clamping: value))) }
    mutating func count(_ value: Int) { u32(UInt32(clamping: value)) }
    mutating func ints(_ values: [Int]) {
        count(values.count)
        for value in values { int(value) }
    }
    mutating func string(_ value: String) {
        count(value.utf8.count)
        bytes += Array(value.utf8)
    }
    mutating func int8s(_ values: [Int8]) {
        count(values.count)
        bytes += values.map { UInt8(bitPattern: $0) }
    }

    mutating func convolution(_ c: QuantizedConvolution) {
        ints([c.kernelHeight, c.kernelWidth, c.strideY, c.strideX, c.padTop, c.padLeft, c.outputHeight, c.outputWidth])
        ints([c.inputChannels, c.filters, c.inputFrac, c.weightFrac, c.biasFrac, c.outputFrac])
        byte(c.appliesReLU ? 1 : 0)
        int8s(c.weights)
        byte(c.bias == nil ? 0 : 1)
        if let bias = c.bias { int8s(bias) }
    }
}

private struct Reader {
    private var bytes: ArraySlice<UInt8>

    init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }

    var isAtEnd: Bool { bytes.isEmpty }

    private mutating func take(_ count: Int) throws(QuantizedModelFileError.Reason) -> ArraySlice<UInt8> {
        guard count >= 0, bytes.count >= count else { throw .malformed("a field runs past the end of the payload") }
        defer { bytes = bytes.dropFirst(count) }
        return bytes.prefix(count)
    }

    mutating func u32() throws(QuantizedModelFileError.Reason) -> UInt32 {
        try take(4).enumerated().reduce(0) { $0 | UInt32($1.element) << (8 * $1.offset) }
    }
    mutating func u64() throws(QuantizedModelFileError.Reason) -> UInt64 {
        try take(8).enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * $1.offset) }
    }
    mutating func byte() throws(QuantizedModelFileError.Reason) -> UInt8 { try take(1).first ?? 0 }
    mutating func int() throws(QuantizedModelFileError.Reason) -> Int { Int(Int32(bitPattern: try u32())) }
    mutating func count() throws(QuantizedModelFileError.Reason) -> Int {
        let value = Int(try u32())
        guard value <= bytes.count else { throw .malformed("a count of \(value) runs past the end of the payload") }
        return value
    }
    mutating func ints() throws(QuantizedModelFileError.Reason) -> [Int] {
        var values: [Int] = []
        for _ in 0..<(try count()) { values.append(try int()) }
        return values
    }
    mutating func ints(expected: Int) throws(QuantizedModelFileError.Reason) -> [Int] {
        let values = try ints()
        guard values.count == expected else {
            throw .malformed("a list of \(values.count) numbers where \(expected) belong")
        }
        return values
    }
    mutating func string() throws(QuantizedModelFileError.Reason) -> String {
        String(decoding: try take(try count()), as: UTF8.self)
    }
    mutating func int8s() throws(QuantizedModelFileError.Reason) -> [Int8] {
        try take(try count()).map { Int8(bitPattern: $0) }
    }

    mutating func convolution() throws(QuantizedModelFileError.Reason) -> QuantizedConvolution {
        let geometry = try ints(expected: 8)
        let sizes = try ints(expected: 6)
        let relu = try byte() != 0
        let weights = try int8s()
        let bias = try byte() != 0 ? try int8s() : nil
        return QuantizedConvolution(
            kernelHeight: geometry[0], kernelWidth: geometry[1], strideY: geometry[2], strideX: geometry[3],
            padTop: geometry[4], padLeft: geometry[5], outputHeight: geometry[6], outputWidth: geometry[7],
            inputChannels: sizes[0], filters: sizes[1], weights: weights, bias: bias, inputFrac: sizes[2],
            weightFrac: sizes[3], biasFrac: sizes[4], outputFrac: sizes[5], appliesReLU: relu)
    }
}
