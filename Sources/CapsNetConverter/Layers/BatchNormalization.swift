import Foundation

/// Batch normalization at inference (`BatchNormalization`), over the last axis:
/// `y = gamma · (x − mean) / sqrt(variance + epsilon) + beta` with the moving statistics, computed as
/// Keras computes it: `x · scale + offset`, `scale = gamma / sqrt(variance + epsilon)`,
/// `offset = beta − mean · scale`.
///
/// In int8 it costs nothing where a convolution can absorb it exactly (``fold(_:at:)``), and is a
/// per-channel affine layer (`QuantizedChannelAffine`) elsewhere.
public struct BatchNormalization: LayerKind {
    /// One per channel, as Keras computes them in float32.
    public var scales: [Float]
    public var offsets: [Float]
    /// How many trained values the Keras layer holds (gamma and beta where present, mean, variance).
    private var storedValues: Int

    public init(scales: [Float], offsets: [Float], storedValues: Int) {
        self.scales = scales
        self.offsets = offsets
        self.storedValues = storedValues
    }

    public var channels: Int { scales.count }

    public static let storesWeights = true

    public var parameterCount: Int { storedValues }

    // MARK: - Keras

    public static let kerasClassNames = ["BatchNormalization"]

    public static func load(
        _ keras: KerasLayerBuilder
    ) throws(KerasModelError.Reason) -> (kind: any LayerKind, outputShape: [Int]) {
        guard let channels = keras.inputShape.last, channels > 0 else { throw keras.inputError("at least one axis") }
        try keras.checkLastAxis()
        let epsilon = try keras.number("epsilon", default: 1e-3)
        let center = try keras.flag("center", default: true)
        let scale = try keras.flag("scale", default: true)
        var expected: [(name: String, shape: [Int])] = []
        if scale { expected.append(("gamma", [channels])) }
        if center { expected.append(("beta", [channels])) }
        expected += [("moving_mean", [channels]), ("moving_variance", [channels])]
        let stored = try keras.expectWeights(expected).map(\.values)
        let gamma = scale ? stored[0] : [Float](repeating: 1, count: channels)
        let beta = center ? stored[scale ? 1 : 0] : [Float](repeating: 0, count: channels)
        let (mean, variance) = (stored[stored.count - 2], stored[stored.count - 1])
        guard variance.allSatisfy({ $0 + Float(epsilon) > 0 }) else {
            throw .invalidConfig(
                detail: "layer '\(keras.layer.name)' (BatchNormalization) has a moving variance at or below -epsilon")
        }
        // Keras's order of operations, so that the float reference rounds as Keras does.
        let scales = (0..<channels).map { 1 / (variance[$0] + Float(epsilon)).squareRoot() * gamma[$0] }
        let offsets = (0..<channels).map { -mean[$0] * scales[$0] + beta[$0] }
        return (
            BatchNormalization(scales: scales, offsets: offsets, storedValues: expected.count * channels),
            keras.inputShape
        )
    }

    // MARK: - Float

    public func forward(_ input: Tensor, _ layer: Layer, recording: Bool) -> LayerTrace {
        var output = input
        output.values.withUnsafeMutableBufferPointer { values in
            for start in stride(from: 0, to: values.count, by: channels) {
                for c in 0..<channels { values[start + c] = values[start + c] * scales[c] + offsets[c] }
            }
        }
        return LayerTrace(name: layer.name, output: output)
    }

    // MARK: - Folding

    /// The model with this layer's work moved into a neighbouring convolution, where that is exact:
    /// - into the convolution before it, if that one has no activation: each filter's weights and
    ///   bias are scaled by its channel's scale and the offset added to the bias;
    /// - else into the convolution (or primary capsule layer) after it, if that one reads no padding
    ///   (`valid`, or `same` that pads nothing): each input channel's weights are scaled, and the
    ///   offsets, summed through the weights, join the bias. Zero padding is not exact: a padded zero
    ///   stands for a normalized zero, which is `offset` before the normalization, not zero.
    ///   Efficient-CapsNet's primary capsules (a depthwise convolution, never padded) absorb it the
    ///   same way, each channel's filter by its own channel's scale.
    ///
    /// The layer stays in the model as a reshape to the same shape (nothing at run time), so that
    /// layer indices still match the float model's.
    public func fold(_ model: CapsNetModel, at index: Int) -> LayerFold? {
        let name = "layer '\(model.layers[index].name)' (BatchNormalization)"
        var folded = model
        folded.layers[index].kind = Reshape()
        if index > 0, let before = model.layers[index - 1].kind as? Convolution, before.activation == .none,
            before.filters == channels
        {
            folded.layers[index - 1].kind = foldedBefore(before)
            return .folded(folded, note: "\(name) folded into the convolution '\(model.layers[index - 1].name)' before it")
        }
        let next = index + 1 < model.layers.count ? model.layers[index + 1] : nil
        if let next, let depthwise = next.kind as? DepthwisePrimaryCapsule, depthwise.channels == channels {
            folded.layers[index + 1].kind = foldedAfter(depthwise)
            return .folded(folded, note: "\(name) folded into the primary capsule layer '\(next.name)' after it")
        }
        let convolutionAfter = (next?.kind as? Convolution) ?? (next?.kind as? PrimaryCapsule)?.convolution
        guard let next, let convolutionAfter else {
            return .kept(note: "\(name) kept as a per-channel affine layer: no convolution without activation before it, none after it")
        }
        let what = next.kind is PrimaryCapsule ? "primary capsule layer" : "convolution"
        guard convolutionAfter.readsNoPadding(next.inputShape) else {
            return .kept(
                note: "\(name) kept as a per-channel affine layer: the \(what) '\(next.name)' after it pads with zeros, "
                    + "where a fold is not exact")
        }
        if var primary = next.kind as? PrimaryCapsule {
            primary.convolution = foldedAfter(primary.convolution)
            folded.layers[index + 1].kind = primary
        } else {
            folded.layers[index + 1].kind = foldedAfter(convolutionAfter)
        }
        return .folded(folded, note: "\(name) folded into the \(what) '\(next.name)' after it")
    }

    /// `conv` followed by this normalization, as one convolution.
    private func foldedBefore(_ conv: Convolution) -> Convolution {
        var folded = conv
        let filters = conv.filters
        for tap in 0..<conv.kernel.count / filters {
            for f in 0..<filters { folded.kernel[tap * filters + f] = conv.kernel[tap * filters + f] * scales[f] }
        }
        folded.bias = (0..<filters).map { (conv.bias?[$0] ?? 0) * scales[$0] + offsets[$0] }
        return folded
    }

    /// This normalization followed by `conv`, as one convolution; the offsets' share of each bias
    /// is summed in double precision.
    private func foldedAfter(_ conv: Convolution) -> Convolution {
        var folded = conv
        let filters = conv.filters
        var added = [Double](repeating: 0, count: filters)
        for tap in 0..<conv.kernel.count / filters {
            let channel = tap % channels
            for f in 0..<filters {
                let weight = conv.kernel[tap * filters + f]
                added[f] += Double(weight) * Double(offsets[channel])
                folded.kernel[tap * filters + f] = weight * scales[channel]
            }
        }
        folded.bias = (0..<filters).map { Float(Double(conv.bias?[$0] ?? 0) + added[$0]) }
        return folded
    }

    /// This normalization followed by Efficient-CapsNet's depthwise primary capsules, as one layer.
    private func foldedAfter(_ capsules: DepthwisePrimaryCapsule) -> DepthwisePrimaryCapsule {
        var folded = capsules
        var added = [Double](repeating: 0, count: channels)
        for (index, weight) in capsules.kernel.enumerated() {
            let channel = index % channels
            added[channel] += Double(weight) * Double(offsets[channel])
            folded.kernel[index] = weight * scales[channel]
        }
        folded.bias = (0..<channels).map { Float(Double(capsules.bias?[$0] ?? 0) + added[$0]) }
        return folded
    }

    // MARK: - Quantization

    /// A normalization no convolution absorbed: a per-channel affine layer. Each scale gets the
    /// finest format its int16 holds; the output the format calibration chose, or coarser where a
    /// channel's product format or a shift of at most 31 requires.
    public func quantize(_ context: QuantizationContext) -> (kind: any QuantizedLayerKind, outputFrac: Int) {
        let formats = QFormat.supportedFractionalBits
        let input = context.inputFrac
        var fracs = scales.map { scale in
            formats.reversed().first { Double(abs(scale)) * pow(2, Double($0)) <= Double(Int16.max) } ?? formats.lowerBound
        }
        var output = context.activationFormat(.output)
        // Each offset must fit the kernel's limit in its channel's product format; coarser scale
        // formats make it fit, and a coarser output follows them. Every step lowers a format, so
        // this ends.
        while true {
            output = max(min(output, fracs.map { input + $0 }.min() ?? output), formats.lowerBound)
            fracs = fracs.map { max(min($0, output + Int(CAPSNET_SHIFT_MAX) - input), output - input) }
            guard let c = (0..<channels).first(where: { abs(offset($0, fracs[$0], input)) > Double(QuantizedChannelAffine.offsetLimit) }),
                fracs[c] > formats.lowerBound
            else { break }
            fracs[c] -= 1
        }
        let kind = QuantizedChannelAffine(
            scales: (0..<channels).map { Int16(clamping: Int((Double(scales[$0]) * pow(2, Double(fracs[$0])) + 0.5).rounded(.down))) },
            scaleFracs: fracs.map { Int8($0) },
            offsets: (0..<channels).map {
                Int32(clamping: Int(offset($0, fracs[$0], input).clamped(to: Double(QuantizedChannelAffine.offsetLimit))))
            })
        return (kind, output)
    }

    /// Channel `c`'s offset in the product format `input + frac`, rounded half up.
    private func offset(_ c: Int, _ frac: Int, _ input: Int) -> Double {
        (Double(offsets[c]) * pow(2, Double(input + frac)) + 0.5).rounded(.down)
    }
}

/// What became of a layer that a neighbour may absorb, with one line for the user saying so.
public enum LayerFold: Sendable {
    /// The model rewritten so that a neighbour does the layer's work.
    case folded(CapsNetModel, note: String)
    /// The layer stays, and why.
    case kept(note: String)
}

extension Convolution {
    /// Whether the convolution on an input of `shape` reads only input values, never a padded zero.
    func readsNoPadding(_ shape: [Int]) -> Bool {
        guard padding == .same, let output = outputShape(height: shape[0], width: shape[1]) else { return true }
        return (output[0] - 1) * strideY + kernelHeight <= shape[0] && (output[1] - 1) * strideX + kernelWidth <= shape[1]
    }
}

extension Double {
    fileprivate func clamped(to limit: Double) -> Double { Swift.min(Swift.max(self, -limit), limit) }
}
