/// Writes the fields of a `.capsnet` payload: a string is a u32 byte count and UTF-8; an integer
/// an i32; a list of integers or an int8 array a u32 count then the items; a flag a byte. All
/// integers are little-endian.
public struct ModelFileWriter: Sendable {
    var bytes: [UInt8] = []
    /// The format version written: what fields there are.
    var version = QuantizedModelFile.version

    mutating func u32(_ value: UInt32) {
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> shift)) }
    }
    mutating func u64(_ value: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> shift)) }
    }
    mutating func byte(_ value: UInt8) { bytes.append(value) }
    mutating func flag(_ value: Bool) { bytes.append(value ? 1 : 0) }
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
}

/// Reads the fields `ModelFileWriter` writes; a field that runs past the payload is `.malformed`.
public struct ModelFileReader: Sendable {
    private var bytes: ArraySlice<UInt8>
    /// The file's format version: what fields it has.
    let version: Int

    init(_ bytes: ArraySlice<UInt8>, version: Int = QuantizedModelFile.version) {
        self.bytes = bytes
        self.version = version
    }

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
    mutating func flag() throws(QuantizedModelFileError.Reason) -> Bool { try byte() != 0 }
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
}

/// The CRC-32 of zlib and zip (polynomial 0xEDB88320), in Swift so that the runtime needs no zlib.
enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { byte in
        var crc = UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 != 0 ? 0xEDB8_8320 ^ (crc >> 1) : crc >> 1 }
        return crc
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}
