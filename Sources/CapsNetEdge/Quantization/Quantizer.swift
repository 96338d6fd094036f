/// Why a model could not be quantized.
public enum QuantizationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The calibration set cannot be used with the model.
    case calibrationData(DatasetError)
    /// A calibration image holds NaN or an infinity.
    case nonFiniteCalibration(dataset: String, image: Int)
    /// The float model produced NaN or an infinity in a tensor on the calibration set.
    case nonFiniteTensor(layer: String, tensor: String)

    public var description: String {
        switch self {
        case .calibrationData(let error): "calibration: \(error)"
        case .nonFiniteCalibration(let dataset, let image):
            "\(dataset): calibration image \(image) holds NaN or an infinity"
        case .nonFiniteTensor(let layer, let tensor):
            "layer '\(layer)': the float model's \(tensor) holds NaN or an infinity on the calibration set"
        }
    }
}

/// Post-training quantization: runs the float reference over a calibration set, records the range
/// of every tensor the int8 pipeline stores, chooses a format per tensor, and quantizes the
/// weights and biases (round half up, saturate).
///
/// The `default` scheme differs from `reference` in three ways:
/// - an activation's format minimizes the mean squared error over the calibration set, estimated
///   from a histogram of magnitudes, among the format that saturates nothing and up to three bits
///   finer; the rare largest values are clipped when that costs less than coarser steps for all;
/// - weights get the format with the least squared error the same way, on their exact values;
/// - a convolution followed by a ReLU is calibrated on the rectified output: its negative values
///   become zeros anyway, so they need not widen the range.
public struct Quantizer: Sendable {
    public var scheme: QuantizationScheme

    public init(scheme: QuantizationScheme = .default) {
        self.scheme = scheme
    }

    /// Quantizes `model`, calibrating on `calibration` in batches of `batchSize`; `progress` is
    /// told how many images are done after each batch.
    public func quantize(
        _ model: CapsNetModel, calibration: Dataset, batchSize: Int = 100, progress: (Int) -> Void = { _ in }
    ) throws(QuantizationError) -> QuantizedModel {
        let statistics = try calibrate(model, calibration, batchSize: max(batchSize, 1), progress: progress)
        return build(model, statistics)
    }

    // MARK: - Calibration

    /// Statistics per tensor, keyed as `Calibration.key` names them.
    private func calibrate(
        _ model: CapsNetModel, _ dataset: Dataset, batchSize: Int, progress: (Int) -> Void
    ) throws(QuantizationError) -> Statistics {
        let images: Tensor
        do { images = try dataset.images(for: model) } catch { throw .calibrationData(error) }
        let imageSize = model.inputShape.reduce(1, *)
        if let index = images.values.firstIndex(where: { !$0.isFinite }) {
            throw .nonFiniteCalibration(dataset: dataset.name, image: index / imageSize)
        }
        let reference = FloatReference(model)
        var statistics = Statistics()
        func record(_ key: String, _ tensor: Tensor?) {
            guard let tensor else { return }
            statistics.tensors[key, default: TensorStatistics()].add(tensor.values)
        }
        // Only the default scheme looks at what squash makes of its inputs.
        func recordSquashInput(_ key: String, _ tensor: Tensor?) {
            guard scheme == .default, let tensor, let dimension = tensor.shape.last else { return }
            statistics.squashInputs[key, default: SquashStatistics(dimension: dimension)].add(tensor.values)
        }
        for start in stride(from: 0, to: dataset.count, by: batchSize) {
            let batch = images.batch(start..<min(start + batchSize, dataset.count))
            // The batch has the model's shape, checked above.
            guard let trace = try? reference.trace(batch) else { break }
            record(Calibration.input, trace.input)
            for (index, layer) in trace.layers.enumerated() {
                record(Calibration.key(index, "output"), layer.output)
                record(Calibration.key(index, "preActivation"), layer.preActivation)
                if case .primaryCapsule = model.layers[index].operation {
                    recordSquashInput(Calibration.key(index, "preActivation"), layer.preActivation)
                }
                guard let routing = layer.routing else { continue }
                record(Calibration.key(index, "predictions"), routing.predictions)
                for (r, iteration) in routing.iterations.enumerated() {
                    record(Calibration.key(index, "logits", r), iteration.logits)
                    record(Calibration.key(index, "sums", r), iteration.preSquash)
                    recordSquashInput(Calibration.key(index, "sums", r), iteration.preSquash)
                    record(Calibration.key(index, "outputs", r), iteration.output)
                    record(Calibration.key(index, "agreement", r), iteration.agreement)
                }
            }
            progress(min(start + batchSize, dataset.count))
        }
        for (key, tensor) in statistics.tensors where tensor.hasNaN {
            let layer = Calibration.layerIndex(key).map { model.layers[$0].name } ?? "input"
            throw .nonFiniteTensor(layer: layer, tensor: Calibration.tensorName(key))
        }
        return statistics
    }

    // MARK: - Formats

    /// The format of a tensor that feeds squash: the least error after squash (default scheme).
    private func squashInputFormat(_ key: String, _ statistics: Statistics) -> Int {
        if let squash = statistics.squashInputs[key] { return squash.bestFormat }
        return activationFormat(statistics.tensors[key])
    }

    /// The format of a routing tensor: large predictions and agreements decide the routing, so the
    /// default scheme never clips them.
    private func routingFormat(_ statistics: TensorStatistics?) -> Int {
        guard let statistics else { return QFormat.supportedFractionalBits.upperBound }
        return scheme == .reference
            ? FormatRule.reference(maxAbs: statistics.maxAbs) : FormatRule.noSaturation(maxAbs: statistics.maxAbs)
    }

    private func activationFormat(_ statistics: TensorStatistics?) -> Int {
        guard let statistics else { return QFormat.supportedFractionalBits.upperBound }
        return scheme == .reference
            ? FormatRule.reference(maxAbs: statistics.maxAbs) : FormatRule.leastError(statistics)
    }

    private func weightFormat(_ values: [Float]) -> Int {
        var statistics = TensorStatistics()
        statistics.add(values)
        return scheme == .reference
            ? FormatRule.reference(maxAbs: statistics.maxAbs) : FormatRule.leastError(statistics)
    }

    private func build(_ model: CapsNetModel, _ all: Statistics) -> QuantizedModel {
        let statistics = all.tensors
        let inputFrac = activationFormat(statistics[Calibration.input])
        var frac = inputFrac
        var layers: [QuantizedLayer] = []
        for (index, layer) in model.layers.enumerated() {
            let output = statistics[Calibration.key(index, "output")]
            let operation: QuantizedOperation
            switch layer.operation {
            case .convolution(let convolution):
                // The default scheme calibrates a convolution followed by a ReLU layer on the ReLU's output.
                var range = output
                if scheme == .default, index + 1 < model.layers.count, model.layers[index + 1].operation == .relu {
                    range = statistics[Calibration.key(index + 1, "output")]
                }
                let quantized = quantize(
                    convolution, inputHeight: layer.inputShape[0], inputWidth: layer.inputShape[1], inputFrac: frac,
                    outputFrac: activationFormat(range))
                operation = .convolution(quantized)
                frac = quantized.outputFrac
            case .relu:
                operation = .relu
            case .primaryCapsule(let primary):
                let convolution = quantize(
                    primary.convolution, inputHeight: layer.inputShape[0], inputWidth: layer.inputShape[1],
                    inputFrac: frac, outputFrac: squashInputFormat(Calibration.key(index, "preActivation"), all))
                operation = .primaryCapsule(
                    QuantizedPrimaryCapsule(convolution: convolution, capsuleDimension: primary.dimension))
                frac = min(max(activationFormat(output), 0), QFormat.supportedFractionalBits.upperBound)
            case .capsule(let capsule):
                let quantized = quantize(capsule, inputFrac: frac, index: index, all)
                operation = .capsule(quantized)
                frac = quantized.iterations.last?.outputFrac ?? frac
            case .length:
                operation = .length
                frac = activationFormat(output)
            case .reshape:
                operation = .reshape
            }
            layers.append(
                QuantizedLayer(
                    name: layer.name, className: layer.className, operation: operation, inputShape: layer.inputShape,
                    outputShape: layer.outputShape, outputFrac: frac))
        }
        return QuantizedModel(
            name: model.name, scheme: scheme, inputShape: model.inputShape, inputFrac: inputFrac, layers: layers)
    }

    private func quantize(
        _ convolution: Convolution, inputHeight: Int, inputWidth: Int, inputFrac: Int, outputFrac: Int
    ) -> QuantizedConvolution {
        let weightFrac = weightFormat(convolution.kernel)
        let accumulatorFrac = inputFrac + weightFrac
        let biasFrac = min(FormatRule.reference(maxAbs: convolution.bias.map(Self.maxAbs) ?? 0), accumulatorFrac)
        let weights = QFormat(fractionalBits: weightFrac).quantize(Self.ohwi(convolution))
        let padding = convolution.leadingPadding(height: inputHeight, width: inputWidth)
        let grid = convolution.outputShape(height: inputHeight, width: inputWidth) ?? [1, 1, convolution.filters]
        return QuantizedConvolution(
            kernelHeight: convolution.kernelHeight, kernelWidth: convolution.kernelWidth, strideY: convolution.strideY,
            strideX: convolution.strideX, padTop: padding.top, padLeft: padding.left, outputHeight: grid[0],
            outputWidth: grid[1],
            inputChannels: convolution.inputChannels, filters: convolution.filters, weights: weights,
            bias: convolution.bias.map { QFormat(fractionalBits: biasFrac).quantize($0) }, inputFrac: inputFrac,
            weightFrac: weightFrac, biasFrac: biasFrac, outputFrac: min(outputFrac, accumulatorFrac),
            appliesReLU: convolution.appliesReLU)
    }

    private func quantize(
        _ capsule: Capsule, inputFrac: Int, index: Int, _ all: Statistics
    ) -> QuantizedCapsule {
        let statistics = all.tensors
        let weightFrac = weightFormat(capsule.weights)
        let predictionFrac = min(
            routingFormat(statistics[Calibration.key(index, "predictions")]), inputFrac + weightFrac)
        var iterations: [RoutingFormats] = []
        for r in 0..<capsule.routings {
            // b_0 is all zeros, so its format only has to be valid; the next logits' serves.
            let logitSource = r == 0 && capsule.routings > 1 ? 1 : r
            var logitFrac = routingFormat(statistics[Calibration.key(index, "logits", logitSource)])
            if let previous = iterations.last {
                logitFrac = min(logitFrac, max(previous.logitFrac, previous.agreementFrac))
            }
            let sumFrac = min(
                squashInputFormat(Calibration.key(index, "sums", r), all),
                Int(CAPSNET_SOFTMAX_FRAC) + predictionFrac)
            let outputFrac = min(
                max(activationFormat(statistics[Calibration.key(index, "outputs", r)]), 0),
                QFormat.supportedFractionalBits.upperBound)
            let agreementFrac =
                r + 1 < capsule.routings
                ? min(routingFormat(statistics[Calibration.key(index, "agreement", r)]), outputFrac + predictionFrac)
                : 0
            iterations.append(
                RoutingFormats(
                    logitFrac: logitFrac, sumFrac: sumFrac, outputFrac: outputFrac, agreementFrac: agreementFrac))
        }
        return QuantizedCapsule(
            outputs: capsule.outputs, dimension: capsule.dimension, inputs: capsule.inputs,
            inputDimension: capsule.inputDimension,
            weights: QFormat(fractionalBits: weightFrac).quantize(capsule.weights),
            inputFrac: inputFrac, weightFrac: weightFrac, predictionFrac: predictionFrac, iterations: iterations)
    }

    /// Keras's `[kh][kw][C][F]` kernel as the C kernels' `[F][kh][kw][C]`.
    private static func ohwi(_ convolution: Convolution) -> [Float] {
        let taps = convolution.kernelHeight * convolution.kernelWidth * convolution.inputChannels
        var reordered = [Float](repeating: 0, count: convolution.kernel.count)
        for tap in 0..<taps {
            for filter in 0..<convolution.filters {
                reordered[filter * taps + tap] = convolution.kernel[tap * convolution.filters + filter]
            }
        }
        return reordered
    }

    private static func maxAbs(_ values: [Float]) -> Float { values.map(abs).max() ?? 0 }
}

/// What calibration recorded.
struct Statistics {
    /// Ranges of every stored tensor, keyed as `Calibration.key` names them.
    var tensors: [String: TensorStatistics] = [:]
    /// For the default scheme, the squash inputs' error after squash per format.
    var squashInputs: [String: SquashStatistics] = [:]
}

/// Names of the calibrated tensors.
enum Calibration {
    static let input = "input"

    static func key(_ layer: Int, _ tensor: String, _ iteration: Int? = nil) -> String {
        iteration.map { "\(layer).\(tensor).\($0)" } ?? "\(layer).\(tensor)"
    }

    static func layerIndex(_ key: String) -> Int? { key.split(separator: ".").first.flatMap { Int($0) } }

    static func tensorName(_ key: String) -> String { key.split(separator: ".").dropFirst().joined(separator: " ") }
}
