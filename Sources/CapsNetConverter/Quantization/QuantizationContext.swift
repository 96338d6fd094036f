import Foundation

/// A tensor a layer kind exposes for calibration, by its role in the layer.
public enum LayerTensor: Hashable, Sendable, CustomStringConvertible {
    /// The layer's output.
    case output
    /// A convolution's output before its activation; primary capsules before squash.
    case preActivation
    /// A capsule layer's prediction vectors `u_hat`.
    case predictions
    /// The logits entering routing iteration `iteration`.
    case logits(iteration: Int)
    /// The coupling coefficients of an iteration (Efficient-CapsNet's: the softmax plus its bias).
    case couplings(iteration: Int)
    /// The weighted sums of an iteration, before squash.
    case sums(iteration: Int)
    /// The squashed outputs of an iteration.
    case routedOutput(iteration: Int)
    /// The agreements an iteration adds to the logits.
    case agreement(iteration: Int)

    public var description: String {
        switch self {
        case .output: "output"
        case .preActivation: "output before its activation"
        case .predictions: "predictions"
        case .logits(let r): "logits of iteration \(r)"
        case .couplings(let r): "couplings of iteration \(r)"
        case .sums(let r): "weighted sums of iteration \(r)"
        case .routedOutput(let r): "outputs of iteration \(r)"
        case .agreement(let r): "agreements of iteration \(r)"
        }
    }
}

/// One tensor of a trace to calibrate on.
public struct CalibrationTensor: Sendable {
    public var role: LayerTensor
    public var tensor: Tensor
    /// The squash that follows it, if any: the default scheme then measures each format's error after it.
    public var feedsSquash: SquashFunction?

    public init(_ role: LayerTensor, _ tensor: Tensor, feedsSquash: SquashFunction? = nil) {
        self.role = role
        self.tensor = tensor
        self.feedsSquash = feedsSquash
    }
}

/// The squash functions of the families the converter reads.
public enum SquashFunction: Sendable {
    /// The dynamic-routing CapsNet's, `s |s| / (1 + |s|^2)`.
    case capsNet
    /// Efficient-CapsNet's, `(1 - exp(-|s|)) s / |s|`.
    case exponential

    /// The factor the squash multiplies a vector of squared norm `norm2` by.
    func scale(norm2: Double) -> Double {
        switch self {
        case .capsNet: return norm2.squareRoot() / (1 + norm2)
        case .exponential:
            let norm = norm2.squareRoot()
            return norm == 0 ? 1 : -expm1(-norm) / norm
        }
    }
}

/// Where a calibrated tensor is: the model's input, or a tensor of one layer.
enum CalibrationKey: Hashable {
    case input
    case layer(Int, LayerTensor)
}

/// A format the quantizer chooses inside a layer: one of its tensors, or its trained values.
public enum FormatSite: Hashable, Sendable, CustomStringConvertible {
    case tensor(LayerTensor)
    /// The weights (a convolution's filters, a capsule layer's matrices).
    case weights
    /// Trained values other than the weights that get a format of their own (Efficient-CapsNet's
    /// routing bias).
    case bias

    public var description: String {
        switch self {
        case .tensor(let tensor): "\(tensor)"
        case .weights: "weights"
        case .bias: "bias"
        }
    }
}

/// One format the quantizer chooses: a site of layer `layer` (-1: the model's input).
public struct FormatKey: Hashable, Sendable {
    public var layer: Int
    public var site: FormatSite
}

/// The formats the rules chose while a model was built, in the order they were chosen: what
/// `FormatSearch` starts from.
final class FormatChoices: @unchecked Sendable {
    private(set) var order: [FormatKey] = []
    private(set) var formats: [FormatKey: Int] = [:]
    /// The values each format holds (calibration ranges, or the trained values): how much any
    /// format of the site would saturate.
    private(set) var statistics: [FormatKey: TensorStatistics] = [:]

    func record(_ key: FormatKey, _ format: Int, statistics: TensorStatistics?) {
        if formats[key] == nil { order.append(key) }
        formats[key] = format
        self.statistics[key] = statistics
    }
}

/// What calibration recorded.
struct Statistics {
    /// Ranges of every stored tensor.
    var tensors: [CalibrationKey: TensorStatistics] = [:]
    /// For the default scheme, the squash inputs' error after squash per format.
    var squashInputs: [CalibrationKey: SquashStatistics] = [:]
}

/// What a layer kind's `quantize` sees: its layer, its input's format, the calibration statistics
/// of its tensors, and the scheme's rules for turning them into formats.
public struct QuantizationContext {
    public let scheme: QuantizationScheme
    let model: CapsNetModel
    /// The layer's position in the model.
    public let index: Int
    /// The fractional bits of the layer's input.
    public let inputFrac: Int
    let statistics: Statistics
    /// Formats that replace what the rules would choose (a search's candidates).
    var overrides: [FormatKey: Int] = [:]
    /// Where the rules' choices are recorded, if anywhere.
    var choices: FormatChoices?
    /// Whether convolutions give each filter a format of its own (``Quantizer/perFilterWeights``).
    var perFilterWeights = false
    /// The width of the dynamic-routing layers' predictions and couplings (``Quantizer/routingPrecision``).
    public internal(set) var routingPrecision = RoutingPrecision.q7

    init(
        scheme: QuantizationScheme, model: CapsNetModel, index: Int, inputFrac: Int, statistics: Statistics,
        overrides: [FormatKey: Int] = [:], choices: FormatChoices? = nil
    ) {
        self.scheme = scheme
        self.model = model
        self.index = index
        self.inputFrac = inputFrac
        self.statistics = statistics
        self.overrides = overrides
        self.choices = choices
    }

    /// The format of `site`, whose values `statistics` describes: an override's, or the rule's
    /// (recorded).
    private func choose(_ site: FormatSite, _ statistics: TensorStatistics?, _ rule: () -> Int) -> Int {
        let key = FormatKey(layer: index, site: site)
        if let format = overrides[key] { return format }
        let format = rule()
        choices?.record(key, format, statistics: statistics)
        return format
    }

    /// The layer being quantized.
    public var layer: Layer { model.layers[index] }
    /// The layer after it that computes something, if any: reshapes in between (and folded
    /// layers, which are reshapes) pass the values on unchanged.
    public var nextLayer: Layer? { nextLayerIndex.map { model.layers[$0] } }

    private var nextLayerIndex: Int? {
        model.layers.indices.dropFirst(index + 1).first { !(model.layers[$0].kind is Reshape) }
    }

    /// The statistics of one of this layer's tensors, or of the next layer's output.
    func statistics(_ tensor: LayerTensor, ofNextLayer next: Bool = false) -> TensorStatistics? {
        guard next else { return statistics.tensors[.layer(index, tensor)] }
        return nextLayerIndex.flatMap { statistics.tensors[.layer($0, tensor)] }
    }

    /// The format of an activation (`site`, for the search): least mean squared error (the rules)
    /// or the reference rule.
    func activationFormat(_ statistics: TensorStatistics?, site: FormatSite = .tensor(.output)) -> Int {
        choose(site, statistics) {
            guard let statistics else { return QFormat.supportedFractionalBits.upperBound }
            return scheme == .reference
                ? FormatRule.reference(maxAbs: statistics.maxAbs) : FormatRule.leastError(statistics)
        }
    }

    func activationFormat(_ tensor: LayerTensor) -> Int { activationFormat(statistics(tensor), site: .tensor(tensor)) }

    /// The format of a routing tensor: large predictions and agreements decide the routing, so the
    /// rules never clip them.
    func routingFormat(_ tensor: LayerTensor) -> Int {
        let statistics = statistics(tensor)
        return choose(.tensor(tensor), statistics) {
            guard let statistics else { return QFormat.supportedFractionalBits.upperBound }
            return scheme == .reference
                ? FormatRule.reference(maxAbs: statistics.maxAbs) : FormatRule.noSaturation(maxAbs: statistics.maxAbs)
        }
    }

    /// The format of a tensor that feeds squash: the least error after squash (the rules).
    func squashInputFormat(_ tensor: LayerTensor) -> Int {
        if let squash = statistics.squashInputs[.layer(index, tensor)] {
            return choose(.tensor(tensor), statistics(tensor)) { squash.bestFormat }
        }
        return activationFormat(tensor)
    }

    /// The format of trained values (`site`: the weights, or a bias with a format of its own).
    func weightFormat(_ values: [Float], site: FormatSite = .weights) -> Int {
        var statistics = TensorStatistics()
        statistics.add(values)
        return choose(site, statistics) {
            scheme == .reference
                ? FormatRule.reference(maxAbs: statistics.maxAbs) : FormatRule.leastError(statistics)
        }
    }

    /// Each group's format, when the quantizer gives groups of weights formats of their own
    /// (``Quantizer/perFilterWeights``, the rules' schemes): `values` split into `groups` equal runs
    /// (a convolution's filters, a capsule layer's output capsules), each run's rule format, never
    /// coarser than the layer's `layerFormat` (which the search moves), and within what the kernel
    /// takes: an output shift of at most `CAPSNET_SHIFT_MAX` into `outputFrac`, and a bias shift
    /// (from `biasFrac`) that keeps the headroom of accumulators of `window` products. Nil when the
    /// groups share one format, or when their own formats would not halve the weights' squared
    /// error: the kernel's per-group shifts buy nothing there.
    func filterFormats(
        _ values: [Float], groups: Int, layerFormat: Int, outputFrac: Int, biasFrac: Int?, window: Int
    ) -> [Int]? {
        guard perFilterWeights, scheme.usesRules, groups > 1, window > 0, values.count % groups == 0 else {
            return nil
        }
        let size = values.count / groups
        // The kernel's checks (capsnet_check_filter_formats), and the pair loops' headroom:
        // window * 2^14 + 2^(7 + bias shift) + 2^(shift - 1) within INT32_MAX.
        func fits(_ format: Int) -> Bool {
            let shift = inputFrac + format - outputFrac
            guard QFormat.supportedFractionalBits.contains(format), shift <= Int(CAPSNET_SHIFT_MAX) else { return false }
            var worst = Double(window) * 16384 + (shift > 0 ? pow(2, Double(shift - 1)) : 0)
            if let biasFrac {
                let biasShift = inputFrac + format - biasFrac
                guard biasShift <= Int(CAPSNET_SHIFT_MAX) else { return false }
                worst += pow(2, Double(7 + biasShift))
            }
            return worst <= Double(Int32.max)
        }
        var layerError = 0.0
        var filterError = 0.0
        let formats = (0..<groups).map { group -> Int in
            var statistics = TensorStatistics()
            statistics.add(Array(values[group * size..<(group + 1) * size]))
            var format = FormatRule.leastError(statistics)
            while format > layerFormat && !fits(format) { format -= 1 }
            format = max(format, layerFormat)
            layerError += statistics.meanSquaredError(frac: layerFormat)
            filterError += statistics.meanSquaredError(frac: format)
            return format
        }
        // Worth its instructions only where it at least halves the weights' squared error (3 dB).
        guard filterError <= 0.5 * layerError else { return nil }
        return formats.allSatisfy { $0 == layerFormat } ? nil : formats
    }

    /// A format for bias values that joins an accumulator in `accumulatorFrac` by a left shift.
    func biasFormat(_ values: [Float], accumulatorFrac: Int) -> Int {
        min(FormatRule.reference(maxAbs: values.map(abs).max() ?? 0), accumulatorFrac)
    }
}
