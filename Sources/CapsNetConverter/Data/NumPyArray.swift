import Foundation

/// An array read from a NumPy `.npy` file (format versions 1 to 3, C order).
public struct NumPyArray: Sendable {
    /// The element types the reader converts.
    public enum ElementType: String, Sendable {
        case uint8 = "u1"
        case int8 = "i1"
        case uint16 = "u2"
        case int16 = "i2"
        case uint32 = "u4"
        case int32 = "i4"
        case uint64 = "u8"
        case int64 = "i8"
        case float32 = "f4"
        case float64 = "f8"
        case bool = "b1"

        var size: Int { Int(rawValue.dropFirst()) ?? 1 }
        var isInteger: Bool { ![.float32, .float64].contains(self) }
    }

    public var shape: [Int]
    public var elementType: ElementType
    /// The elements converted to Double, which holds every supported type's values exactly
    /// (64-bit integers up to 2^53).
    public var values: [Double]

    /// Reads the file at `path`.
    public init(contentsOf path: String) throws(DatasetError) {
        do {
            self = try NumPyArray(bytes: try readFile(path))
        } catch {
            throw DatasetError(path: path, reason: error)
        }
    }

    init(bytes: [UInt8]) throws(DatasetError.Reason) {
        let magic: [UInt8] = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]  // "\x93NUMPY"
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw .unrecognized(detail: "not a NumPy .npy file")
        }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw .malformed(detail: "the .npy header is truncated") }
            headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
            headerStart = 12
        default: throw .malformed(detail: ".npy format version \(major) is not supported")
        }
        guard bytes.count >= headerStart + headerLength else {
            throw .malformed(detail: "the .npy header is truncated")
        }
        let header = String(decoding: bytes[headerStart..<headerStart + headerLength], as: UTF8.self)
        let (descriptor, fortranOrder, shape) = try Self.parseHeader(header)
        guard !fortranOrder else {
            throw .malformed(detail: "Fortran-ordered arrays are not supported; save in C order")
        }

        let byteOrder = descriptor.first ?? "|"
        guard let type = ElementType(rawValue: String(descriptor.dropFirst())), "<>|=".contains(byteOrder) else {
            throw .malformed(detail: "element type '\(descriptor)' is not supported")
        }
        guard let count = ResourceLimits.product(shape, limit: ResourceLimits.datasetValues) else {
            throw .malformed(
                detail: "the .npy header announces \(shape.shapeDescription): an empty size, or more than the \(ResourceLimits.datasetValues) values this tool reads")
        }
        let dataStart = headerStart + headerLength
        guard bytes.count - dataStart == count * type.size else {
            throw .malformed(
                detail:
                    "the .npy data holds \(bytes.count - dataStart) bytes, its header announces \(count * type.size)"
            )
        }
        self.shape = shape
        self.elementType = type
        self.values = Self.decode(bytes[dataStart...], type, bigEndian: byteOrder == ">")
    }

    /// The values as float32.
    public var floats: [Float] { values.map { Float($0) } }

    /// `{'descr': '<f4', 'fortran_order': False, 'shape': (100, 28, 28, 1), }`
    private static func parseHeader(_ header: String) throws(DatasetError.Reason) -> (String, Bool, [Int]) {
        func value(of key: String) -> Substring? {
            guard let keyRange = header.range(of: "'\(key)':") else { return nil }
            return header[keyRange.upperBound...].drop { $0 == " " }
        }
        guard let descriptorText = value(of: "descr"), descriptorText.first == "'",
            let descriptor = descriptorText.dropFirst().split(separator: "'", maxSplits: 1).first,
            let fortranText = value(of: "fortran_order"),
            let shapeText = value(of: "shape"), shapeText.first == "(",
            let shapeBody = shapeText.dropFirst().split(separator: ")", maxSplits: 1, omittingEmptySubsequences: false)
                .first
        else { throw .malformed(detail: "the .npy header is not understood: \(header)") }
        let dimensions = shapeBody.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
            !$0.isEmpty
        }
        let shape = dimensions.compactMap { Int($0) }
        guard shape.count == dimensions.count, shape.allSatisfy({ $0 >= 0 }) else {
            throw .malformed(detail: "the .npy shape (\(shapeBody)) is not understood")
        }
        return (String(descriptor), fortranText.hasPrefix("True"), shape)
    }

    private static func decode(_ data: ArraySlice<UInt8>, _ type: ElementType, bigEndian: Bool) -> [Double] {
        let size = type.size
        var values = [Double](repeating: 0, count: data.count / size)
        data.withUnsafeBytes { raw in
            for index in values.indices {
                var bits: UInt64 = 0
                for byte in 0..<size {
                    let shift = bigEndian ? 8 * (size - 1 - byte) : 8 * byte
                    bits |= UInt64(raw[index * size + byte]) << shift
                }
                values[index] = Self.value(bits, type)
            }
        }
        return values
    }

    private static func value(_ bits: UInt64, _ type: ElementType) -> Double {
        switch type {
        case .uint8, .uint16, .uint32, .uint64, .bool: Double(bits)
        case .int8: Double(Int8(truncatingIfNeeded: bits))
        case .int16: Double(Int16(truncatingIfNeeded: bits))
        case .int32: Double(Int32(truncatingIfNeeded: bits))
        case .int64: Double(Int64(bitPattern: bits))
        case .float32: Double(Float(bitPattern: UInt32(truncatingIfNeeded: bits)))
        case .float64: Double(bitPattern: bits)
        }
    }
}
