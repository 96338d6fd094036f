import Foundation
import Synchronization

/// Debian's libhdf5 is the serial build, which must not be entered from two threads at once.
let hdf5Lock = Mutex(())

extension CapsNetModel {
    /// Loads a trained Keras CapsNet: an HDF5 file as Keras 2 and Keras 3's legacy `model.save("x.h5")`
    /// write it, or a Keras 3 `.keras` archive. Optimizer state is ignored.
    ///
    /// Of a `Functional` model, the path from the image input to the class lengths is loaded and
    /// the rest left out (``leftOut``). `squashLambdas` names `Lambda` layers, by layer or function
    /// name, to run as squash over the last axis: those whose function is not named for it.
    ///
    /// - Throws: `KerasModelError` naming the file and, where there is one, the layer and attribute at fault.
    public init(contentsOf path: String, squashLambdas: Set<String> = []) throws(KerasModelError) {
        do {
            // Every HDF5 handle is opened and closed inside `load`, so inside the lock.
            self = try hdf5Lock.withLock { _ throws(KerasModelError.Reason) in try Self.load(path, squashLambdas) }
        } catch {
            throw KerasModelError(path: path, reason: error)
        }
    }

    private static func load(_ path: String, _ squashLambdas: Set<String>) throws(KerasModelError.Reason) -> CapsNetModel {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw .fileNotFound }
        if isDirectory.boolValue {
            let savedModel = ["saved_model.pb", "saved_model.pbtxt"].contains {
                FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent($0))
            }
            throw .foreignFormat(savedModel ? .savedModel : .directory)
        }
        switch ModelContainer(path: path) {
        case .hdf5: return try loadHDF5(path, squashLambdas)
        case .zip: return try loadArchive(path, squashLambdas)
        case .foreign(let format): throw .foreignFormat(format)
        case nil: throw .unrecognizedFormat
        }
    }

    static func loadHDF5(_ path: String, _ squashLambdas: Set<String>) throws(KerasModelError.Reason) -> CapsNetModel {
        let file: HDF5File
        do { file = try HDF5File(path: path) } catch { throw .damaged(detail: error.message) }
        let root = file.root
        guard root.hasAttribute("model_config") else {
            if root.hasAttribute("layer_names") || root.member("layers") != nil || root.member("model_weights") != nil {
                throw .weightsOnly(found: StoredLayerWeights.listing(root))
            }
            throw .invalidConfig(detail: "the HDF5 file has no 'model_config' attribute: it is not a Keras model")
        }
        let json: String
        do { json = try root.strings(attribute: "model_config").joined() } catch {
            throw .damaged(detail: error.message)
        }
        guard let weights = root.member("model_weights") else {
            throw .damaged(detail: "the file has a model configuration but no 'model_weights' group")
        }
        return try build(KerasModelConfig(json: json), weights: HDF5LayerWeights(weights), squashLambdas: squashLambdas)
    }

    private static func loadArchive(_ path: String, _ squashLambdas: Set<String>) throws(KerasModelError.Reason) -> CapsNetModel {
        guard let contents = FileManager.default.contents(atPath: path) else {
            throw .damaged(detail: "the file cannot be read")
        }
        let archive: ZipArchive
        do { archive = try ZipArchive([UInt8](contents)) } catch { throw .damaged(detail: error.message) }
        // torch.save writes `<name>/data.pkl` beside the tensors' storage.
        if archive.names.contains(where: { $0 == "data.pkl" || $0.hasSuffix("/data.pkl") }) {
            throw .foreignFormat(.pytorch)
        }
        let config: [UInt8]?
        let weights: [UInt8]?
        do throws(ZipArchive.Failure) {
            config = try archive.contents(of: "config.json")
            weights = try archive.contents(of: "model.weights.h5")
        } catch {
            throw .damaged(detail: error.message)
        }
        guard let config, let weights else {
            throw .damaged(
                detail: "a Keras 3 .keras archive holds config.json and model.weights.h5; this one lacks one")
        }
        let file: HDF5File
        do { file = try HDF5File(image: weights, name: "model.weights.h5") } catch {
            throw .damaged(detail: error.message)
        }
        return try build(
            KerasModelConfig(json: String(decoding: config, as: UTF8.self)), weights: KerasArchiveWeights(file.root),
            squashLambdas: squashLambdas)
    }

    /// Builds each layer on the shape the one before it produces.
    static func build(
        _ config: KerasModelConfig, weights: any LayerWeights, squashLambdas: Set<String>
    ) throws(KerasModelError.Reason)
        -> CapsNetModel
    {
        // A misspelt name would otherwise do nothing, and the Lambda it meant would be refused
        // with advice to pass the very option given.
        let lambdas = config.layers.filter { Squash.kerasClassNames.contains($0.className) }
        for name in squashLambdas.sorted() {
            let matched = lambdas.contains { $0.name == name || Squash.function($0.config["function"]).identifiers.contains(name) }
            guard matched else { throw .unmatchedSquashLambda(name: name, lambdas: lambdas.map(\.name)) }
        }
        var layers: [Layer] = []
        var shape = config.inputShape
        for layer in config.layers {
            let built = try KerasLayerBuilder(
                layer: layer, inputShape: shape, weights: weights.weights(of: layer), squashLambdas: squashLambdas
            ).build()
            layers.append(built)
            shape = built.outputShape
        }
        // A Functional graph was already cut at its class lengths; a Sequential chain must end in them.
        let last = layers.last { !($0.kind is Reshape) }
        guard let last, last.kind is Length else {
            throw .notClassLengths(layer: last?.name ?? "input", className: last?.className ?? LayerKinds.inputLayerClassName)
        }
        return CapsNetModel(
            name: config.name, inputShape: config.inputShape, layers: try PrimaryCapsule.recognized(in: layers),
            leftOut: config.leftOut)
    }
}

/// The container a model file is in, told by its first bytes.
enum ModelContainer {
    case hdf5
    case zip
    /// A format people try that this tool does not read.
    case foreign(ForeignFormat)

    init?(path: String) {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        if let head = try? handle.read(upToCount: 8), let format = Self.foreignFormat(Array(head), path: path) {
            self = .foreign(format)
            return
        }
        // HDF5's signature sits at 0 or, after a user block, at 512, 1024, 2048, ...
        let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]
        var offset: UInt64 = 0
        while offset <= 1 << 20 {
            guard (try? handle.seek(toOffset: offset)) != nil,
                let bytes = try? handle.read(upToCount: 8), bytes.count == 8
            else { return nil }
            if offset == 0 && bytes.starts(with: [0x50, 0x4b]) {
                self = .zip
                return
            }
            if Array(bytes) == signature {
                self = .hdf5
                return
            }
            offset = offset == 0 ? 512 : offset * 2
        }
        return nil
    }

    /// A TFLite flatbuffer (`TFL3` after the root offset), a Python pickle (protocol 2 to 5, as the
    /// older `torch.save` writes), or an ONNX protobuf (its name, and the `ir_version` field first).
    private static func foreignFormat(_ head: [UInt8], path: String) -> ForeignFormat? {
        if head.count >= 8, Array(head[4..<8]) == Array("TFL3".utf8) { return .tflite }
        if head.count >= 2, head[0] == 0x80, (2...5).contains(head[1]) { return .pytorch }
        if path.lowercased().hasSuffix(".onnx"), head.first == 0x08 { return .onnx }
        return nil
    }
}

/// Where a loader finds each layer's weight arrays.
protocol LayerWeights {
    /// The arrays of `layer`, in the order Keras lists them (kernel before bias).
    func weights(of layer: KerasLayerConfig) throws(KerasModelError.Reason) -> [StoredWeight]
}

/// Keras 2 and legacy Keras 3 HDF5: `model_weights/<layer>` lists its arrays in the `weight_names`
/// attribute (split into `weight_names0`, `weight_names1`, ... when long), as paths in the group.
/// A nested model is one such group, whose names start with its layers' names
/// (`conv1/kernel`, or `decoder/dense/kernel` for a nested Sequential model).
struct HDF5LayerWeights: LayerWeights {
    let group: HDF5Object

    init(_ group: HDF5Object) { self.group = group }

    func weights(of layer: KerasLayerConfig) throws(KerasModelError.Reason) -> [StoredWeight] {
        guard let outer = layer.scope.first else { return try weights(ofGroup: layer.name) }
        return try weights(ofGroup: outer).filter { Self.owner(of: $0.name, inModel: outer) == layer.name }
    }

    /// The layer of `model` a nested model's weight path names: its first component, after the
    /// model's own name where the path starts with it (`conv1/kernel`, `decoder/dense/kernel`); a
    /// layer's own sublayers add components after it (`primary_caps/conv2d_11/kernel`).
    static func owner(of path: String, inModel model: String) -> String? {
        var components = path.split(separator: "/").map(String.init)
        if components.count >= 3, components[0] == model { components.removeFirst() }
        return components.count >= 2 ? components[0] : nil
    }

    /// The arrays of the group `model_weights/<name>` in `weight_names` order.
    func weights(ofGroup layer: String) throws(KerasModelError.Reason) -> [StoredWeight] {
        guard let layerGroup = group.member(layer) else { return [] }
        var weights: [StoredWeight] = []
        do throws(HDF5Error) {
            for name in try Self.weightNames(layerGroup) {
                guard let dataset = layerGroup.member(name) else {
                    throw HDF5Error(message: "weight '\(name)' of layer '\(layer)' is listed but missing")
                }
                let (shape, values) = try dataset.floats()
                weights.append(StoredWeight(name: name, shape: shape, values: values))
            }
        } catch { throw .damaged(detail: error.message) }
        return weights
    }

    private static func weightNames(_ group: HDF5Object) throws(HDF5Error) -> [String] {
        if group.hasAttribute("weight_names") { return try group.strings(attribute: "weight_names") }
        var names: [String] = []
        var chunk = 0
        while group.hasAttribute("weight_names\(chunk)") {
            names += try group.strings(attribute: "weight_names\(chunk)")
            chunk += 1
        }
        return names
    }
}

/// Keras 3 `model.weights.h5`: `layers/<group>/vars/0, 1, ...`, and a nested model's layers under
/// `layers/<group>/layers/...`; the `vars` group's `name` attribute is the layer's name.
struct KerasArchiveWeights: LayerWeights {
    /// The top level's groups under `layers`.
    let level: Level

    init(_ root: HDF5Object) throws(KerasModelError.Reason) {
        level = try Level(root)
    }

    /// The groups of one model's layers.
    struct Level {
        /// By the layers' own names where the file records them, else by group name.
        let groups: [String: HDF5Object]
        /// By group name only.
        let members: [String: HDF5Object]

        init(_ model: HDF5Object) throws(KerasModelError.Reason) {
            // A group is named after its layer's class, numbered within the model (`conv2d_1`); its
            // `vars` carry the layer's own name, which wins: names count across a whole Python
            // session, so a model's third convolution may be named `conv2d_2` while the archive's
            // `conv2d_2` is its own.
            var byMember: [String: HDF5Object] = [:]
            var byName: [String: HDF5Object] = [:]
            if let layers = model.member("layers") {
                do {
                    for member in try layers.memberNames() {
                        guard let group = layers.member(member) else { continue }
                        byMember[member] = group
                        if let vars = group.member("vars"), vars.hasAttribute("name"),
                            let name = try vars.strings(attribute: "name").first
                        {
                            byName[name] = group
                        }
                    }
                } catch { throw .damaged(detail: error.message) }
            }
            groups = byMember.merging(byName) { _, named in named }
            members = byMember
        }
    }

    func weights(of layer: KerasLayerConfig) throws(KerasModelError.Reason) -> [StoredWeight] {
        var level = self.level
        for model in layer.scope {
            guard let group = level.groups[model] else { return [] }
            level = try Level(group)
        }
        guard let group = level.groups[layer.name] else { return [] }
        do { return try Self.collect(group) } catch { throw .damaged(detail: error.message) }
    }

    /// The weights under `layers/<name>` (and, for a nested model, `layers/<name>/layers/...`),
    /// whatever the layer's own name.
    func weights(ofGroup path: [String]) throws(KerasModelError.Reason) -> [StoredWeight] {
        var level = self.level
        for model in path.dropLast() {
            guard let group = level.members[model] else { return [] }
            level = try Level(group)
        }
        guard let last = path.last, let group = level.members[last] else { return [] }
        do { return try Self.collect(group) } catch { throw .damaged(detail: error.message) }
    }

    /// The group names under `layers`, sorted.
    func groupNames() -> [String] { level.members.keys.sorted() }

    /// A layer's own variables in index order, then its nested layers' in name order.
    private static func collect(_ group: HDF5Object) throws(HDF5Error) -> [StoredWeight] {
        var weights: [StoredWeight] = []
        if let vars = group.member("vars") {
            let indices = try vars.memberNames().compactMap(Int.init).sorted()
            for index in indices {
                guard let dataset = vars.member(String(index)) else { continue }
                let (shape, values) = try dataset.floats()
                weights.append(StoredWeight(name: dataset.path, shape: shape, values: values))
            }
        }
        for member in try group.memberNames() where member != "vars" {
            if let child = group.member(member), child.isGroup { weights += try collect(child) }
        }
        return weights
    }
}
