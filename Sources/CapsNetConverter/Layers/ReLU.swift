/// `max(x, 0)` as a layer of its own (`Activation("relu")`); a ReLU inside a `Conv2D` is that
/// convolution's activation instead.
public struct ReLU: LayerKind {
    public init() {}

    public static let kerasClassNames = ["Activation"]

    /// `relu` is this kind; `linear` does nothing, a reshape to the same shape.
    public static func load(
        _ keras: KerasLayerBuilder
    ) throws(KerasModelError.Reason) -> (kind: any LayerKind, outputShape: [Int]) {
        let kind: any LayerKind = try keras.activation() == .relu ? ReLU() : Reshape()
        try keras.expectWeights([])
        return (kind, keras.inputShape)
    }

    public func forward(_ input: Tensor, _ layer: Layer, recording: Bool) -> LayerTrace {
        LayerTrace(name: layer.name, output: FloatMath.relu(input))
    }

    /// The format is the input's: the values it keeps are unchanged.
    public func quantize(_ context: QuantizationContext) -> (kind: any QuantizedLayerKind, outputFrac: Int) {
        (QuantizedReLU(), context.inputFrac)
    }
}
