import Foundation

extension CapsNetModel {
    /// Loads a trained CapsNet from a weights-only file and its architecture: `config` is the JSON
    /// of Keras's `model.to_json()`, and `path` what `save_weights` wrote (Keras 2's HDF5 layout with
    /// `layer_names`, or Keras 3's `.weights.h5`), or a whole model whose configuration `config`
    /// replaces. Weights are matched to layers as Keras's `load_weights` matches them by default,
    /// by position rather than by name, since forks often rename layers after training: the
    /// layers that hold weights in order (Keras 2), or by the names Keras derives from each layer's
    /// class and rank (Keras 3). Every shape is checked. Without `config` this is
    /// `init(contentsOf:)`.
    public init(contentsOf path: String, config configPath: String?, squashLambdas: Set<String> = []) throws(KerasModelError) {
        guard let configPath else {
            try self.init(contentsOf: path, squashLambdas: squashLambdas)
            return
        }
        guard let data = FileManager.default.contents(atPath: configPath) else {
            throw KerasModelError(path: configPath, reason: .fileNotFound)
        }
        let config: KerasModelConfig
        do { config = try KerasModelConfig(json: String(decoding: data, as: UTF8.self)) } catch {
            throw KerasModelError(path: configPath, reason: error)
        }
        do {
            self = try hdf5Lock.withLock { _ throws(KerasModelError.Reason) in
                try Self.load(weights: path, config, squashLambdas)
            }
        } catch {
            throw KerasModelError(path: path, reason: error)
        }
    }

    private static func load(
        weights path: String, _ config: KerasModelConfig, _ squashLambdas: Set<String>
    ) throws(KerasModelError.Reason) -> CapsNetModel {
        guard FileManager.default.fileExists(atPath: path) else { throw .fileNotFound }
        guard case .hdf5 = ModelContainer(path: path) else {
            throw .weightsMismatch(detail: "--config goes with an HDF5 weights file (.h5, .weights.h5)")
        }
        let file: HDF5File
        do { file = try HDF5File(path: path) } catch { throw .damaged(detail: error.message) }
        return try build(config, weights: try StoredLayerWeights(file.root, config: config), squashLambdas: squashLambdas)
    }
}

/// The weights of a weights-only file, matched to the layers of a configuration by position.
struct StoredLayerWeights: LayerWeights {
    /// By the layer's scope and name.
    private let byLayer: [[String]: [StoredWeight]]

    init(_ root: HDF5Object, config: KerasModelConfig) throws(KerasModelError.Reason) {
        var byLayer: [[String]: [StoredWeight]] = [:]
        if let keras2 = Self.keras2Group(root) {
            let top = try Self.keras2Match(keras2, config: config)
            for layer in config.layers {
                guard let outer = layer.scope.first else {
                    byLayer[[layer.name]] = top[layer.name]
                    continue
                }
                guard layer.scope.count == 1, let model = config.topLevel.first(where: { $0.name == outer }) else {
                    throw .weightsMismatch(detail: "\(layer.label) sits in models nested two deep, which weights-only files do not support")
                }
                for (inner, weights) in try Self.split(top[outer] ?? [], among: model) { byLayer[[outer, inner]] = weights }
            }
        } else if root.member("layers") != nil {
            let archive = try KerasArchiveWeights(root)
            let topNames = Dictionary(zip(config.topLevel.map(\.name), Self.keras3Names(config.topLevel))) { first, _ in first }
            for layer in config.layers where Self.storesWeights(layer) {
                var path: [String] = []
                if let outer = layer.scope.first, let model = config.topLevel.first(where: { $0.name == outer }) {
                    guard layer.scope.count == 1 else {
                        throw .weightsMismatch(detail: "\(layer.label) sits in models nested two deep, which weights-only files do not support")
                    }
                    let inner = try KerasGraph(className: model.className, config: model.config, scope: [outer]).layers
                    let innerNames = Dictionary(zip(inner.map(\.name), Self.keras3Names(inner))) { first, _ in first }
                    path = [topNames[outer] ?? outer, innerNames[layer.name] ?? layer.name]
                } else {
                    path = [topNames[layer.name] ?? layer.name]
                }
                let weights = try archive.weights(ofGroup: path)
                guard !weights.isEmpty else {
                    throw .weightsMismatch(
                        detail: "no weights for \(layer.label) at layers/\(path.joined(separator: "/layers/"))")
                }
                byLayer[layer.scope + [layer.name]] = weights
            }
        } else {
            throw .weightsMismatch(detail: "the file holds no Keras weights (no 'layer_names', no 'layers' group)")
        }
        self.byLayer = byLayer
    }

    func weights(of layer: KerasLayerConfig) throws(KerasModelError.Reason) -> [StoredWeight] {
        byLayer[layer.scope + [layer.name]] ?? []
    }

    /// Whether a Keras layer holds weights as `load_weights` counts them: by its kind where the
    /// loader has one, a nested model if any of its layers does, else by Keras's own classes.
    static func storesWeights(_ layer: KerasLayerConfig) -> Bool {
        if layer.isModel {
            let inner = (try? KerasGraph(className: layer.className, config: layer.config, scope: layer.scope + [layer.name]))?.layers
            return inner?.contains(where: storesWeights) ?? false
        }
        return LayerKinds.kind(kerasClass: layer.className)?.storesWeights ?? kerasClassesWithWeights.contains(layer.className)
    }

    /// Keras classes that hold weights but have no kind here (the decoders and heads a training
    /// model prunes).
    static let kerasClassesWithWeights: Set<String> = [
        "Dense", "Conv1D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "DepthwiseConv2D",
        "SeparableConv2D", "LayerNormalization", "GroupNormalization", "Embedding", "PReLU", "LSTM", "GRU",
        "SimpleRNN",
    ]

    /// Keras 2's layers matched to the configuration's top level as `load_weights` does: the
    /// layers that hold weights, in order. When the file lists every layer (as `save_weights`
    /// does), position by position over all of them, which needs no knowledge of the classes.
    private static func keras2Match(
        _ group: HDF5Object, config: KerasModelConfig
    ) throws(KerasModelError.Reason) -> [String: [StoredWeight]] {
        let stored = try keras2Layers(group, keepEmpty: true)
        let listed = config.topLevel.filter { !(config.isSequential && $0.className == LayerKinds.inputLayerClassName) }
        if stored.count == listed.count {
            return Dictionary(zip(listed.map(\.name), stored.map(\.weights))) { first, _ in first }
        }
        let weighted = listed.filter(storesWeights)
        let storedWeighted = stored.filter { !$0.weights.isEmpty }
        guard storedWeighted.count == weighted.count else {
            throw .weightsMismatch(
                detail: "the file holds \(storedWeighted.count) layers with weights "
                    + "(\(storedWeighted.map(\.name).joined(separator: ", "))), "
                    + "the configuration \(weighted.count) (\(weighted.map(\.name).joined(separator: ", ")))")
        }
        return Dictionary(zip(weighted.map(\.name), storedWeighted.map(\.weights))) { first, _ in first }
    }

    /// A nested model's weights, stored as one group in Keras 2's layout, split among its layers:
    /// by the layer names in the weight paths, matched by position to the layers that hold weights.
    /// Keras lists the trainable weights of all layers before the others (a batch normalization's
    /// moving mean and variance come last), so a layer's weights need not be adjacent.
    private static func split(
        _ weights: [StoredWeight], among model: KerasLayerConfig
    ) throws(KerasModelError.Reason) -> [(String, [StoredWeight])] {
        var owners: [(name: String, weights: [StoredWeight])] = []
        for weight in weights {
            let owner = HDF5LayerWeights.owner(of: weight.name, inModel: model.name) ?? ""
            if let index = owners.firstIndex(where: { $0.name == owner }) {
                owners[index].weights.append(weight)
            } else {
                owners.append((owner, [weight]))
            }
        }
        let inner = try KerasGraph(className: model.className, config: model.config, scope: [model.name]).layers
            .filter(storesWeights)
        guard owners.count == inner.count else {
            throw .weightsMismatch(
                detail: "the file holds weights of \(owners.count) layers in \(model.label) "
                    + "(\(owners.map(\.name).joined(separator: ", "))), the configuration \(inner.count)")
        }
        return zip(inner, owners).map { ($0.name, $1.weights) }
    }

    /// Where Keras 2's layout keeps its layers: the root (`save_weights`) or `model_weights` (`save`).
    private static func keras2Group(_ root: HDF5Object) -> HDF5Object? {
        if root.hasAttribute("layer_names") { return root }
        if let group = root.member("model_weights"), group.hasAttribute("layer_names") { return group }
        return nil
    }

    /// The layers in file order, as Keras 2 lists them in `layer_names`, with their weights; those
    /// without weights only with `keepEmpty`.
    private static func keras2Layers(
        _ group: HDF5Object, keepEmpty: Bool = false
    ) throws(KerasModelError.Reason) -> [(name: String, weights: [StoredWeight])] {
        let names: [String]
        do { names = try group.strings(attribute: "layer_names") } catch { throw .damaged(detail: error.message) }
        let source = HDF5LayerWeights(group)
        var layers: [(name: String, weights: [StoredWeight])] = []
        for name in names {
            let weights = try source.weights(ofGroup: name)
            if keepEmpty || !weights.isEmpty { layers.append((name, weights)) }
        }
        return layers
    }

    /// Keras 3's group name for each layer: its class in snake case, numbered among the layers of
    /// that class before it (`conv2d`, `conv2d_1`), as `saving_lib` names them.
    static func keras3Names(_ layers: [KerasLayerConfig]) -> [String] {
        var seen: [String: Int] = [:]
        return layers.map { layer in
            let base = snakeCase(layer.className)
            let rank = seen[base, default: 0]
            seen[base] = rank + 1
            return rank == 0 ? base : "\(base)_\(rank)"
        }
    }

    /// Keras's `to_snake_case`: `LeakyReLU` → `leaky_re_lu`, `Conv2D` → `conv2d`.
    static func snakeCase(_ name: String) -> String {
        let characters = Array(name.filter { $0.isLetter || $0.isNumber || $0 == "_" })
        // First a '_' before each capital that starts a lowercase run, then between a lowercase
        // letter and a capital.
        var first: [Character] = []
        for (index, character) in characters.enumerated() {
            let startsWord =
                index > 0 && character.isUppercase && index + 1 < characters.count && characters[index + 1].isLowercase
            if startsWord { first.append("_") }
            first.append(character)
        }
        var second: [Character] = []
        for (index, character) in first.enumerated() {
            if index > 0, first[index - 1].isLowercase, first[index - 1].isLetter, character.isUppercase {
                second.append("_")
            }
            second.append(character)
        }
        return String(second).lowercased()
    }

    /// What a weights-only file holds, for the error that asks for its configuration.
    static func listing(_ root: HDF5Object) -> [String] {
        func describe(_ name: String, _ weights: [StoredWeight]) -> String {
            "\(name): " + weights.map(\.shape.shapeDescription).joined(separator: ", ")
        }
        if let group = keras2Group(root), let layers = try? keras2Layers(group) {
            return layers.map { describe($0.name, $0.weights) }
        }
        guard let archive = try? KerasArchiveWeights(root) else { return [] }
        return archive.groupNames().compactMap { name in
            guard let weights = try? archive.weights(ofGroup: [name]), !weights.isEmpty else { return nil }
            return describe(name, weights)
        }
    }
}
