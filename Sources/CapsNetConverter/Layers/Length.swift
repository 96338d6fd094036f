/// The Euclidean length of each capsule (`Length`): `[J, D]` to `[J]`, the class scores.
public struct Length: LayerKind {
    public init() {}

    public static let kerasClassNames = ["Length"]

    public static func load(
        _ keras: KerasLayerBuilder
    ) throws(KerasModelError.Reason) -> (kind: any LayerKind, outputShape: [Int]) {
        guard keras.inputShape.count == 2 else { throw keras.inputError("capsules [count, dimension]") }
        try keras.expectWeights([])
        return (Length(), [keras.inputShape[0]])
    }

    public func forward(_ input: Tensor, _ layer: Layer, recording: Bool) -> LayerTrace {
        LayerTrace(name: layer.name, output: FloatMath.lengths(input))
    }

    public func quantize(_ context: QuantizationContext) -> (kind: any QuantizedLayerKind, outputFrac: Int) {
        (QuantizedLength(), context.activationFormat(.output))
    }
}
