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
    public init(contentsOf path: String, config configPath: String?) throws(KerasModelError) {
        guard let configPath else {
            try self.init(contentsOf: path)
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
            self = try hdf5Lock.withLock { _ throws(KerasModelError.Reason) in try Self.load(weights: path, config) }
        } catch {
            throw KerasModelError(path: path, reason: error)
        }
    }

    private static func load(weights path: String, _ config: KerasModelConfig) throws(KerasModelError.Reason) -> CapsNetModel {
        guard FileManager.default.fileExists(atPath: path) else { throw .fileNotFound }
        guard case .hdf5 = ModelContainer(path: path) else {
            throw .weightsMismatch(detail: "--config goes with an HDF5 weights file (.h5, .weights.h5)")
        }
        let file: HDF5File
        do { file = try HDF5File(path: path) } catch { throw .damaged(detail: error.message) }
        return try build(config, weights: try StoredLayerWeights(file.root, config: config))
    }
}

/// The weights of a weights-only file, matched to the layers of a configuration by position.
struct StoredLayerWeights: LayerWeights {
    private let byLayer: [String: [StoredWeight]]

    init(_ root: HDF5Object, config: KerasModelConfig) throws(KerasModelError.Reason) {
        let storesWeights = { (layer: KerasLayerConfig) in LayerKinds.kind(kerasClass: layer.className)?.storesWeights ?? false }
        let weighted = config.layers.filter(storesWeights)
        var byLayer: [String: [StoredWeight]] = [:]
        if let keras2 = Self.keras2Group(root) {
            let stored = try Self.keras2Layers(keras2)
            guard stored.count == weighted.count else {
                throw .weightsMismatch(
                    detail: "the file holds \(stored.count) layers with weights (\(stored.map(\.name).joined(separator: ", "))), "
                        + "the configuration \(weighted.count) (\(weighted.map(\.name).joined(separator: ", ")))")
            }
            for (layer, (_, weights)) in zip(weighted, stored) { byLayer[layer.name] = weights }
        } else if root.member("layers") != nil {
            let archive = try KerasArchiveWeights(root)
            for (layer, name) in zip(config.layers, Self.keras3Names(config.layers)) where storesWeights(layer) {
                let weights = try archive.weights(ofGroup: name)
                guard !weights.isEmpty else {
                    throw .weightsMismatch(detail: "no weights for layer '\(layer.name)' (\(layer.className)) at layers/\(name)")
                }
                byLayer[layer.name] = weights
            }
        } else {
            throw .weightsMismatch(detail: "the file holds no Keras weights (no 'layer_names', no 'layers' group)")
        }
        self.byLayer = byLayer
    }

    func weights(of layer: String) throws(KerasModelError.Reason) -> [StoredWeight] { byLayer[layer] ?? [] }

    /// Where Keras 2's layout keeps its layers: the root (`save_weights`) or `model_weights` (`save`).
    private static func keras2Group(_ root: HDF5Object) -> HDF5Object? {
        if root.hasAttribute("layer_names") { return root }
        if let group = root.member("model_weights"), group.hasAttribute("layer_names") { return group }
        return nil
    }

    /// The layers with weights in file order, as Keras 2 lists them in `layer_names`.
    private static func keras2Layers(_ group: HDF5Object) throws(KerasModelError.Reason) -> [(name: String, weights: [StoredWeight])] {
        let names: [String]
        do { names = try group.strings(attribute: "layer_names") } catch { throw .damaged(detail: error.message) }
        let source = HDF5LayerWeights(group)
        var layers: [(name: String, weights: [StoredWeight])] = []
        for name in names {
            let weights = try source.weights(of: name)
            if !weights.isEmpty { layers.append((name, weights)) }
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
            guard let weights = try? archive.weights(ofGroup: name), !weights.isEmpty else { return nil }
            return describe(name, weights)
        }
    }
}
