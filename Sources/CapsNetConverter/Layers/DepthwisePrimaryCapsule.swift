/// Efficient-CapsNet's primary capsules (`PrimaryCaps(F, K, N, D, s)`): a depthwise convolution,
/// one K×K filter per input channel (Keras's `Conv2D` with `groups = F`, valid padding, no
/// activation), its output read as N capsules of D values and squashed with the exponential squash.
public struct DepthwisePrimaryCapsule: LayerKind {
    public var kernelHeight: Int
    public var kernelWidth: Int
    public var strideY: Int
    public var strideX: Int
    /// Input and output channels, F.
    public var channels: Int
    /// Capsules, N.
    public var capsules: Int
    /// Values per capsule, D.
    public var dimension: Int
    /// The filters as Keras stores them, `[Kh][Kw][1][F]`.
    public var kernel: [Float]
    /// F values, or nil.
    public var bias: [Float]?

    public static let storesWeights = true

    public var parameterCount: Int { kernel.count + (bias?.count ?? 0) }

    /// One K×K window per output value (N·D of them).
    public func macs(_ layer: Layer) -> Int { layer.outputShape.reduce(1, *) * kernelHeight * kernelWidth }

    /// The output grid on an input of `height × width`, or nil if the kernel does not fit.
    func grid(height: Int, width: Int) -> (height: Int, width: Int)? {
        guard height >= kernelHeight, width >= kernelWidth else { return nil }
        return ((height - kernelHeight) / strideY + 1, (width - kernelWidth) / strideX + 1)
    }

    // MARK: - Keras

    public static let kerasClassNames = ["PrimaryCaps"]

    public static func load(
        _ keras: KerasLayerBuilder
    ) throws(KerasModelError.Reason) -> (kind: any LayerKind, outputShape: [Int]) {
        guard keras.inputShape.count == 3 else { throw keras.inputError("an image [height, width, channels]") }
        let channels = try keras.positive("F")
        let kernel = try keras.pair("K")
        let stride = try keras.pair("s", default: 1)
        let capsules = try keras.positive("N")
        let dimension = try keras.positive("D")
        guard keras.inputShape[2] == channels else {
            throw keras.inputError("\(channels) channels, one per depthwise filter (F = \(channels))")
        }
        let useBias = keras.weights.count != 1
        let kernelShape = [kernel.0, kernel.1, 1, channels]
        let stored = try keras.expectWeights(
            useBias ? [("kernel", kernelShape), ("bias", [channels])] : [("kernel", kernelShape)])
        let layer = DepthwisePrimaryCapsule(
            kernelHeight: kernel.0, kernelWidth: kernel.1, strideY: stride.0, strideX: stride.1, channels: channels,
            capsules: capsules, dimension: dimension, kernel: stored[0].values, bias: useBias ? stored[1].values : nil)
        guard let grid = layer.grid(height: keras.inputShape[0], width: keras.inputShape[1]) else {
            throw keras.inputError("an image at least \(kernel.0)×\(kernel.1)")
        }
        guard grid.height * grid.width * channels == capsules * dimension else {
            throw keras.inputError(
                "an image whose \(grid.height)×\(grid.width)×\(channels) filter outputs are N × D = \(capsules)×\(dimension) values")
        }
        return (layer, [capsules, dimension])
    }

    // MARK: - Float

    public func forward(_ input: Tensor, _ layer: Layer, recording: Bool) -> LayerTrace {
        let (batch, height, width) = (input.shape[0], input.shape[1], input.shape[2])
        let (rows, columns) = grid(height: height, width: width) ?? (0, 0)
        var output = [Float](repeating: 0, count: batch * rows * columns * channels)
        var index = 0
        for image in 0..<batch {
            for y in 0..<rows {
                for x in 0..<columns {
                    for f in 0..<channels {
                        var sum = bias?[f] ?? 0
                        for ky in 0..<kernelHeight {
                            let row = ((image * height + y * strideY + ky) * width + x * strideX) * channels + f
                            for kx in 0..<kernelWidth {
                                sum += input.values[row + kx * channels] * kernel[(ky * kernelWidth + kx) * channels + f]
                            }
                        }
                        output[index] = sum
                        index += 1
                    }
                }
            }
        }
        let capsulesBeforeSquash = Tensor(shape: [batch] + layer.outputShape, values: output)
        return LayerTrace(
            name: layer.name, output: FloatMath.exponentialSquash(capsulesBeforeSquash),
            preActivation: recording ? capsulesBeforeSquash : nil)
    }

    /// The capsules before squash feed squash.
    public func calibrationTensors(_ trace: LayerTrace) -> [CalibrationTensor] {
        [CalibrationTensor(.output, trace.output)]
            + (trace.preActivation.map { [CalibrationTensor(.preActivation, $0, feedsSquash: .exponential)] } ?? [])
    }

    // MARK: - Quantization

    /// The depthwise convolution into the squash's input format, then the exponential squash.
    public func quantize(
        _ context: QuantizationContext
    ) throws(QuantizationError) -> (kind: any QuantizedLayerKind, outputFrac: Int) {
        guard channels % dimension == 0 else {
            throw .unsupportedShape(
                layer: context.layer.name,
                reason: "its capsules of \(dimension) span two positions of the \(channels)-channel convolution; "
                    + "the int8 kernel needs F to be a multiple of D")
        }
        let (height, width) = (context.layer.inputShape[0], context.layer.inputShape[1])
        let grid = self.grid(height: height, width: width) ?? (1, 1)
        let weightFrac = context.weightFormat(kernel)
        let accumulatorFrac = context.inputFrac + weightFrac
        let biasFrac = context.biasFormat(bias ?? [], accumulatorFrac: accumulatorFrac)
        let preSquashFrac = min(context.squashInputFormat(.preActivation), accumulatorFrac)
        // The kernel is [kh][kw][C]: channel c's filter is every C-th value from c.
        let taps = kernelHeight * kernelWidth
        let filters = (0..<channels).flatMap { c in (0..<taps).map { kernel[$0 * channels + c] } }
        let filterFracs = context.filterFormats(
            filters, groups: channels, layerFormat: weightFrac, outputFrac: preSquashFrac,
            biasFrac: bias == nil ? nil : biasFrac, window: taps)
        let weights = kernel.indices.map { index in
            QFormat(fractionalBits: filterFracs?[index % channels] ?? weightFrac).quantize(Double(kernel[index]))
        }
        let convolution = QuantizedConvolution(
            kernelHeight: kernelHeight, kernelWidth: kernelWidth, strideY: strideY, strideX: strideX, padTop: 0,
            padLeft: 0, outputHeight: grid.height, outputWidth: grid.width, inputChannels: channels, filters: channels,
            weights: weights, bias: bias.map { QFormat(fractionalBits: biasFrac).quantize($0) },
            inputFrac: context.inputFrac, weightFrac: weightFrac, weightFracs: filterFracs.map { $0.map { Int8($0) } },
            biasFrac: biasFrac, outputFrac: preSquashFrac, activation: .none, depthwise: true)
        let outputFrac = min(max(context.activationFormat(.output), 0), QFormat.supportedFractionalBits.upperBound)
        return (QuantizedDepthwisePrimaryCapsule(convolution: convolution, capsuleDimension: dimension), outputFrac)
    }
}
