/// The entries of a zip archive held in memory, as Keras 3 writes `.keras` files: stored or
/// deflated, each checked against its CRC-32. Zip64 (archives over 4 GB) and encryption are refused.
struct ZipArchive {
    struct Failure: Error {
        var message: String
    }

    private struct Entry {
        var method: Int
        var crc: UInt32
        var compressedSize: Int
        var size: Int
        var localHeader: Int
    }

    private let bytes: [UInt8]
    private let entries: [String: Entry]

    init(_ bytes: [UInt8]) throws(Failure) {
        self.bytes = bytes
        // The end-of-central-directory record closes the archive, followed by a comment of at most 64 KiB.
        let earliest = max(0, bytes.count - 22 - 0xffff)
        guard
            let end = stride(from: bytes.count - 22, through: earliest, by: -1).first(where: {
                Self.u32(bytes, $0) == 0x0605_4b50
            })
        else { throw Failure(message: "no zip end-of-central-directory record: the archive is truncated or not a zip") }
        let count = Self.u16(bytes, end + 10)
        let directory = Self.u32(bytes, end + 16)
        guard count != 0xffff, directory != 0xffff_ffff else {
            throw Failure(message: "zip64 archives are not supported")
        }

        var entries: [String: Entry] = [:]
        var offset = Int(directory)
        for _ in 0..<count {
            guard offset + 46 <= bytes.count, Self.u32(bytes, offset) == 0x0201_4b50 else {
                throw Failure(message: "the zip central directory is damaged")
            }
            let nameLength = Int(Self.u16(bytes, offset + 28))
            let extraLength = Int(Self.u16(bytes, offset + 30))
            let commentLength = Int(Self.u16(bytes, offset + 32))
            guard offset + 46 + nameLength <= bytes.count else {
                throw Failure(message: "the zip central directory is damaged")
            }
            let name = String(decoding: bytes[offset + 46..<offset + 46 + nameLength], as: UTF8.self)
            let flags = Self.u16(bytes, offset + 8)
            guard flags & 1 == 0 else { throw Failure(message: "\(name) is encrypted") }
            entries[name] = Entry(
                method: Int(Self.u16(bytes, offset + 10)), crc: Self.u32(bytes, offset + 16),
                compressedSize: Int(Self.u32(bytes, offset + 20)), size: Int(Self.u32(bytes, offset + 24)),
                localHeader: Int(Self.u32(bytes, offset + 42)))
            offset += 46 + nameLength + extraLength + commentLength
        }
        self.entries = entries
    }

    /// The names of its entries.
    var names: [String] { Array(entries.keys) }

    /// The contents of the entry `name`, or nil if the archive has none.
    func contents(of name: String) throws(Failure) -> [UInt8]? {
        guard let entry = entries[name] else { return nil }
        let header = entry.localHeader
        guard header + 30 <= bytes.count, Self.u32(bytes, header) == 0x0403_4b50 else {
            throw Failure(message: "the zip entry \(name) is damaged")
        }
        let start = header + 30 + Int(Self.u16(bytes, header + 26)) + Int(Self.u16(bytes, header + 28))
        guard start + entry.compressedSize <= bytes.count else {
            throw Failure(message: "the zip entry \(name) is truncated")
        }
        let stored = bytes[start..<start + entry.compressedSize]
        let contents: [UInt8]
        switch entry.method {
        case 0: contents = Array(stored)
        case 8:
            do { contents = try Zlib.inflate(stored, .rawDeflate, limit: min(entry.size, ResourceLimits.fileBytes)) } catch {
                throw Failure(message: "the zip entry \(name): \(error.message)")
            }
        default: throw Failure(message: "the zip entry \(name) uses compression method \(entry.method)")
        }
        guard contents.count == entry.size, Zlib.crc32(contents) == entry.crc else {
            throw Failure(message: "the zip entry \(name) fails its CRC-32 check")
        }
        return contents
    }

    private static func u16(_ bytes: [UInt8], _ offset: Int) -> UInt16 {
        UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
    }

    private static func u32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
    }
}
