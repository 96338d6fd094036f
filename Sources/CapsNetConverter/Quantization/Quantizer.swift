/// Why a model could not be quantized.
public enum QuantizationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The calibration set cannot be used with the model.
    case calibrationData(DatasetError)
    /// A layer kind the float reference runs has no int8 kernel yet.
    case noInt8Kernel(layer: String, className: String)
    /// A layer's shape is one its int8 kernel does not take.
    case unsupportedShape(layer: String, reason: String)
    /// A calibration image holds NaN or an infinity.
    case nonFiniteCalibration(dataset: String, image: Int)
    /// The float model produced NaN or an infinity in a tensor on the calibration set.
    case nonFiniteTensor(layer: String, tensor: String)
    /// A candidate of the format search could not be run.
    case search(String)

    public var description: String {
        switch self {
        case .calibrationData(let error): "calibration: \(error)"
        case .noInt8Kernel(let layer, let className):
            "layer '\(layer)' (\(className)) has no int8 kernel yet: the float reference runs it (inspect, eval, "
                + "bench), convert cannot"
        case .unsupportedShape(let layer, let reason): "layer '\(layer)': \(reason)"
        case .nonFiniteCalibration(let dataset, let image):
            "\(dataset): calibration image \(image) holds NaN or an infinity"
        case .nonFiniteTensor(let layer, let tensor):
            "layer '\(layer)': the float model's \(tensor) holds NaN or an infinity on the calibration set"
        case .search(let reason): "format search: \(reason)"
        }
    }
}

/// Post-training quantization: runs the float reference over a calibration set, records the range
/// of every tensor the int8 pipeline stores, chooses a format per tensor, and quantizes the
/// weights and biases (round half up, saturate).
///
/// The `rules` scheme differs from `reference` in three ways:
/// - an activation's format minimizes the mean squared error over the calibration set, estimated
///   from a histogram of magnitudes, among the format that saturates nothing and up to three bits
///   finer; the rare largest values are clipped when that costs less than coarser steps for all;
/// - weights get the format with the least squared error the same way, on their exact values;
/// - a convolution followed by a ReLU is calibrated on the rectified output: its negative values
///   become zeros anyway, so they need not widen the range.
///
/// The `search` scheme starts from the rules' formats and moves those that bring the int8 engine's
/// outputs on the calibration images closer to float's (``FormatSearch``).
public struct Quantizer: Sendable {
    public var scheme: QuantizationScheme
    /// The time the `search` scheme may spend trying formats (``FormatSearch``).
    public var searchSeconds: Double
    /// The time ``run(_:calibration:batchSize:progress:)`` may spend measuring every format's
    /// one-bit neighbours (``FormatSensitivity``: about two model runs on the calibration images per
    /// format, the last layers' first); 0 measures none.
    public var sensitivitySeconds: Double
    /// Whether a convolution's filters get a format each (the rules' schemes; `reference` is the
    /// paper's one format per layer): the rule's format on each filter's own values, never coarser
    /// than the layer's, at one shift per output channel in the kernels, where that halves the
    /// layer's weight error. Off by default: on the trained models of the README it raised every
    /// convolution's SQNR but not the agreement with float (the README's measurements).
    public var perFilterWeights: Bool
    /// The width of the dynamic-routing layers' predictions and couplings: with `.q15` the
    /// predictions' format is the 8-bit rule's with eight more fractional bits (the same range).
    public var routingPrecision: RoutingPrecision

    public init(
        scheme: QuantizationScheme = .rules, searchSeconds: Double = 30, sensitivitySeconds: Double = 0,
        perFilterWeights: Bool = false, routingPrecision: RoutingPrecision = .q7
    ) {
        self.scheme = scheme
        self.searchSeconds = searchSeconds
        self.sensitivitySeconds = sensitivitySeconds
        self.perFilterWeights = perFilterWeights
        self.routingPrecision = routingPrecision
    }

    /// What `capsnet convert` runs by default, and what won across the trained models of the README
    /// (its table of schemes): the search (20 s) from the rules with 16-bit routing, the only choice
    /// that kept at least 99.8% agreement with float on every model of the check set and 99.9% on
    /// the paper's MNIST model. `init()`'s defaults are the rules with 8-bit routing: no time
    /// budget, the same formats on every machine, half the routing RAM.
    public static let recommended = Quantizer(
        scheme: .search, searchSeconds: 20, sensitivitySeconds: 30, routingPrecision: .q15)

    /// A quantized model, what the format search did for it (`search` scheme only), and how
    /// sensitive it is to each format (when measured).
    public struct Result: Sendable {
        public var model: QuantizedModel
        public var search: FormatSearchSummary?
        public var sensitivity: FormatSensitivity?

        init(model: QuantizedModel, search: FormatSearchSummary? = nil, sensitivity: FormatSensitivity? = nil) {
            (self.model, self.search, self.sensitivity) = (model, search, sensitivity)
        }
    }

    /// Quantizes `model`, calibrating on `calibration` in batches of `batchSize`; `progress` is
    /// told how many images are done after each batch. Layers a neighbour can absorb are folded
    /// first (``CapsNetModel/folded()``).
    public func quantize(
        _ model: CapsNetModel, calibration: Dataset, batchSize: Int = 100, progress: (Int) -> Void = { _ in }
    ) throws(QuantizationError) -> QuantizedModel {
        try run(model, calibration: calibration, batchSize: batchSize, progress: progress).model
    }

    /// ``quantize(_:calibration:batchSize:progress:)``, with the search's summary.
    public func run(
        _ model: CapsNetModel, calibration: Dataset, batchSize: Int = 100, progress: (Int) -> Void = { _ in }
    ) throws(QuantizationError) -> Result {
        let folded = model.folded().model
        let statistics = try calibrate(folded, calibration, batchSize: max(batchSize, 1), progress: progress)
        let choices = FormatChoices()
        let rules = try build(folded, statistics, choices: choices)
        let measuresSensitivity = sensitivitySeconds > 0
        guard scheme == .search || measuresSensitivity else { return Result(model: rules) }
        // The calibration images, already checked by calibrate, and the float model's outputs on them.
        do {
            let images = try calibration.images(for: folded)
            let float = try FloatReference(folded).outputs(images)
            let judge = try FormatSearch.Judge(images: images, float: float, start: rules)
            let buildWith = { (overrides: [FormatKey: Int]) throws(QuantizationError) in
                try build(folded, statistics, overrides: overrides)
            }
            let names = { (key: FormatKey) in
                (key.layer < 0 ? "input" : folded.layers[key.layer].name, key.site.description)
            }
            var result = Result(model: rules)
            var formats = choices.formats
            if scheme == .search {
                let search = FormatSearch(budget: .milliseconds(Int64(max(searchSeconds, 0) * 1000)))
                let (best, overrides, summary) = try search.run(
                    judge: judge, start: choices.formats, order: choices.order, build: buildWith, names: names)
                (result.model, result.search) = (best, summary)
                formats.merge(overrides) { $1 }
            }
            if measuresSensitivity {
                result.sensitivity = try FormatSensitivity.measure(
                    judge: judge, formats: formats, order: choices.order, statistics: choices.statistics,
                    budget: .milliseconds(Int64(sensitivitySeconds * 1000)), build: buildWith, names: names)
            }
            return result
        } catch let error as QuantizationError {
            throw error
        } catch {
            throw .search(String(describing: error))
        }
    }

    // MARK: - Calibration

    /// Statistics of every tensor the layer kinds expose for calibration.
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
        for start in stride(from: 0, to: dataset.count, by: batchSize) {
            let batch = images.batch(start..<min(start + batchSize, dataset.count))
            // The batch has the model's shape, checked above.
            guard let trace = try? reference.trace(batch) else { break }
            statistics.tensors[.input, default: TensorStatistics()].add(trace.input.values)
            for (index, layer) in trace.layers.enumerated() {
                for calibrated in model.layers[index].kind.calibrationTensors(layer) {
                    let key = CalibrationKey.layer(index, calibrated.role)
                    statistics.tensors[key, default: TensorStatistics()].add(calibrated.tensor.values)
                    // Only the default scheme looks at what squash makes of its inputs.
                    if scheme.usesRules, let squash = calibrated.feedsSquash,
                        let dimension = calibrated.tensor.shape.last
                    {
                        statistics.squashInputs[key, default: SquashStatistics(dimension: dimension, squash: squash)]
                            .add(calibrated.tensor.values)
                    }
                }
            }
            progress(min(start + batchSize, dataset.count))
        }
        for (key, tensor) in statistics.tensors where tensor.hasNaN {
            switch key {
            case .input: throw .nonFiniteTensor(layer: "input", tensor: "input")
            case .layer(let index, let role): throw .nonFiniteTensor(layer: model.layers[index].name, tensor: "\(role)")
            }
        }
        return statistics
    }

    // MARK: - Formats

    /// Each layer quantized by its kind, on the format of the layer before it; `overrides` replace
    /// the rules' formats, and `choices` records the rules' formats as they are chosen.
    private func build(
        _ model: CapsNetModel, _ statistics: Statistics, overrides: [FormatKey: Int] = [:],
        choices: FormatChoices? = nil
    ) throws(QuantizationError) -> QuantizedModel {
        let input = QuantizationContext(
            scheme: scheme, model: model, index: -1, inputFrac: 0, statistics: statistics, overrides: overrides,
            choices: choices)
        let inputFrac = input.activationFormat(statistics.tensors[.input])
        var frac = inputFrac
        var layers: [QuantizedLayer] = []
        for (index, layer) in model.layers.enumerated() {
            var context = QuantizationContext(
                scheme: scheme, model: model, index: index, inputFrac: frac, statistics: statistics,
                overrides: overrides, choices: choices)
            context.perFilterWeights = perFilterWeights
            context.routingPrecision = routingPrecision
            let (kind, outputFrac) = try layer.kind.quantize(context)
            frac = outputFrac
            layers.append(
                QuantizedLayer(
                    name: layer.name, className: layer.className, kind: kind, inputShape: layer.inputShape,
                    outputShape: layer.outputShape, outputFrac: outputFrac))
        }
        return QuantizedModel(
            name: model.name, scheme: scheme, inputShape: model.inputShape, inputFrac: inputFrac, layers: layers)
    }
}
