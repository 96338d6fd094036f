/// What a convolution applies to its output as it requantizes it (`capsnet_activation`).
public enum Activation: Sendable, Equatable {
    /// The identity.
    case none
    /// `max(x, 0)`: the clamp `[0, 127]`.
    case relu
    /// `x` for `x >= 0`, `alpha·x` below, with `alpha = leak / 2^15` (`CAPSNET_LEAK_FRAC`).
    case leakyReLU(leak: Int)

    /// The leaky ReLU whose slope is closest to `alpha` in Q0.15; nil for a slope outside [0, 1).
    public static func leakyReLU(alpha: Double) -> Activation? { leak(alpha: alpha).map { .leakyReLU(leak: $0) } }

    /// `alpha` in Q0.15, at most 32767/32768; nil outside [0, 1).
    public static func leak(alpha: Double) -> Int? {
        guard alpha >= 0, alpha < 1 else { return nil }
        let one = 1 << CAPSNET_LEAK_FRAC
        return min(Int((alpha * Double(one)).rounded()), one - 1)
    }

    /// As the kernels take it.
    public var cValue: capsnet_activation {
        switch self {
        case .none: capsnet_activation(min: CAPSNET_Q7_MIN, max: CAPSNET_Q7_MAX, leak: 0)
        case .relu: capsnet_activation(min: 0, max: CAPSNET_Q7_MAX, leak: 0)
        case .leakyReLU(let leak): capsnet_activation(min: CAPSNET_Q7_MIN, max: CAPSNET_Q7_MAX, leak: Int32(leak))
        }
    }
}

extension Activation {
    /// Its fields in the `.capsnet` file: a code byte (0 none, 1 ReLU, 2 leaky ReLU; version 1 first
    /// stored a ReLU flag there), then a leaky ReLU's slope.
    func encode(to writer: inout ModelFileWriter) {
        switch self {
        case .none: writer.byte(0)
        case .relu: writer.byte(1)
        case .leakyReLU(let leak):
            writer.byte(2)
            writer.int(leak)
        }
    }

    static func decode(
        from reader: inout ModelFileReader, layer: QuantizedLayer.Header
    ) throws(QuantizedModelFileError.Reason) -> Activation {
        let code = try reader.byte()
        switch code {
        case 0: return .none
        case 1: return .relu
        case 2: return .leakyReLU(leak: try decodeLeak(from: &reader, layer: layer))
        default: throw .malformed("layer '\(layer.name)' has unknown activation \(code)")
        }
    }

    /// A leaky ReLU's slope as the file stores it, in 0...32767.
    static func decodeLeak(
        from reader: inout ModelFileReader, layer: QuantizedLayer.Header
    ) throws(QuantizedModelFileError.Reason) -> Int {
        let leak = try reader.int()
        guard (0..<(1 << CAPSNET_LEAK_FRAC)).contains(leak) else {
            throw .malformed("layer '\(layer.name)' has a leaky ReLU slope of \(leak), outside 0...32767")
        }
        return leak
    }
}
