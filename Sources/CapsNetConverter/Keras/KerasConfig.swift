/// A tensor of a Keras graph: output `tensor` of layer `layer`. Which call of the layer (Keras's
/// node index) is not kept: a layer called twice on the path is refused.
struct KerasTensorReference: Equatable {
    var layer: String
    var tensor: Int
}

/// One entry of a Keras model configuration's `layers` list.
struct KerasLayerConfig {
    var name: String
    var className: String
    var config: JSONValue
    /// The tensors feeding this layer, over all its calls.
    var inbound: [KerasTensorReference]
    /// How many times the model calls the layer.
    var callCount: Int
    /// The nested models the layer sits in, outermost first; empty at the top level.
    var scope: [String] = []

    /// Whether the layer is a whole model used as a layer (a nested `Functional` or `Sequential`).
    var isModel: Bool { KerasModelConfig.modelClassNames.contains(className) && config["layers"] != nil }

    /// `name (Class)`, scoped by the nested models it is in, for messages.
    var label: String { (scope + [name]).joined(separator: "/") + " (\(className))" }
}

/// The parts of a Keras 2 `model_config` or Keras 3 `config.json` that the loader uses.
///
/// A `Sequential` model is its chain of layers. Of a `Functional` model (a training model with a
/// label input, a `Mask` and a decoder, or an evaluation model with two outputs), the loader takes
/// the path from the image input to the output that holds the class lengths (a `Length` layer,
/// perhaps flattened or reshaped after it), flattening nested models on the way, and leaves out
/// the rest.
struct KerasModelConfig {
    static let modelClassNames = ["Sequential", "Functional", "Model"]

    var name: String
    var isSequential: Bool
    /// The layers from the input to the class lengths, in execution order, each fed by the one
    /// before it; the input layer is not among them.
    var layers: [KerasLayerConfig]
    /// The shape of one input, without the batch axis.
    var inputShape: [Int]
    /// The model's own layers as Keras lists them (input layers included), which weights-only files
    /// are matched against.
    var topLevel: [KerasLayerConfig]
    /// The layers not on the path, as `name (Class)`.
    var leftOut: [String]

    /// Parses `json`; the error is a sentence for `KerasModelError.Reason.invalidConfig`.
    init(json: String) throws(KerasModelError.Reason) {
        guard let root = JSONValue(parsing: json) else { throw .invalidConfig(detail: "the configuration is not JSON") }
        guard let className = root["class_name"]?.string, let config = root["config"] else {
            throw .invalidConfig(detail: "no 'class_name' and 'config' at the top level")
        }
        guard Self.modelClassNames.contains(className) else {
            throw .unsupportedLayer(layer: root["config"]?["name"]?.string ?? "model", className: className)
        }
        name = config["name"]?.string ?? "model"
        let graph = try KerasGraph(className: className, config: config, scope: [])
        topLevel = graph.layers
        isSequential = graph.isSequential
        if graph.isSequential {
            layers = graph.layers.filter { $0.className != LayerKinds.inputLayerClassName }
            inputShape = try Self.inputShape(graph.layers.first { $0.className == LayerKinds.inputLayerClassName } ?? graph.layers[0], built: config["build_input_shape"])
            leftOut = []
            return
        }
        let output = try graph.classOutput()
        var visited: Set<[String]> = []
        let (path, input) = try graph.path(to: output, visited: &visited)
        layers = path
        inputShape = try Self.inputShape(input, built: nil)
        let kept = Set(path.map { $0.scope.first ?? $0.name } + [input.scope.first ?? input.name])
        leftOut = graph.layers.filter { !kept.contains($0.name) }.map(\.label)
    }

    /// The input's shape from an `InputLayer`'s `batch_shape` (Keras 3) or `batch_input_shape`
    /// (Keras 2, also on the first layer of a Sequential model without one), or the model's
    /// `build_input_shape` (Keras 3 Sequential built by hand). A fixed batch size is ignored.
    private static func inputShape(_ source: KerasLayerConfig, built: JSONValue?) throws(KerasModelError.Reason) -> [Int] {
        let declared = source.config["batch_shape"] ?? source.config["batch_input_shape"] ?? built
        guard let dimensions = declared?.array, dimensions.count >= 2 else {
            throw .invalidConfig(detail: "the input shape is not declared (no InputLayer with 'batch_shape')")
        }
        let shape = dimensions.dropFirst().compactMap(\.int)
        guard shape.count == dimensions.count - 1, shape.allSatisfy({ $0 > 0 }) else {
            throw .invalidConfig(detail: "the input shape \(declared?.text ?? "") has unknown dimensions")
        }
        guard ResourceLimits.values(of: shape) != nil else {
            throw .invalidConfig(
                detail: "the input shape \(shape.shapeDescription) has a size above \(ResourceLimits.size) or more than \(ResourceLimits.tensorValues) values")
        }
        return shape
    }
}

/// The layers of one model (the top level or a nested one) and its outputs.
struct KerasGraph {
    var isSequential: Bool
    var layers: [KerasLayerConfig]
    var outputs: [KerasTensorReference]
    var scope: [String]

    init(className: String, config: JSONValue, scope: [String]) throws(KerasModelError.Reason) {
        guard let entries = config["layers"]?.array, !entries.isEmpty else {
            throw .invalidConfig(detail: "the model \((scope + [config["name"]?.string ?? ""]).joined(separator: "/")) has no layers")
        }
        isSequential = className == "Sequential"
        self.scope = scope
        layers = try entries.enumerated().map { (index, entry) throws(KerasModelError.Reason) in
            var layer = try KerasLayerConfig(entry, index: index)
            layer.scope = scope
            return layer
        }
        if isSequential {
            let chain = layers.filter { $0.className != LayerKinds.inputLayerClassName }
            outputs = chain.last.map { [KerasTensorReference(layer: $0.name, tensor: 0)] } ?? []
            // A Sequential model's layers read each other in order.
            for index in layers.indices where index > 0 {
                layers[index].inbound = [KerasTensorReference(layer: layers[index - 1].name, tensor: 0)]
                layers[index].callCount = 1
            }
        } else {
            outputs = Self.references(config["output_layers"])
            if outputs.isEmpty, let last = layers.last {
                outputs = [KerasTensorReference(layer: last.name, tensor: 0)]
            }
        }
    }

    /// `[["name", node, tensor], ...]`, or one such triple.
    private static func references(_ value: JSONValue?) -> [KerasTensorReference] {
        guard let items = value?.array else { return [] }
        if let name = items.first?.string, items.count == 3 {
            return [KerasTensorReference(layer: name, tensor: items[2].int ?? 0)]
        }
        return items.flatMap { references($0) }
    }

    func layer(_ name: String) -> KerasLayerConfig? { layers.first { $0.name == name } }

    /// The nested model's own graph, for a layer that is a model.
    func nested(_ layer: KerasLayerConfig) throws(KerasModelError.Reason) -> KerasGraph {
        try KerasGraph(className: layer.className, config: layer.config, scope: scope + [layer.name])
    }

    /// The first output that holds the class lengths: made by a `Length` layer, perhaps reshaped,
    /// flattened or passed through a dropout after it, or by a nested model's such output.
    func classOutput() throws(KerasModelError.Reason) -> KerasTensorReference {
        for output in outputs where try holdsClassLengths(output, depth: 0) { return output }
        let described = outputs.map { self.layer($0.layer)?.label ?? "'\($0.layer)'" }
        throw .invalidConfig(
            detail: "no output of the model holds class lengths (a Length layer); its outputs come from "
                + described.joined(separator: ", "))
    }

    private func holdsClassLengths(_ reference: KerasTensorReference, depth: Int) throws(KerasModelError.Reason) -> Bool {
        guard depth < 1000, let layer = layer(reference.layer) else { return false }
        if layer.isModel {
            let inner = try nested(layer)
            guard reference.tensor < inner.outputs.count else { return false }
            return try inner.holdsClassLengths(inner.outputs[reference.tensor], depth: depth + 1)
        }
        if LayerKinds.kind(kerasClass: layer.className) == Length.self { return true }
        guard Reshape.kerasClassNames.contains(layer.className), layer.inbound.count == 1 else { return false }
        return try holdsClassLengths(layer.inbound[0], depth: depth + 1)
    }

    /// The layers from the input to `output`, in order, nested models flattened, and that input.
    /// Every layer on the path must take one tensor and be called once.
    func path(
        to output: KerasTensorReference, visited: inout Set<[String]>
    ) throws(KerasModelError.Reason) -> (layers: [KerasLayerConfig], input: KerasLayerConfig) {
        var reversed: [KerasLayerConfig] = []
        var current = output
        while true {
            guard let layer = layer(current.layer) else {
                throw .invalidConfig(detail: "a layer reads '\(current.layer)', which the model does not have")
            }
            guard visited.insert(scope + [layer.name]).inserted else {
                throw .invalidConfig(detail: "the layers' inbound nodes form a cycle through \(layer.label)")
            }
            if layer.className == LayerKinds.inputLayerClassName { return (reversed.reversed(), layer) }
            guard layer.callCount == 1 else {
                throw .invalidConfig(
                    detail: "\(layer.label) is called \(layer.callCount) times on the path from the input to the class "
                        + "lengths; only a chain of layers is supported")
            }
            guard layer.inbound.count == 1 else {
                throw .invalidConfig(
                    detail: "\(layer.label) reads \(layer.inbound.count) tensors on the path from the input to the class "
                        + "lengths; only a chain of layers is supported")
            }
            if layer.isModel {
                let inner = try nested(layer)
                guard current.tensor < inner.outputs.count else {
                    throw .invalidConfig(detail: "\(layer.label) has no output \(current.tensor)")
                }
                let (innerLayers, _) = try inner.path(to: inner.outputs[current.tensor], visited: &visited)
                reversed += innerLayers.reversed()
            } else {
                reversed.append(layer)
            }
            current = layer.inbound[0]
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
        inbound = nodes.flatMap(Self.sources)
    }

    /// The tensors a call reads: Keras 2 writes `[["conv2d", 0, 0, {}], ...]`, Keras 3
    /// `{"args": [{"config": {"keras_history": ["conv2d", 0, 0]}}]}`.
    private static func sources(_ node: JSONValue) -> [KerasTensorReference] {
        if let history = node["keras_history"]?.array, let name = history.first?.string {
            return [KerasTensorReference(layer: name, tensor: history.count > 2 ? history[2].int ?? 0 : 0)]
        }
        if let items = node.array {
            if items.count >= 3, let name = items[0].string, items[1].int != nil {
                return [KerasTensorReference(layer: name, tensor: items[2].int ?? 0)]
            }
            return items.flatMap(sources)
        }
        if case .object(let members) = node {
            return members.sorted { $0.key < $1.key }.filter { $0.key != "kwargs" }.flatMap { sources($0.value) }
        }
        return []
    }
}
