/// A new shape for the same values in the same order (`Reshape`, `Flatten`, and `Dropout` or a
/// linear `Activation`, which do nothing at inference).
public struct Reshape: LayerKind {
    public init() {}

    public static let kerasClassNames = ["Reshape", "Flatten", "Dropout"]

    public static func load(
        _ keras: KerasLayerBuilder
    ) throws(KerasModelError.Reason) -> (kind: any LayerKind, outputShape: [Int]) {
        let outputShape: [Int]
        switch keras.layer.className {
        case "Reshape": outputShape = try target(keras)
        case "Flatten": outputShape = [keras.inputShape.reduce(1, *)]
        default: outputShape = keras.inputShape
        }
        try keras.expectWeights([])
        return (Reshape(), outputShape)
    }

    /// `Reshape`'s target, with its one `-1` resolved.
    private static func target(_ keras: KerasLayerBuilder) throws(KerasModelError.Reason) -> [Int] {
        guard let target = keras.layer.config["target_shape"], let items = target.array else {
            throw .invalidConfig(detail: "layer '\(keras.layer.name)' (Reshape) has no 'target_shape'")
        }
        let dimensions = items.compactMap(\.int)
        let count = keras.inputShape.reduce(1, *)
        let known = dimensions.filter { $0 != -1 }
        let unknown = dimensions.count - known.count
        guard dimensions.count == items.count, unknown <= 1, known.allSatisfy({ $0 > 0 }) else {
            throw keras.unsupported("target_shape", target)
        }
        guard let knownCount = ResourceLimits.product(known, limit: ResourceLimits.tensorValues),
            count % knownCount == 0, unknown == 1 || knownCount == count
        else {
            throw keras.inputError("\(count) values in the shape \(target.text)")
        }
        return dimensions.map { $0 == -1 ? count / knownCount : $0 }
    }

    public func forward(_ input: Tensor, _ layer: Layer, recording: Bool) -> LayerTrace {
        LayerTrace(name: layer.name, output: Tensor(shape: [input.shape[0]] + layer.outputShape, values: input.values))
    }

    /// The same bytes: the input's format.
    public func quantize(_ context: QuantizationContext) -> (kind: any QuantizedLayerKind, outputFrac: Int) {
        (QuantizedReshape(), context.inputFrac)
    }
}
