/// A trained CapsNet as a chain of layers with their shapes and float32 weights.
///
/// Shapes leave out the batch axis and are channels-last: an image is `[H, W, C]`, a set of
/// capsules `[count, dimension]`, the class lengths `[classes]`.
public struct CapsNetModel: Sendable, Equatable {
    public var name: String
    /// The shape of one input image, `[H, W, C]`.
    public var inputShape: [Int]
    public var layers: [Layer]

    public init(name: String, inputShape: [Int], layers: [Layer]) {
        self.name = name
        self.inputShape = inputShape
        self.layers = layers
    }

    /// The shape of one output, `[classes]` for a model that ends in `Length`.
    public var outputShape: [Int] { layers.last?.outputShape ?? inputShape }
}

/// One layer of the chain.
public struct Layer: Sendable, Equatable {
    /// The layer's name in the Keras model.
    public var name: String
    /// The Keras class it was loaded from (`Conv2D`, `PrimaryCapsule`, `Dropout`, ...).
    public var className: String
    public var operation: Operation
    public var inputShape: [Int]
    public var outputShape: [Int]

    public init(name: String, className: String, operation: Operation, inputShape: [Int], outputShape: [Int]) {
        self.name = name
        self.className = className
        self.operation = operation
        self.inputShape = inputShape
        self.outputShape = outputShape
    }
}

/// What a layer computes at inference.
public enum Operation: Sendable, Equatable {
    case convolution(Convolution)
    case relu
    case primaryCapsule(PrimaryCapsule)
    case capsule(Capsule)
    /// The Euclidean length of each capsule: `[J, D]` to `[J]`.
    case length
    /// A new shape for the same values in the same order (`Reshape`, `Flatten`, and `Dropout`
    /// or a linear `Activation`, which do nothing at inference).
    case reshape
}

/// A 2-D convolution over an HWC input.
public struct Convolution: Sendable, Equatable {
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
    /// Whether a ReLU is fused into the layer (`activation="relu"`).
    public var appliesReLU: Bool

    public init(
        kernelHeight: Int, kernelWidth: Int, strideY: Int, strideX: Int, padding: Padding,
        inputChannels: Int, filters: Int, kernel: [Float], bias: [Float]?, appliesReLU: Bool
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
        self.appliesReLU = appliesReLU
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

    /// Multiply-accumulates per output value.
    var macsPerOutput: Int { kernelHeight * kernelWidth * inputChannels }
}

/// A convolution whose output channels are read as capsules, then squashed.
public struct PrimaryCapsule: Sendable, Equatable {
    /// The convolution, with `capsulesPerPosition × dimension` filters.
    public var convolution: Convolution
    /// Capsules at each output position.
    public var capsulesPerPosition: Int
    /// Values per capsule.
    public var dimension: Int

    public init(convolution: Convolution, capsulesPerPosition: Int, dimension: Int) {
        self.convolution = convolution
        self.capsulesPerPosition = capsulesPerPosition
        self.dimension = dimension
    }
}

/// A capsule layer with dynamic routing (DESIGN section 2).
public struct Capsule: Sendable, Equatable {
    /// Output capsules, J.
    public var outputs: Int
    /// Values per output capsule, D.
    public var dimension: Int
    /// Input capsules, I.
    public var inputs: Int
    /// Values per input capsule, Din.
    public var inputDimension: Int
    /// Routing iterations, R ≥ 1.
    public var routings: Int
    /// The transformation matrices `W[J][I][D][Din]`.
    public var weights: [Float]

    public init(outputs: Int, dimension: Int, inputs: Int, inputDimension: Int, routings: Int, weights: [Float]) {
        self.outputs = outputs
        self.dimension = dimension
        self.inputs = inputs
        self.inputDimension = inputDimension
        self.routings = routings
        self.weights = weights
    }

    /// The weight's shape, `[J, I, D, Din]`.
    public var weightShape: [Int] { [outputs, inputs, dimension, inputDimension] }
}

extension Layer {
    /// Trained values: weights and biases.
    public var parameterCount: Int {
        switch operation {
        case .convolution(let convolution): convolution.parameterCount
        case .primaryCapsule(let primary): primary.convolution.parameterCount
        case .capsule(let capsule): capsule.weights.count
        case .relu, .length, .reshape: 0
        }
    }

    /// Multiply-accumulates of one inference: the convolutions, the prediction vectors and the
    /// routing products (weighted sums and agreements); squash, softmax and lengths are not counted.
    public var macs: Int {
        switch operation {
        case .convolution(let convolution): outputShape.reduce(1, *) * convolution.macsPerOutput
        case .primaryCapsule(let primary): outputShape.reduce(1, *) * primary.convolution.macsPerOutput
        case .capsule(let capsule):
            capsule.weights.count + (2 * capsule.routings - 1) * capsule.outputs * capsule.inputs * capsule.dimension
        case .relu, .length, .reshape: 0
        }
    }
}

extension Convolution {
    var parameterCount: Int { kernel.count + (bias?.count ?? 0) }
}
