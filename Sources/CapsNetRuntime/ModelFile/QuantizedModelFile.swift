import Foundation

/// The quantized model file, `.capsnet`, version 3 (versions 1, without per-filter weight formats,
/// and 2, without the capsule layers' routing precision, are still read). All integers are
/// little-endian.
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 8 | magic `CAPSNETQ` |
/// | 8 | 4 | format version (3) |
/// | 12 | 8 | payload bytes |
/// | 20 | 4 | CRC-32 (zlib's) of the payload |
/// | 24 | | payload |
///
/// The payload is a sequence of fields (see ``ModelFileWriter``). It holds the model's name,
/// scheme, input shape and input format, then each layer: name, Keras class, its kind's file tag
/// (``QuantizedLayerKind/fileTag``: 0 convolution, 1 ReLU, 2 primary capsules, 3 capsule layer,
/// 4 length, 5 reshape, 6 leaky ReLU, 7 channel affine, 8 squash, 9 Efficient-CapsNet's primary capsules,
/// 10 self-attention capsule layer, 11 instance normalization), input shape, output shape, output format, and the kind's own fields as
/// its `encode(to:)` writes them.
public enum QuantizedModelFile {
    public static let version = 3
    /// The versions this tool reads: 2 is 3 without the capsule layers' routing precision (all
    /// 8-bit), 1 is 2 without the convolutions' per-filter formats.
    public static let readableVersions = 1...3
    static let magic = Array("CAPSNETQ".utf8)
    static let headerBytes = 24

    /// The file's bytes for `model`.
    public static func encode(_ model: QuantizedModel) -> [UInt8] { encode(model, version: version) }

    /// The file's bytes for `model` in an older `version` (what an older tool wrote: the tests of
    /// reading them), which must be able to hold it.
    package static func encode(_ model: QuantizedModel, version: Int) -> [UInt8] {
        var payload = ModelFileWriter()
        payload.version = version
        payload.string(model.name)
        payload.string(model.scheme.rawValue)
        payload.ints(model.inputShape)
        payload.int(model.inputFrac)
        payload.count(model.layers.count)
        for layer in model.layers {
            payload.string(layer.name)
            payload.string(layer.className)
            payload.byte(type(of: layer.kind).fileTag)
            payload.ints(layer.inputShape)
            payload.ints(layer.outputShape)
            payload.int(layer.outputFrac)
            layer.kind.encode(to: &payload)
        }
        return framed(payload.bytes, version: version)
    }

    /// `payload` behind a header with its length and CRC: for the fuzzer, whose inputs must get
    /// past the checksum to exercise the structure.
    package static func framed(_ payload: [UInt8], version: Int = version) -> [UInt8] {
        var header = ModelFileWriter()
        header.bytes += magic
        header.u32(UInt32(version))
        header.u64(UInt64(payload.count))
        header.u32(CRC32.checksum(payload))
        return header.bytes + payload
    }

    /// The model in `bytes`.
    public static func decode(_ bytes: [UInt8]) throws(QuantizedModelFileError.Reason) -> QuantizedModel {
        guard bytes.count >= magic.count, Array(bytes.prefix(magic.count)) == magic else { throw .notAQuantizedModel }
        guard bytes.count >= headerBytes else { throw .truncated(expected: headerBytes, actual: bytes.count) }
        var header = ModelFileReader(bytes[magic.count..<headerBytes])
        let version = Int(try header.u32())
        guard readableVersions.contains(version) else { throw .unsupportedVersion(version) }
        let length = try header.u64()
        let crc = try header.u32()
        guard length <= UInt64(Int.max - headerBytes), bytes.count == headerBytes + Int(length) else {
            throw .truncated(expected: headerBytes + Int(min(length, UInt64(Int.max / 2))), actual: bytes.count)
        }
        let payloadBytes = Array(bytes[headerBytes...])
        guard CRC32.checksum(payloadBytes) == crc else { throw .checksum }

        var payload = ModelFileReader(payloadBytes[...], version: version)
        let name = try payload.string()
        guard let scheme = QuantizationScheme(rawValue: try payload.string()) else {
            throw .malformed("unknown scheme")
        }
        let inputShape = try payload.ints()
        let inputFrac = try payload.int()
        guard inputShape.count == 3, ResourceLimits.values(of: inputShape) != nil else {
            throw .malformed("the input shape \(inputShape) is not [H, W, C] with sizes 1 to \(ResourceLimits.size) and at most \(ResourceLimits.tensorValues) values")
        }
        try checkFormat(inputFrac, of: "the input")
        var layers: [QuantizedLayer] = []
        var shape = inputShape
        var frac = inputFrac
        for _ in 0..<(try payload.count()) {
            let layerName = try payload.string()
            let className = try payload.string()
            let tag = try payload.byte()
            let header = QuantizedLayer.Header(
                name: layerName, className: className, inputShape: try payload.ints(), inputFrac: frac,
                outputShape: try payload.ints(), outputFrac: try payload.int())
            guard header.inputShape == shape else {
                throw .malformed("layer '\(layerName)' does not take the previous layer's output")
            }
            // Every size a kind multiplies is checked before it does, starting with its output.
            guard (1...4).contains(header.outputShape.count), ResourceLimits.values(of: header.outputShape) != nil else {
                throw .malformed("layer '\(layerName)': the output shape \(header.outputShape) has a size outside 1 to \(ResourceLimits.size) or more than \(ResourceLimits.tensorValues) values")
            }
            try checkFormat(header.outputFrac, of: "layer '\(layerName)'")
            guard let kind = QuantizedLayerKinds.kind(fileTag: tag) else {
                throw .malformed("layer '\(layerName)' has unknown operation \(tag)")
            }
            layers.append(
                QuantizedLayer(
                    name: layerName, className: className, kind: try kind.decode(from: &payload, layer: header),
                    inputShape: header.inputShape, outputShape: header.outputShape, outputFrac: header.outputFrac))
            shape = header.outputShape
            frac = header.outputFrac
        }
        guard payload.isAtEnd else { throw .malformed("bytes left after the last layer") }
        return QuantizedModel(name: name, scheme: scheme, inputShape: inputShape, inputFrac: inputFrac, layers: layers)
    }

    /// A value format (fractional bits) the kernels take: `CAPSNET_FRAC_MIN...CAPSNET_FRAC_MAX`.
    static func checkFormat(_ frac: Int, of what: String) throws(QuantizedModelFileError.Reason) {
        guard Int(CAPSNET_FRAC_MIN)...Int(CAPSNET_FRAC_MAX) ~= frac else {
            throw .malformed("\(what) has the format Q\(frac), outside the kernels' \(CAPSNET_FRAC_MIN) to \(CAPSNET_FRAC_MAX) fractional bits")
        }
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
