/// A trained CapsNet as a chain of layers with their shapes and float32 weights.
///
/// Shapes leave out the batch axis and are channels-last: an image is `[H, W, C]`, a set of
/// capsules `[count, dimension]`, the class lengths `[classes]`.
public struct CapsNetModel: Sendable, Equatable {
    public var name: String
    /// The shape of one input image, `[H, W, C]`.
    public var inputShape: [Int]
    public var layers: [Layer]
    /// The layers of the Keras model that are not on the path from the image input to the class
    /// lengths (a label input, a `Mask`, a decoder, other outputs), as `name (Class)`.
    public var leftOut: [String]

    public init(name: String, inputShape: [Int], layers: [Layer], leftOut: [String] = []) {
        self.name = name
        self.inputShape = inputShape
        self.layers = layers
        self.leftOut = leftOut
    }

    /// One line on what was left out of the Keras model, for the commands to print.
    public var leftOutNote: String {
        "Left out, as not on the path from the image input to the class lengths: " + leftOut.joined(separator: ", ") + "."
    }

    /// The shape of one output, `[classes]` for a model that ends in `Length`.
    public var outputShape: [Int] { layers.last?.outputShape ?? inputShape }

    /// The model as the quantizer works on it: every layer whose work a neighbour can do exactly
    /// (``LayerKind/fold(_:at:)``: a batch normalization beside a convolution) folded, with one
    /// note per layer that could fold, saying whether it did. Layer indices are unchanged: a folded
    /// layer stays, doing nothing.
    public func folded() -> (model: CapsNetModel, notes: [String]) {
        var model = self
        var notes: [String] = []
        for index in layers.indices {
            switch model.layers[index].kind.fold(model, at: index) {
            case .folded(let rewritten, let note):
                model = rewritten
                notes.append(note)
            case .kept(let note): notes.append(note)
            case nil: break
            }
        }
        return (model, notes)
    }
}

/// One layer of the chain: what every kind has (names, shapes) and its kind.
public struct Layer: Sendable, Equatable {
    /// The layer's name in the Keras model.
    public var name: String
    /// The Keras class it was loaded from (`Conv2D`, `PrimaryCapsule`, `Dropout`, ...).
    public var className: String
    /// What the layer computes at inference, with its weights.
    public var kind: any LayerKind
    public var inputShape: [Int]
    public var outputShape: [Int]

    public init(name: String, className: String, kind: any LayerKind, inputShape: [Int], outputShape: [Int]) {
        self.name = name
        self.className = className
        self.kind = kind
        self.inputShape = inputShape
        self.outputShape = outputShape
    }

    public static func == (lhs: Layer, rhs: Layer) -> Bool {
        lhs.name == rhs.name && lhs.className == rhs.className && lhs.kind.isEqual(to: rhs.kind)
            && lhs.inputShape == rhs.inputShape && lhs.outputShape == rhs.outputShape
    }

    /// Trained values: weights and biases.
    public var parameterCount: Int { kind.parameterCount }

    /// Multiply-accumulates of one inference: the convolutions, the prediction vectors and the
    /// routing products (weighted sums and agreements); squash, softmax and lengths are not counted.
    public var macs: Int { kind.macs(self) }
}

/// A kind of layer on the converter's side: how Keras layers map to it, its float32 computation
/// (and the tensors it exposes for calibration), and how it is quantized into its runtime kind
/// (`QuantizedLayerKind`, which holds everything the int8 side does with it).
///
/// The Keras loader, the float reference and the quantizer only go through this interface. A new
/// kind is one conforming type in `Layers/` and one line in ``LayerKinds/all``.
public protocol LayerKind: Sendable, Equatable {
    /// The Keras classes it is loaded from.
    static var kerasClassNames: [String] { get }
    /// The kind of a Keras layer of one of those classes, checked attribute by attribute and
    /// weight by weight, and its output shape. It may be another kind: a linear `Activation` is a
    /// reshape.
    static func load(_ keras: KerasLayerBuilder) throws(KerasModelError.Reason) -> (kind: any LayerKind, outputShape: [Int])

    /// Whether a Keras layer of this kind stores weights, as `load_weights` counts them.
    static var storesWeights: Bool { get }

    /// Trained values: weights and biases.
    var parameterCount: Int { get }
    /// Multiply-accumulates of one inference.
    func macs(_ layer: Layer) -> Int
    /// The float32 output of a batch `[N] + layer.inputShape`; with `recording`, the intermediate
    /// tensors too.
    func forward(_ input: Tensor, _ layer: Layer, recording: Bool) -> LayerTrace
    /// The tensors of a recorded trace whose ranges the quantizer needs.
    func calibrationTensors(_ trace: LayerTrace) -> [CalibrationTensor]
    /// The runtime kind with formats chosen from the calibration statistics, and its output format;
    /// or why the layer has no int8 form.
    func quantize(_ context: QuantizationContext) throws(QuantizationError) -> (kind: any QuantizedLayerKind, outputFrac: Int)
    /// The model, in which this layer is layer `index`, rewritten so that a neighbour does this
    /// layer's work exactly and this layer none, or why not; nil for a kind that never folds.
    func fold(_ model: CapsNetModel, at index: Int) -> LayerFold?
}

extension LayerKind {
    /// Whether `other` is the same kind with the same values.
    public func isEqual(to other: any LayerKind) -> Bool { (other as? Self) == self }

    public var parameterCount: Int { 0 }

    public static var storesWeights: Bool { false }

    public func macs(_ layer: Layer) -> Int { 0 }

    public func fold(_ model: CapsNetModel, at index: Int) -> LayerFold? { nil }

    /// The output, and the tensor before the activation where there is one.
    public func calibrationTensors(_ trace: LayerTrace) -> [CalibrationTensor] {
        [CalibrationTensor(.output, trace.output)] + (trace.preActivation.map { [CalibrationTensor(.preActivation, $0)] } ?? [])
    }
}

/// The registry of layer kinds: the one place that lists them.
public enum LayerKinds {
    public static let all: [any LayerKind.Type] = [
        Convolution.self, ReLU.self, PrimaryCapsule.self, Capsule.self, Length.self, Reshape.self, LeakyReLU.self,
        BatchNormalization.self, Squash.self, DepthwisePrimaryCapsule.self, SelfAttentionCapsule.self,
        InstanceNormalization.self,
    ]

    /// The Keras class of a model's input, which is not a layer of the chain.
    static let inputLayerClassName = "InputLayer"

    /// Every Keras class the loader reads.
    static var supportedClassNames: [String] { [inputLayerClassName] + all.flatMap { $0.kerasClassNames } }

    /// The kind that loads Keras class `className`.
    static func kind(kerasClass className: String) -> (any LayerKind.Type)? {
        all.first { $0.kerasClassNames.contains(className) }
    }
}
