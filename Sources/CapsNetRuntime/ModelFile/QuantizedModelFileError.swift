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
                "format version \(version) is not supported (this tool reads versions "
                + "\(QuantizedModelFile.readableVersions.lowerBound) to \(QuantizedModelFile.readableVersions.upperBound))"
        case .truncated(let expected, let actual):
            detail = "the file is truncated: its header announces \(expected) bytes, it holds \(actual)"
        case .checksum: detail = "the file is corrupted: its CRC-32 does not match"
        case .malformed(let reason): detail = "the model is malformed: \(reason)"
        case .writeFailed(let reason): detail = "cannot write the model: \(reason)"
        }
        return "\(path): \(detail)"
    }
}
