/// A CapsNet quantized to int8 power-of-two fixed point: every tensor's format (its fractional
/// bits) and the int8 weights, laid out as the C kernels take them.
public struct QuantizedModel: Sendable, Equatable {
    public var name: String
    /// The quantization scheme that chose the formats.
    public var scheme: QuantizationScheme
    /// The shape of one input image, `[H, W, C]`.
    public var inputShape: [Int]
    /// The input image's fractional bits.
    public var inputFrac: Int
    public var layers: [QuantizedLayer]

    public init(name: String, scheme: QuantizationScheme, inputShape: [Int], inputFrac: Int, layers: [QuantizedLayer]) {
        self.name = name
        self.scheme = scheme
        self.inputShape = inputShape
        self.inputFrac = inputFrac
        self.layers = layers
    }

    /// The shape of one output.
    public var outputShape: [Int] { layers.last?.outputShape ?? inputShape }
    /// The output's fractional bits.
    public var outputFrac: Int { layers.last?.outputFrac ?? inputFrac }

    /// The fractional bits of layer `index`'s input: the model's input or the previous output.
    public func inputFrac(ofLayer index: Int) -> Int { index == 0 ? inputFrac : layers[index - 1].outputFrac }

    /// Bytes of constant data a firmware image holds: what the export emits as `static const`
    /// (weights, biases and every parameter struct), counted for a 32-bit core.
    public var flashBytes: Int { layers.indices.map { flashBytes(ofLayer: $0) }.reduce(0, +) }

    /// Layer `index`'s share of `flashBytes`.
    public func flashBytes(ofLayer index: Int) -> Int {
        let context = LoweringContext(id: "l\(index)", inputFrac: inputFrac(ofLayer: index), routing: .keepPredictions)
        return layers[index].kind.lower(layers[index], context).constants.map(\.flashBytes).reduce(0, +)
    }
}

/// How formats are chosen from calibration data.
public enum QuantizationScheme: String, Sendable, CaseIterable, Codable {
    /// The published reference's rule (the QuantizationSchemes article): `frac = 7 - ceil(log2 max|x|)`, raised
    /// while `round(max|x| * 2^frac) <= 128`, on min/max ranges, every layer output as Keras stores it.
    case reference
    /// This project's rules, one per kind of tensor: see `Quantizer`.
    case rules
    /// The rules as the start, then each format tried a bit finer and coarser and kept where the
    /// int8 engine's outputs on the calibration images come closer to float: see `FormatSearch`.
    case search

    /// Whether the formats start from this project's rules (every scheme but `reference`).
    public var usesRules: Bool { self != .reference }

    /// Also reads `default`, the name of `rules` in files written before `search` existed.
    public init?(rawValue: String) {
        switch rawValue {
        case "reference": self = .reference
        case "rules", "default": self = .rules
        case "search": self = .search
        default: return nil
        }
    }
}

/// One quantized layer: what every kind has (names, shapes, the output format) and its kind.
public struct QuantizedLayer: Sendable, Equatable {
    public var name: String
    /// The Keras class it was loaded from.
    public var className: String
    /// What the layer computes, with its formats and int8 weights.
    public var kind: any QuantizedLayerKind
    public var inputShape: [Int]
    public var outputShape: [Int]
    /// The output's fractional bits.
    public var outputFrac: Int

    public init(
        name: String, className: String, kind: any QuantizedLayerKind, inputShape: [Int], outputShape: [Int],
        outputFrac: Int
    ) {
        self.name = name
        self.className = className
        self.kind = kind
        self.inputShape = inputShape
        self.outputShape = outputShape
        self.outputFrac = outputFrac
    }

    public static func == (lhs: QuantizedLayer, rhs: QuantizedLayer) -> Bool {
        lhs.name == rhs.name && lhs.className == rhs.className && lhs.kind.isEqual(to: rhs.kind)
            && lhs.inputShape == rhs.inputShape && lhs.outputShape == rhs.outputShape
            && lhs.outputFrac == rhs.outputFrac
    }

    /// Multiply-accumulates of one inference, counted as the float model's `Layer.macs` counts them.
    public var macs: Int { kind.macs(self) }

    /// The C function that runs the layer, for messages.
    public var kernelName: String { type(of: kind).kernelName }

    /// The values of the input and of the output.
    var inputCount: Int { inputShape.reduce(1, *) }
    var outputCount: Int { outputShape.reduce(1, *) }
}
