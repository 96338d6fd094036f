/// What a layer applies to its values in float32: the identity, a ReLU or a leaky ReLU, as Keras
/// computes them.
public enum FloatActivation: Sendable, Equatable {
    case none
    case relu
    /// `x` for `x >= 0`, `alpha·x` below.
    case leakyReLU(alpha: Float)

    /// The activation applied to every value.
    public func apply(_ input: Tensor) -> Tensor {
        switch self {
        case .none: input
        case .relu: Tensor(shape: input.shape, values: input.values.map { max($0, 0) })
        case .leakyReLU(let alpha): Tensor(shape: input.shape, values: input.values.map { $0 >= 0 ? $0 : alpha * $0 })
        }
    }

    /// The int8 kernels' activation: a leaky ReLU's slope rounded to Q0.15.
    public var quantized: Activation {
        switch self {
        case .none: .none
        case .relu: .relu
        // The loader only makes slopes in [0, 1).
        case .leakyReLU(let alpha): Activation.leakyReLU(alpha: Double(alpha)) ?? .none
        }
    }
}

/// How Keras writes activations.
extension KerasLayerBuilder {
    /// The layer's `activation`: a name (`relu`, `leaky_relu`, `linear`), none, or an activation
    /// layer given as the argument (`activation=LeakyReLU(0.3)`), which Keras writes as that
    /// layer's configuration.
    func activation() throws(KerasModelError.Reason) -> FloatActivation {
        let value = layer.config["activation"] ?? .null
        if value == .null { return .none }
        if let name = value.string {
            switch name {
            case "relu": return .relu
            // keras.activations.leaky_relu's default slope.
            case "leaky_relu": return .leakyReLU(alpha: 0.2)
            case "linear": return .none
            default: throw unsupported("activation", value)
            }
        }
        guard let className = value["class_name"]?.string, let config = value["config"] else {
            throw unsupported("activation", value)
        }
        switch className {
        case "LeakyReLU": return try leakyReLU(config, "activation")
        case "ReLU": return try relu(config, "activation")
        default: throw unsupported("activation", value)
        }
    }

    /// A `LeakyReLU` configuration: `negative_slope` (Keras 3) or `alpha` (Keras 2), 0.3 by default.
    func leakyReLU(_ config: JSONValue, _ attribute: String) throws(KerasModelError.Reason) -> FloatActivation {
        let slope = config["negative_slope"] ?? config["alpha"] ?? .null
        if slope == .null { return .leakyReLU(alpha: 0.3) }
        guard let alpha = slope.double, alpha >= 0, alpha < 1 else { throw unsupported(attribute, slope) }
        return alpha == 0 ? .relu : .leakyReLU(alpha: Float(alpha))
    }

    /// A `ReLU` configuration: `negative_slope` makes it leaky; `max_value` and `threshold` must be
    /// their defaults.
    func relu(_ config: JSONValue, _ attribute: String) throws(KerasModelError.Reason) -> FloatActivation {
        if let maxValue = config["max_value"], maxValue != .null { throw unsupported("max_value", maxValue) }
        if let threshold = config["threshold"], threshold != .null, threshold.double != 0 {
            throw unsupported("threshold", threshold)
        }
        return try leakyReLU(.object(["negative_slope": config["negative_slope"] ?? .number(0)]), attribute)
    }
}
