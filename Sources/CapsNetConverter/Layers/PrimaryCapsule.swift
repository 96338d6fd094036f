/// A convolution whose output channels are read as capsules, then squashed (`PrimaryCapsule`).
public struct PrimaryCapsule: LayerKind {
    /// The convolution, with `capsulesPerPosition × dimension` filters.
    public var convolution: Convolution
    /// Capsules at each output position.
    public var capsulesPerPosition: Int
    /// Values per capsule.
    public var dimension: Int
    /// The epsilon of its squash: 0 for this project's `PrimaryCapsule`, Keras's 1e-7 for
    /// CapsNet-Keras's `Lambda(squash)`.
    public var squashEpsilon: Float

    public init(convolution: Convolution, capsulesPerPosition: Int, dimension: Int, squashEpsilon: Float = 0) {
        self.convolution = convolution
        self.capsulesPerPosition = capsulesPerPosition
        self.dimension = dimension
        self.squashEpsilon = squashEpsilon
    }

    public static let storesWeights = true

    public var parameterCount: Int { convolution.parameterCount }

    public func macs(_ layer: Layer) -> Int { convolution.macs(layer) }

    // MARK: - Keras

    public static let kerasClassNames = ["PrimaryCapsule"]

    public static func load(
        _ keras: KerasLayerBuilder
    ) throws(KerasModelError.Reason) -> (kind: any LayerKind, outputShape: [Int]) {
        let capsules = try keras.positive("num_capsule")
        let dimension = try keras.positive("dim_capsule")
        let convolution = try Convolution.load(
            keras, filters: capsules * dimension, activation: .none, useBias: keras.weights.count != 1)
        let grid = try convolution.outputShape(keras)
        return (
            PrimaryCapsule(convolution: convolution, capsulesPerPosition: capsules, dimension: dimension),
            [grid[0] * grid[1] * capsules, dimension]
        )
    }

    /// The layers with every `Conv2D` (without activation) → `Reshape` to capsules → squash
    /// `Lambda` run, as CapsNet-Keras builds primary capsules, made one primary capsule layer,
    /// named after the convolution. The reshape must cut each position's channels into whole
    /// capsules, as `Reshape([-1, D])` does.
    static func recognized(in layers: [Layer]) throws(KerasModelError.Reason) -> [Layer] {
        var result: [Layer] = []
        var index = 0
        while index < layers.count {
            if index + 2 < layers.count, let convolution = layers[index].kind as? Convolution,
                convolution.activation == .none, layers[index + 1].kind is Reshape,
                let squash = layers[index + 2].kind as? Squash
            {
                let (conv, capsules) = (layers[index], layers[index + 2])
                let dimension = capsules.outputShape.last ?? 0
                if capsules.outputShape.count == 2, dimension > 0, convolution.filters % dimension == 0 {
                    result.append(
                        Layer(
                            name: conv.name, className: "\(conv.className)+Reshape+Lambda", kind: PrimaryCapsule(
                                convolution: convolution, capsulesPerPosition: convolution.filters / dimension,
                                dimension: dimension, squashEpsilon: squash.epsilon),
                            inputShape: conv.inputShape, outputShape: capsules.outputShape))
                    index += 3
                    continue
                }
            }
            result.append(layers[index])
            index += 1
        }
        return result
    }

    // MARK: - Float

    public func forward(_ input: Tensor, _ layer: Layer, recording: Bool) -> LayerTrace {
        let grid = convolution.outputShape(height: input.shape[1], width: input.shape[2]) ?? []
        var capsules = convolution.convolve(input, outputShape: [input.shape[0]] + grid)
        capsules.shape = [input.shape[0]] + layer.outputShape
        return LayerTrace(
            name: layer.name, output: FloatMath.squash(capsules, epsilon: squashEpsilon),
            preActivation: recording ? capsules : nil)
    }

    /// The capsules before squash feed squash.
    public func calibrationTensors(_ trace: LayerTrace) -> [CalibrationTensor] {
        [CalibrationTensor(.output, trace.output)]
            + (trace.preActivation.map { [CalibrationTensor(.preActivation, $0, feedsSquash: .capsNet)] } ?? [])
    }

    // MARK: - Quantization

    /// The convolution into the squash input's format; the squashed capsules in a format of at
    /// least 0 fractional bits (their values lie in [-1, 1]).
    public func quantize(_ context: QuantizationContext) -> (kind: any QuantizedLayerKind, outputFrac: Int) {
        let quantized = convolution.quantize(context, outputFrac: context.squashInputFormat(.preActivation))
        let outputFrac = min(max(context.activationFormat(.output), 0), QFormat.supportedFractionalBits.upperBound)
        return (QuantizedPrimaryCapsule(convolution: quantized, capsuleDimension: dimension), outputFrac)
    }
}
