import CCapsNet

/// Why a kernel call was refused. Nothing is written when a kernel throws.
public struct KernelError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Reason: Equatable, Sendable {
        /// A required pointer was NULL (only reachable from C; Swift arrays are never NULL).
        case nullPointer
        /// A size below 1, shapes that disagree, or a tensor too large for 32-bit indices.
        case dimension
        /// A format outside the supported range, or formats whose derived shift is out of range.
        case shift
        /// The shape could overflow the kernel's 32-bit accumulator.
        case overflow
        /// The scratch buffer is smaller than the kernel's `_get_buffer_size` companion asks.
        case bufferSize
        /// A parameter outside its documented range (an activation clamp that is not a range).
        case argument
        /// A status code this version does not know.
        case unknownStatus(Int32)
        /// An array's length does not match the shape it was passed with.
        case length(argument: String, expected: Int, actual: Int)
    }

    /// The C function that refused the call.
    public let kernel: String
    public let reason: Reason

    public init(kernel: String, reason: Reason) {
        self.kernel = kernel
        self.reason = reason
    }

    /// The error for a status returned by `kernel`, or nil for `CAPSNET_OK`.
    init?(kernel: String, status: capsnet_status) {
        switch status {
        case CAPSNET_OK: return nil
        case CAPSNET_ERROR_NULL_POINTER: self.init(kernel: kernel, reason: .nullPointer)
        case CAPSNET_ERROR_DIMENSION: self.init(kernel: kernel, reason: .dimension)
        case CAPSNET_ERROR_SHIFT: self.init(kernel: kernel, reason: .shift)
        case CAPSNET_ERROR_OVERFLOW: self.init(kernel: kernel, reason: .overflow)
        case CAPSNET_ERROR_BUFFER_SIZE: self.init(kernel: kernel, reason: .bufferSize)
        case CAPSNET_ERROR_ARGUMENT: self.init(kernel: kernel, reason: .argument)
        default: self.init(kernel: kernel, reason: .unknownStatus(status.rawValue))
        }
    }

    public var description: String {
        let detail: String
        switch reason {
        case .nullPointer: detail = "a required pointer is NULL"
        case .dimension:
            detail = "invalid dimensions: a size below 1, shapes that disagree, or more than 2^31-1 elements"
        case .shift:
            detail =
                "unsupported formats: each must have \(QFormat.supportedFractionalBits.lowerBound) to "
                + "\(QFormat.supportedFractionalBits.upperBound) fractional bits and every derived shift must lie in 0...31"
        case .overflow: detail = "the shape could overflow the 32-bit accumulator"
        case .bufferSize: detail = "the scratch buffer is smaller than the kernel needs"
        case .argument: detail = "a parameter lies outside its range (an activation must have -128 <= min < max <= 127 and a leak of 0 to 32767)"
        case .unknownStatus(let code): detail = "unknown status \(code)"
        case .length(let argument, let expected, let actual):
            detail = "\(argument) has \(actual) values but its shape needs \(expected)"
        }
        return "\(kernel): \(detail)"
    }
}

/// Throws the error for `status` unless it is `CAPSNET_OK`.
func check(_ status: capsnet_status, _ kernel: String) throws(KernelError) {
    if let error = KernelError(kernel: kernel, status: status) { throw error }
}
