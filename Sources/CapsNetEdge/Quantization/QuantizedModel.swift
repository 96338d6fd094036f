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

    /// Bytes of constant data a firmware image holds: weights, biases, and each layer's parameters
    /// as the exported C structs store them (4-byte integers).
    public var flashBytes: Int { layers.map(\.flashBytes).reduce(0, +) }
}

/// How formats are chosen from calibration data.
public enum QuantizationScheme: String, Sendable, CaseIterable, Codable {
    /// The published reference's rule (DESIGN section 3): `frac = 7 - ceil(log2 max|x|)`, raised
    /// while `round(max|x| * 2^frac) <= 128`, on min/max ranges, every layer output as Keras stores it.
    case reference
    /// This project's scheme: see `Quantizer`.
    case `default`
}

/// One quantized layer.
public struct QuantizedLayer: Sendable, Equatable {
    public var name: String
    public var className: String
    public var operation: QuantizedOperation
    public var inputShape: [Int]
    public var outputShape: [Int]
    /// The output's fractional bits.
    public var outputFrac: Int

    public init(
        name: String, className: String, operation: QuantizedOperation, inputShape: [Int], outputShape: [Int],
        outputFrac: Int
    ) {
        self.name = name
        self.className = className
        self.operation = operation
        self.inputShape = inputShape
        self.outputShape = outputShape
        self.outputFrac = outputFrac
    }

    /// Multiply-accumulates of one inference, counted as `Layer.macs` counts them.
    public var macs: Int {
        switch operation {
        case .convolution(let convolution): convolution.macs
        case .primaryCapsule(let primary): primary.convolution.macs
        case .capsule(let capsule):
            capsule.weights.count + (2 * capsule.iterations.count - 1) * capsule.outputs * capsule.inputs
                * capsule.dimension
        case .relu, .length, .reshape: 0
        }
    }

    var flashBytes: Int {
        switch operation {
        case .convolution(let convolution): convolution.flashBytes
        case .primaryCapsule(let primary): primary.convolution.flashBytes + 2 * 4
        case .capsule(let capsule): capsule.weights.count + (4 + 4 * capsule.iterations.count) * 4
        case .relu, .length, .reshape: 4 * 4
        }
    }
}

/// What a quantized layer computes, with the formats its kernel takes.
public enum QuantizedOperation: Sendable, Equatable {
    /// `capsnet_conv_hwc_q7`, then `capsnet_relu_q7` in place if `appliesReLU`.
    case convolution(QuantizedConvolution)
    /// `capsnet_relu_q7` in place; the format is unchanged.
    case relu
    /// `capsnet_primary_capsule_q7`.
    case primaryCapsule(QuantizedPrimaryCapsule)
    /// `capsnet_capsule_layer_q7`.
    case capsule(QuantizedCapsule)
    /// `capsnet_capsule_length_q7`.
    case length
    /// The same bytes under a new shape.
    case reshape
}

public struct QuantizedConvolution: Sendable, Equatable {
    public var kernelHeight: Int
    public var kernelWidth: Int
    public var strideY: Int
    public var strideX: Int
    public var padTop: Int
    public var padLeft: Int
    public var outputHeight: Int
    public var outputWidth: Int
    public var inputChannels: Int
    public var filters: Int
    /// Filters in OHWI order, `[filters][kernelHeight][kernelWidth][inputChannels]`.
    public var weights: [Int8]
    public var bias: [Int8]?
    public var inputFrac: Int
    public var weightFrac: Int
    public var biasFrac: Int
    /// The convolution's own output format (before squash, for primary capsules).
    public var outputFrac: Int
    public var appliesReLU: Bool

    var flashBytes: Int { weights.count + (bias?.count ?? 0) + 12 * 4 }

    var macs: Int { outputHeight * outputWidth * filters * kernelHeight * kernelWidth * inputChannels }
}

public struct QuantizedPrimaryCapsule: Sendable, Equatable {
    public var convolution: QuantizedConvolution
    public var capsuleDimension: Int
}

public struct QuantizedCapsule: Sendable, Equatable {
    public var outputs: Int
    public var dimension: Int
    public var inputs: Int
    public var inputDimension: Int
    /// `W[J][I][D][Din]`.
    public var weights: [Int8]
    public var inputFrac: Int
    public var weightFrac: Int
    public var predictionFrac: Int
    /// One entry per routing iteration.
    public var iterations: [RoutingFormats]
}

/// The formats of one routing iteration (see `capsnet_routing_formats`).
public struct RoutingFormats: Sendable, Equatable {
    public var logitFrac: Int
    public var sumFrac: Int
    public var outputFrac: Int
    public var agreementFrac: Int

    public init(logitFrac: Int, sumFrac: Int, outputFrac: Int, agreementFrac: Int) {
        self.logitFrac = logitFrac
        self.sumFrac = sumFrac
        self.outputFrac = outputFrac
        self.agreementFrac = agreementFrac
    }
}

extension RoutingFormats {
    var cFormats: capsnet_routing_formats {
        capsnet_routing_formats(
            logit_frac: Int32(logitFrac), sum_frac: Int32(sumFrac), output_frac: Int32(outputFrac),
            agreement_frac: Int32(agreementFrac))
    }
}
