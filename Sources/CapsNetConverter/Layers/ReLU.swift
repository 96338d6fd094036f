/// `max(x, 0)` as a layer of its own (`Activation("relu")`, `ReLU()`); a ReLU inside a `Conv2D` is
/// that convolution's activation instead.
public struct ReLU: LayerKind {
    public init() {}

    public static let kerasClassNames = ["Activation", "ReLU"]

    /// The activation layers: `relu` is this kind, `leaky_relu` (or a `ReLU` with a negative
    /// slope) a `LeakyReLU`, and `linear` does nothing, a reshape to the same shape.
    public static func load(
        _ keras: KerasLayerBuilder
    ) throws(KerasModelError.Reason) -> (kind: any LayerKind, outputShape: [Int]) {
        let activation =
            keras.layer.className == "ReLU" ? try keras.relu(keras.layer.config, "negative_slope") : try keras.activation()
        try keras.expectWeights([])
        let kind: any LayerKind =
            switch activation {
            case .none: Reshape()
            case .relu: ReLU()
            case .leakyReLU(let alpha): LeakyReLU(alpha: alpha)
            }
        return (kind, keras.inputShape)
    }

    public func forward(_ input: Tensor, _ layer: Layer, recording: Bool) -> LayerTrace {
        LayerTrace(name: layer.name, output: FloatActivation.relu.apply(input))
    }

    /// The format is the input's: the values it keeps are unchanged.
    public func quantize(_ context: QuantizationContext) -> (kind: any QuantizedLayerKind, outputFrac: Int) {
        (QuantizedReLU(), context.inputFrac)
    }
}
