/// One entry of a Keras model configuration's `layers` list.
struct KerasLayerConfig {
    var name: String
    var className: String
    var config: JSONValue
    /// The names of the layers feeding this one, over all its calls.
    var inbound: [String]
    /// How many times the model calls the layer.
    var callCount: Int
}

/// The parts of a Keras 2 `model_config` or Keras 3 `config.json` that the loader uses.
struct KerasModelConfig {
    var name: String
    /// The layers in execution order, each fed by the one before it.
    var layers: [KerasLayerConfig]
    /// The shape of one input, without the batch axis.
    var inputShape: [Int]

    /// Parses `json`; the error is a sentence for `KerasModelError.Reason.invalidConfig`.
    init(json: String) throws(KerasModelError.Reason) {
        guard let root = JSONValue(parsing: json) else { throw .invalidConfig(detail: "the configuration is not JSON") }
        guard let className = root["class_name"]?.string, let config = root["config"] else {
            throw .invalidConfig(detail: "no 'class_name' and 'config' at the top level")
        }
        guard ["Sequential", "Functional", "Model"].contains(className) else {
            throw .unsupportedLayer(layer: root["config"]?["name"]?.string ?? "model", className: className)
        }
        guard let entries = config["layers"]?.array, !entries.isEmpty else {
            throw .invalidConfig(detail: "the model has no layers")
        }
        name = config["name"]?.string ?? "model"
        layers = try entries.enumerated().map { (index, entry) throws(KerasModelError.Reason) in
            try KerasLayerConfig(entry, index: index)
        }
        inputShape = try Self.inputShape(layers, built: config["build_input_shape"])
        layers.removeAll { $0.className == LayerKinds.inputLayerClassName }
        if className != "Sequential" { try checkChain() }
    }

    /// The input's shape from the `InputLayer`, or else from the first layer's `batch_input_shape`
    /// (Keras 2 Sequential) or the model's `build_input_shape` (Keras 3 Sequential built by hand).
    private static func inputShape(
        _ layers: [KerasLayerConfig], built: JSONValue?
    ) throws(KerasModelError.Reason)
        -> [Int]
    {
        let inputs = layers.filter { $0.className == LayerKinds.inputLayerClassName }
        guard inputs.count <= 1 else {
            throw .invalidConfig(
                detail: "the model has \(inputs.count) inputs; only single-input chains are supported")
        }
        let source = inputs.first ?? layers[0]
        let declared = source.config["batch_shape"] ?? source.config["batch_input_shape"] ?? built
        guard let dimensions = declared?.array, dimensions.count >= 2 else {
            throw .invalidConfig(detail: "the input shape is not declared (no InputLayer with 'batch_shape')")
        }
        let shape = dimensions.dropFirst().compactMap(\.int)
        guard shape.count == dimensions.count - 1, shape.allSatisfy({ $0 > 0 }) else {
            throw .invalidConfig(detail: "the input shape \(declared?.text ?? "") has unknown dimensions")
        }
        return shape
    }

    /// A Functional model must be a chain: each layer called once, on the output of the one before.
    private func checkChain() throws(KerasModelError.Reason) {
        var previous: String?
        for layer in layers {
            guard layer.callCount == 1 else {
                throw .invalidConfig(
                    detail:
                        "layer '\(layer.name)' is called \(layer.callCount) times; only a chain of layers is supported")
            }
            guard layer.inbound.count == 1 else {
                throw .invalidConfig(
                    detail:
                        "layer '\(layer.name)' has \(layer.inbound.count) inputs; only a chain of layers is supported")
            }
            if let previous, layer.inbound[0] != previous {
                throw .invalidConfig(
                    detail:
                        "layer '\(layer.name)' reads '\(layer.inbound[0])', not the layer before it ('\(previous)'); "
                        + "only a chain of layers is supported")
            }
            previous = layer.name
        }
    }
}

extension KerasLayerConfig {
    init(_ entry: JSONValue, index: Int) throws(KerasModelError.Reason) {
        guard let registeredName = entry["class_name"]?.string, let config = entry["config"] else {
            throw .invalidConfig(detail: "layer \(index) has no 'class_name' or 'config'")
        }
        // Keras 3 writes registered custom classes as "Package>Class".
        let className = String(registeredName.split(separator: ">").last ?? Substring(registeredName))
        guard let name = config["name"]?.string ?? entry["name"]?.string else {
            throw .invalidConfig(detail: "layer \(index) (\(className)) has no name")
        }
        self.name = name
        self.className = className
        self.config = config
        let nodes = entry["inbound_nodes"]?.array ?? []
        callCount = nodes.count
        inbound = nodes.flatMap(Self.sourceLayers)
    }

    /// The layer names a call reads: Keras 2 writes `[["conv2d", 0, 0, {}], ...]`, Keras 3
    /// `{"args": [{"config": {"keras_history": ["conv2d", 0, 0]}}]}`.
    private static func sourceLayers(_ node: JSONValue) -> [String] {
        if let history = node["keras_history"]?.array, let name = history.first?.string { return [name] }
        if let items = node.array {
            if items.count >= 3, let name = items[0].string, items[1].int != nil { return [name] }
            return items.flatMap(sourceLayers)
        }
        if case .object(let members) = node {
            return members.sorted { $0.key < $1.key }.filter { $0.key != "kwargs" }.flatMap { sourceLayers($0.value) }
        }
        return []
    }
}
