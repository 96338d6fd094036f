/// Why a model file could not be loaded. The description names the file and, where there is one,
/// the layer, its Keras class and the attribute or weight at fault.
public struct KerasModelError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The cause; also thrown on its own inside the loader, which adds the path at the top.
    public enum Reason: Error, Equatable, Sendable {
        case fileNotFound
        /// Neither an HDF5 file (Keras `.h5`) nor a zip archive (Keras 3 `.keras`).
        case unrecognizedFormat
        /// A model in a format this tool does not read (a SavedModel, a PyTorch checkpoint, TFLite,
        /// ONNX): what it is and what to do instead.
        case foreignFormat(ForeignFormat)
        /// The container is damaged or cut short; `detail` is what the reader found.
        case damaged(detail: String)
        /// An HDF5 file with weights but no `model_config`, as `save_weights` writes: the layers
        /// with weights it holds and their shapes, for writing the `--config` that fits.
        case weightsOnly(found: [String])
        /// A weights-only file and a `--config` that do not fit each other.
        case weightsMismatch(detail: String)
        /// The configuration is not a chain of layers this tool knows how to read.
        case invalidConfig(detail: String)
        case unsupportedLayer(layer: String, className: String)
        case unsupportedAttribute(layer: String, className: String, attribute: String, value: String)
        /// A `Lambda` whose function is not recognized as one this tool runs; `function` is its name
        /// where the file records one.
        case unsupportedLambda(layer: String, function: String?)
        /// A `--squash-lambda` name that is neither the name nor the function of a `Lambda` on the
        /// path to the class lengths; `lambdas` are the names of those there are.
        case unmatchedSquashLambda(name: String, lambdas: [String])
        /// A layer's input has a shape the layer cannot take.
        case inputShape(layer: String, className: String, shape: [Int], expected: String)
        case missingWeights(layer: String, className: String, expected: [String], found: Int)
        case weightShape(layer: String, className: String, weight: String, expected: [Int], actual: [Int])
        /// A weight that is NaN, infinite or beyond ``ResourceLimits/weightMagnitude``.
        case weightValue(layer: String, className: String, weight: String, value: Float)
        /// The model's output is not class lengths: its last layer (past no-op reshapes) is not a `Length`.
        case notClassLengths(layer: String, className: String)
    }

    /// The model file.
    public let path: String
    public let reason: Reason

    public init(path: String, reason: Reason) {
        self.path = path
        self.reason = reason
    }

    public var description: String {
        let detail: String
        switch reason {
        case .fileNotFound: detail = "no such file"
        case .unrecognizedFormat:
            detail = "not a Keras model: neither an HDF5 file (.h5) nor a zip archive (.keras)"
        case .foreignFormat(let format): detail = format.message
        case .damaged(let reader): detail = "the file is truncated or damaged (\(reader))"
        case .weightsOnly(let found):
            detail =
                "holds weights only, without the model configuration"
                + (found.isEmpty ? "" : " (layers with weights: \(found.joined(separator: "; ")))")
                + ". Write the architecture from the training code with "
                + "open('model.json', 'w').write(model.to_json()) and pass --config model.json, "
                + "or save the whole model with model.save('model.keras')"
        case .weightsMismatch(let reason): detail = "the weights do not fit the configuration: \(reason)"
        case .invalidConfig(let reader): detail = "invalid model configuration: \(reader)"
        case .unsupportedLayer(let layer, let className):
            detail =
                "layer '\(layer)' is a \(className), which is not supported; supported layers: "
                + LayerKinds.supportedClassNames.joined(separator: ", ")
        case .unsupportedAttribute(let layer, let className, let attribute, let value):
            detail = "layer '\(layer)' (\(className)): \(attribute) = \(value) is not supported"
        case .unsupportedLambda(let layer, let function):
            detail =
                "layer '\(layer)' is a Lambda running \(function.map { "'\($0)'" } ?? "a function the file does not name"), "
                + "which this tool cannot run; if it is a squash over the last axis, pass --squash-lambda \(layer)"
        case .unmatchedSquashLambda(let name, let lambdas):
            detail =
                "--squash-lambda \(name) names no Lambda layer or function on the path to the class lengths; "
                + (lambdas.isEmpty ? "that path has no Lambda" : "its Lambdas: " + lambdas.joined(separator: ", "))
        case .inputShape(let layer, let className, let shape, let expected):
            detail = "layer '\(layer)' (\(className)) takes \(expected), but its input is \(shape.shapeDescription)"
        case .missingWeights(let layer, let className, let expected, let found):
            detail =
                "layer '\(layer)' (\(className)) needs \(expected.count) weight arrays "
                + "(\(expected.joined(separator: ", "))), the file has \(found)"
        case .weightValue(let layer, let className, let weight, let value):
            detail =
                "layer '\(layer)' (\(className)): the weight \(weight) holds \(value); a trained model's weights are "
                + "finite and at most \(ResourceLimits.weightMagnitude) in magnitude"
        case .notClassLengths(let layer, let className):
            detail =
                "the model ends with layer '\(layer)' (\(className)), not class lengths: the last layer must be a "
                + "Length, for its outputs to be scored as classes"
        case .weightShape(let layer, let className, let weight, let expected, let actual):
            detail =
                "layer '\(layer)' (\(className)): weight '\(weight)' is \(actual.shapeDescription), "
                + "but the configuration needs \(expected.shapeDescription)"
        }
        return "\(path): \(detail)"
    }
}

/// Model formats people try that are not Keras files.
public enum ForeignFormat: Equatable, Sendable {
    /// A directory with `saved_model.pb`, as `tf.saved_model.save` or Keras 2's `model.save(dir)` writes.
    case savedModel
    /// A zip archive holding `data.pkl` (`torch.save` since PyTorch 1.6), or a bare Python pickle
    /// (older `torch.save`).
    case pytorch
    /// A TensorFlow Lite flatbuffer (`TFL3`).
    case tflite
    /// An ONNX protobuf.
    case onnx
    /// A directory that is no model at all.
    case directory

    var message: String {
        switch self {
        case .savedModel:
            "a TensorFlow SavedModel directory; save the Keras model as .keras or .h5 (model.save(\"model.keras\"))"
        case .pytorch:
            "a PyTorch checkpoint; this tool reads Keras models (.keras, .h5): rebuild the model in Keras to convert it"
        case .tflite:
            "a TensorFlow Lite flatbuffer; convert the Keras model it came from (.keras or .h5) instead"
        case .onnx: "an ONNX model; convert the Keras model it came from (.keras or .h5) instead"
        case .directory: "a directory, not a model file"
        }
    }
}
