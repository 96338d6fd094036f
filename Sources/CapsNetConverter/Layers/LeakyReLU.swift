/// A leaky ReLU as a layer of its own (`LeakyReLU`, `Activation("leaky_relu")`, `ReLU` with a
/// negative slope): `x` for `x >= 0`, `alpha·x` below. A leaky ReLU inside a `Conv2D`
/// (`activation=LeakyReLU(0.3)`) is that convolution's activation instead.
public struct LeakyReLU: LayerKind {
    /// The negative slope, in [0, 1).
    public var alpha: Float

    public init(alpha: Float) {
        self.alpha = alpha
    }

    public static let kerasClassNames = ["LeakyReLU"]

    public static func load(
        _ keras: KerasLayerBuilder
    ) throws(KerasModelError.Reason) -> (kind: any LayerKind, outputShape: [Int]) {
        let activation = try keras.leakyReLU(keras.layer.config, "negative_slope")
        try keras.expectWeights([])
        guard case .leakyReLU(let alpha) = activation else { return (ReLU(), keras.inputShape) }
        return (LeakyReLU(alpha: alpha), keras.inputShape)
    }

    public func forward(_ input: Tensor, _ layer: Layer, recording: Bool) -> LayerTrace {
        LayerTrace(name: layer.name, output: FloatActivation.leakyReLU(alpha: alpha).apply(input))
    }

    /// In place, in the input's format; the slope rounded to Q0.15.
    public func quantize(_ context: QuantizationContext) -> (kind: any QuantizedLayerKind, outputFrac: Int) {
        // The loader only makes slopes in [0, 1).
        (QuantizedLeakyReLU(leak: Activation.leak(alpha: Double(alpha)) ?? 0), context.inputFrac)
    }
}
