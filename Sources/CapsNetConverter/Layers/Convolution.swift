// BLAS: Accelerate on Apple platforms, OpenBLAS elsewhere (the same CBLAS interface).
#if canImport(Accelerate)
import Accelerate
#else
import COpenBLAS
#endif

/// A 2-D convolution over an HWC input (`Conv2D`), with its activation.
public struct Convolution: LayerKind {
    public enum Padding: String, Sendable {
        /// No padding: every window lies inside the input.
        case valid
        /// Zero padding so that the output has ⌈input / stride⌉ positions, split as TensorFlow
        /// does: the smaller half before, the larger after.
        case same
    }

    public var kernelHeight: Int
    public var kernelWidth: Int
    public var strideY: Int
    public var strideX: Int
    public var padding: Padding
    public var inputChannels: Int
    public var filters: Int
    /// The kernel in Keras order, `[kernelHeight][kernelWidth][inputChannels][filters]`.
    public var kernel: [Float]
    /// One bias per filter, or nil for a convolution without bias.
    public var bias: [Float]?
    /// What it applies to its output (`activation="relu"`, `"leaky_relu"`, `LeakyReLU(0.3)`).
    public var activation: FloatActivation

    public init(
        kernelHeight: Int, kernelWidth: Int, strideY: Int, strideX: Int, padding: Padding,
        inputChannels: Int, filters: Int, kernel: [Float], bias: [Float]?, activation: FloatActivation
    ) {
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        self.strideY = strideY
        self.strideX = strideX
        self.padding = padding
        self.inputChannels = inputChannels
        self.filters = filters
        self.kernel = kernel
        self.bias = bias
        self.activation = activation
    }

    /// The kernel's shape in Keras order.
    public var kernelShape: [Int] { [kernelHeight, kernelWidth, inputChannels, filters] }

    /// The output `[H, W, filters]` for an input of `height`×`width`, or nil if the kernel does not fit.
    public func outputShape(height: Int, width: Int) -> [Int]? {
        switch padding {
        case .valid:
            guard height >= kernelHeight, width >= kernelWidth else { return nil }
            return [(height - kernelHeight) / strideY + 1, (width - kernelWidth) / strideX + 1, filters]
        case .same:
            return [(height + strideY - 1) / strideY, (width + strideX - 1) / strideX, filters]
        }
    }

    /// The zero rows above and columns left of the input, for an input of `height`×`width`.
    public func leadingPadding(height: Int, width: Int) -> (top: Int, left: Int) {
        guard padding == .same, let output = outputShape(height: height, width: width) else { return (0, 0) }
        let rows = max((output[0] - 1) * strideY + kernelHeight - height, 0)
        let columns = max((output[1] - 1) * strideX + kernelWidth - width, 0)
        return (rows / 2, columns / 2)
    }

    public static let storesWeights = true

    public var parameterCount: Int { kernel.count + (bias?.count ?? 0) }

    public func macs(_ layer: Layer) -> Int { layer.outputShape.reduce(1, *) * kernelHeight * kernelWidth * inputChannels }

    // MARK: - Keras

    public static let kerasClassNames = ["Conv2D"]

    public static func load(
        _ keras: KerasLayerBuilder
    ) throws(KerasModelError.Reason) -> (kind: any LayerKind, outputShape: [Int]) {
        let convolution = try load(
            keras, filters: try keras.positive("filters"), activation: try keras.activation(),
            useBias: try keras.flag("use_bias", default: true))
        return (convolution, try convolution.outputShape(keras))
    }

    /// The convolution of a Keras layer with `kernel_size`, `strides`, `padding` and optional
    /// `data_format`, `dilation_rate` and `groups`, checked against its stored kernel and bias.
    static func load(
        _ keras: KerasLayerBuilder, filters: Int, activation: FloatActivation, useBias: Bool
    ) throws(KerasModelError.Reason) -> Convolution {
        let kernel = try keras.pair("kernel_size")
        let strides = try keras.pair("strides", default: 1)
        guard keras.inputShape.count == 3 else { throw keras.inputError("an image [height, width, channels]") }
        let paddingName = try keras.text("padding", default: "valid")
        guard let padding = Padding(rawValue: paddingName) else {
            throw keras.unsupported("padding", .string(paddingName))
        }
        if let format = keras.layer.config["data_format"], format != .null, format.string != "channels_last" {
            throw keras.unsupported("data_format", format)
        }
        if let dilation = keras.layer.config["dilation_rate"], try keras.pair(dilation, "dilation_rate") != (1, 1) {
            throw keras.unsupported("dilation_rate", dilation)
        }
        if let groups = keras.layer.config["groups"], groups.int != 1 { throw keras.unsupported("groups", groups) }

        let channels = keras.inputShape[2]
        let kernelShape = [kernel.0, kernel.1, channels, filters]
        let stored = try keras.expectWeights(
            useBias ? [("kernel", kernelShape), ("bias", [filters])] : [("kernel", kernelShape)])
        return Convolution(
            kernelHeight: kernel.0, kernelWidth: kernel.1, strideY: strides.0, strideX: strides.1, padding: padding,
            inputChannels: channels, filters: filters, kernel: stored[0].values, bias: useBias ? stored[1].values : nil,
            activation: activation)
    }

    /// The output on the Keras layer's input, or the error of a kernel larger than the input.
    func outputShape(_ keras: KerasLayerBuilder) throws(KerasModelError.Reason) -> [Int] {
        guard let shape = outputShape(height: keras.inputShape[0], width: keras.inputShape[1]) else {
            throw keras.inputError("an image at least \(kernelHeight)×\(kernelWidth)")
        }
        return shape
    }

    // MARK: - Float

    public func forward(_ input: Tensor, _ layer: Layer, recording: Bool) -> LayerTrace {
        let linear = convolve(input, outputShape: [input.shape[0]] + layer.outputShape)
        guard activation != .none else { return LayerTrace(name: layer.name, output: linear) }
        return LayerTrace(name: layer.name, output: activation.apply(linear), preActivation: recording ? linear : nil)
    }

    /// Per image, im2col then one `cblas_sgemm`: `[Ho·Wo, kh·kw·C] × [kh·kw·C, F]`; the Keras kernel
    /// `[kh][kw][C][F]` is already the right-hand matrix. One product per image, not per batch, so
    /// that an image's result does not depend on the batch it is in (OpenBLAS's rounding does
    /// depend on the matrix height).
    func convolve(_ input: Tensor, outputShape: [Int]) -> Tensor {
        let (batch, height, width, channels) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let (outputHeight, outputWidth, filters) = (outputShape[1], outputShape[2], outputShape[3])
        let (top, left) = leadingPadding(height: height, width: width)
        let patch = kernelHeight * kernelWidth * channels
        let rows = outputHeight * outputWidth

        var output = [Float](repeating: 0, count: batch * rows * filters)
        if let bias {
            for row in 0..<batch * rows { output.replaceSubrange(row * filters..<(row + 1) * filters, with: bias) }
        }
        var columns = [Float](repeating: 0, count: rows * patch)
        input.values.withUnsafeBufferPointer { source in
            for image in 0..<batch {
                let imageBase = image * height * width * channels
                columns.withUnsafeMutableBufferPointer { target in
                    var column = 0
                    for y in 0..<outputHeight {
                        for x in 0..<outputWidth {
                            for ky in 0..<kernelHeight {
                                let inputY = y * strideY + ky - top
                                for kx in 0..<kernelWidth {
                                    let inputX = x * strideX + kx - left
                                    let inside = inputY >= 0 && inputY < height && inputX >= 0 && inputX < width
                                    let start = imageBase + (inputY * width + inputX) * channels
                                    for channel in 0..<channels {
                                        target[column + channel] = inside ? source[start + channel] : 0
                                    }
                                    column += channels
                                }
                            }
                        }
                    }
                }
                output.withUnsafeMutableBufferPointer { result in
                    cblas_sgemm(
                        CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(filters), Int32(patch), 1,
                        columns, Int32(patch), kernel, Int32(filters), 1,
                        result.baseAddress! + image * rows * filters, Int32(filters))
                }
            }
        }
        return Tensor(shape: outputShape, values: output)
    }

    // MARK: - Quantization

    /// The default scheme calibrates a convolution followed by a ReLU layer on the ReLU's output:
    /// its negative values become zeros anyway, so they need not widen the range.
    public func quantize(_ context: QuantizationContext) -> (kind: any QuantizedLayerKind, outputFrac: Int) {
        var range = context.statistics(.output)
        if context.scheme.usesRules, context.nextLayer?.kind is ReLU {
            range = context.statistics(.output, ofNextLayer: true)
        }
        let quantized = quantize(context, outputFrac: context.activationFormat(range))
        return (quantized, quantized.outputFrac)
    }

    /// The int8 convolution on the context's layer input, its output in `outputFrac` (or the
    /// accumulator's, if that is coarser).
    func quantize(_ context: QuantizationContext, outputFrac: Int) -> QuantizedConvolution {
        let (height, width) = (context.layer.inputShape[0], context.layer.inputShape[1])
        let weightFrac = context.weightFormat(kernel)
        let accumulatorFrac = context.inputFrac + weightFrac
        let biasFrac = context.biasFormat(bias ?? [], accumulatorFrac: accumulatorFrac)
        let padding = leadingPadding(height: height, width: width)
        let grid = outputShape(height: height, width: width) ?? [1, 1, filters]
        let output = min(outputFrac, accumulatorFrac)
        let filterValues = ohwi
        let window = filterValues.count / max(filters, 1)
        let filterFracs = context.filterFormats(
            filterValues, groups: filters, layerFormat: weightFrac, outputFrac: output,
            biasFrac: bias == nil ? nil : biasFrac, window: window)
        var weights: [Int8] = []
        weights.reserveCapacity(filterValues.count)
        for filter in 0..<filters {
            let format = QFormat(fractionalBits: filterFracs?[filter] ?? weightFrac)
            weights += format.quantize(Array(filterValues[filter * window..<(filter + 1) * window]))
        }
        return QuantizedConvolution(
            kernelHeight: kernelHeight, kernelWidth: kernelWidth, strideY: strideY, strideX: strideX,
            padTop: padding.top, padLeft: padding.left, outputHeight: grid[0], outputWidth: grid[1],
            inputChannels: inputChannels, filters: filters, weights: weights,
            bias: bias.map { QFormat(fractionalBits: biasFrac).quantize($0) }, inputFrac: context.inputFrac,
            weightFrac: weightFrac, weightFracs: filterFracs.map { $0.map { Int8($0) } }, biasFrac: biasFrac,
            outputFrac: output, activation: activation.quantized)
    }

    /// Keras's `[kh][kw][C][F]` kernel as the C kernels' `[F][kh][kw][C]`.
    var ohwi: [Float] {
        let taps = kernelHeight * kernelWidth * inputChannels
        var reordered = [Float](repeating: 0, count: kernel.count)
        for tap in 0..<taps {
            for filter in 0..<filters {
                reordered[filter * taps + tap] = kernel[tap * filters + filter]
            }
        }
        return reordered
    }
}
