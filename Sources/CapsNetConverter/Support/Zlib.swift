import CZlibShim

/// Decompression in-process through zlib: gzip files and the deflated entries of zip archives.
enum Zlib {
    struct Failure: Error {
        var message: String
    }

    enum Format {
        /// A gzip (or zlib) stream, possibly several gzip members one after another.
        case gzip
        /// Headerless deflate data, as a zip entry holds it.
        case rawDeflate

        var windowBits: Int32 { self == .gzip ? 15 + 32 : -15 }
    }

    /// Whether `bytes` start with the gzip magic number.
    static func isGzip(_ bytes: [UInt8]) -> Bool { bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b }

    /// The decompressed contents of `bytes`, which may be at most `limit` bytes: inflating stops
    /// with an error as soon as it passes them, so a small file that inflates to gigabytes costs
    /// no more than the limit. With `prefix`, the first `limit` bytes are returned instead (fewer
    /// if the stream is shorter), for reading a header before the rest.
    static func inflate(
        _ bytes: ArraySlice<UInt8>, _ format: Format, limit: Int = ResourceLimits.fileBytes, prefix: Bool = false
    ) throws(Failure) -> [UInt8] {
        var stream = z_stream()
        guard capsnet_inflate_init(&stream, format.windowBits) == Z_OK else {
            throw Failure(message: "zlib could not start")
        }
        defer { inflateEnd(&stream) }

        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var input = Array(bytes)
        var status = Z_OK
        input.withUnsafeMutableBufferPointer { source in
            stream.next_in = source.baseAddress
            stream.avail_in = uInt(source.count)
            repeat {
                chunk.withUnsafeMutableBufferPointer { target in
                    stream.next_out = target.baseAddress
                    stream.avail_out = uInt(target.count)
                    status = CZlibShim.inflate(&stream, Z_NO_FLUSH)
                    output.append(contentsOf: target.prefix(target.count - Int(stream.avail_out)))
                }
                if output.count > limit { break }
                // Concatenated gzip members (as `cat a.gz b.gz` makes) continue after a reset.
                if status == Z_STREAM_END && format == .gzip && stream.avail_in > 0 {
                    status = inflateReset(&stream)
                }
            } while status == Z_OK
        }
        if output.count > limit {
            guard prefix else { throw Failure(message: "it inflates to more than \(limit) bytes") }
            return Array(output.prefix(limit))
        }
        switch status {
        case Z_STREAM_END: return output
        case Z_BUF_ERROR: throw Failure(message: "the compressed stream is truncated")
        default:
            let reason = stream.msg.map { String(cString: $0) } ?? "status \(status)"
            throw Failure(message: "the compressed stream is corrupt (\(reason))")
        }
    }

    /// The CRC-32 that zip archives store for each entry.
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBufferPointer { UInt32(CZlibShim.crc32(0, $0.baseAddress, uInt($0.count))) }
    }
}
