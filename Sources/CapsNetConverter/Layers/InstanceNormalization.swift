import Foundation

/// Instance normalization (TensorFlow Addons' `InstanceNormalization`, a `GroupNormalization` with
/// one group per channel; Efficient-CapsNet's smallNORB model): each image's channel `c` normalized
/// by its own mean and population variance over the positions,
/// `y = gamma · (x − mean) / sqrt(variance + epsilon) + beta`, computed as TensorFlow's
/// `batch_normalization` does: `x · s + (beta − mean · s)` with `s = gamma / sqrt(variance + epsilon)`.
///
/// The statistics belong to each image, so nothing folds: in int8 it is `capsnet_instance_norm_q7`.
public struct InstanceNormalization: LayerKind {
    public var gammas: [Float]
    public var betas: [Float]
    public var epsilon: Float
    /// How many trained values the Keras layer holds (gamma and beta where present).
    private var storedValues: Int

    public init(gammas: [Float], betas: [Float], epsilon: Float, storedValues: Int) {
        self.gammas = gammas
        self.betas = betas
        self.epsilon = epsilon
        self.storedValues = storedValues
    }

    public var channels: Int { gammas.count }

    public static let storesWeights = true

    public var parameterCount: Int { storedValues }

    // MARK: - Keras

    /// Keras 2 with TensorFlow Addons writes the registered name, Keras 3 the class name.
    public static let kerasClassNames = ["Addons>InstanceNormalization", "InstanceNormalization"]

    public static func load(
        _ keras: KerasLayerBuilder
    ) throws(KerasModelError.Reason) -> (kind: any LayerKind, outputShape: [Int]) {
        guard keras.inputShape.count == 3, let channels = keras.inputShape.last else {
            throw keras.inputError("an image [height, width, channels]")
        }
        try keras.checkLastAxis()
        if let groups = keras.layer.config["groups"], !(groups.int == -1 || groups.int == channels) {
            throw keras.unsupported("groups", groups)
        }
        let epsilon = try keras.number("epsilon", default: 1e-3)
        guard epsilon >= 0 else { throw keras.unsupported("epsilon", .number(epsilon)) }
        let center = try keras.flag("center", default: true)
        let scale = try keras.flag("scale", default: true)
        var expected: [(name: String, shape: [Int])] = []
        if scale { expected.append(("gamma", [channels])) }
        if center { expected.append(("beta", [channels])) }
        let stored = try keras.expectWeights(expected).map(\.values)
        return (
            InstanceNormalization(
                gammas: scale ? stored[0] : [Float](repeating: 1, count: channels),
                betas: center ? stored[scale ? 1 : 0] : [Float](repeating: 0, count: channels),
                epsilon: Float(epsilon), storedValues: expected.count * channels),
            keras.inputShape
        )
    }

    // MARK: - Float

    public func forward(_ input: Tensor, _ layer: Layer, recording: Bool) -> LayerTrace {
        var output = input
        let imageSize = layer.inputShape.reduce(1, *)
        let positions = imageSize / max(channels, 1)
        output.values.withUnsafeMutableBufferPointer { values in
            for image in stride(from: 0, to: values.count, by: imageSize) {
                for c in 0..<channels {
                    // The moments in double precision, then TensorFlow's float32 steps.
                    var sum = 0.0
                    for p in 0..<positions { sum += Double(values[image + p * channels + c]) }
                    let mean = sum / Double(positions)
                    var squares = 0.0
                    for p in 0..<positions {
                        let centred = Double(values[image + p * channels + c]) - mean
                        squares += centred * centred
                    }
                    let variance = Float(squares / Double(positions))
                    let s = 1 / (variance + epsilon).squareRoot() * gammas[c]
                    let offset = betas[c] - Float(mean) * s
                    for p in 0..<positions {
                        let index = image + p * channels + c
                        values[index] = values[index] * s + offset
                    }
                }
            }
        }
        return LayerTrace(name: layer.name, output: output)
    }

    // MARK: - Quantization

    /// Each gamma in the finest format its int16 holds (0 to 15 fractional bits); the output in the
    /// format calibration chose, no finer than every gamma's format plus 8 (the kernel's rule);
    /// beta in the output's format; epsilon in Q16 of the input's squared units.
    public func quantize(
        _ context: QuantizationContext
    ) throws(QuantizationError) -> (kind: any QuantizedLayerKind, outputFrac: Int) {
        let positions = context.layer.inputShape.reduce(1, *) / max(channels, 1)
        guard positions <= QuantizedInstanceNormalization.positionLimit else {
            throw .unsupportedShape(
                layer: context.layer.name,
                reason: "an instance normalization over \(positions) positions; the int8 kernel takes at most "
                    + "\(QuantizedInstanceNormalization.positionLimit)")
        }
        let formats = QFormat.supportedFractionalBits
        let fracs = gammas.map { gamma in
            (0...formats.upperBound).reversed().first { Double(abs(gamma)) * pow(2, Double($0)) <= Double(Int16.max) } ?? 0
        }
        let output = max(min(context.activationFormat(.output), (fracs.min() ?? 0) + 8), formats.lowerBound)
        let epsilonQ16 = (Double(epsilon) * pow(2, Double(2 * context.inputFrac + 16)) + 0.5).rounded(.down)
        let kind = QuantizedInstanceNormalization(
            gammas: (0..<channels).map { Int16(clamping: Int(rounded(Double(gammas[$0]), fracs[$0]))) },
            gammaFracs: fracs.map { Int8($0) },
            betas: betas.map { Int16(clamping: Int(rounded(Double($0), output))) },
            epsilon: UInt32(min(epsilonQ16, Double(QuantizedInstanceNormalization.epsilonLimit))))
        return (kind, output)
    }

    /// `value · 2^frac`, rounded half up, within Int's range.
    private func rounded(_ value: Double, _ frac: Int) -> Double {
        min(max((value * pow(2, Double(frac)) + 0.5).rounded(.down), -1e9), 1e9)
    }
}
