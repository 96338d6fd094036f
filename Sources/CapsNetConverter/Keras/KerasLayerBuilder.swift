/// A weight array as stored in the file.
struct StoredWeight {
    /// Its name or path in the file, for messages.
    var name: String
    var shape: [Int]
    var values: [Float]
}

/// One Keras layer configuration with its input shape and stored weights, and the checks its
/// kind's `LayerKind.load` reads it with: every attribute and every weight shape.
public struct KerasLayerBuilder {
    let layer: KerasLayerConfig
    let inputShape: [Int]
    let weights: [StoredWeight]
    /// `Lambda` layers the user declared to be squash, by layer or function name.
    var squashLambdas: Set<String> = []

    /// The layer as its registered kind loads it.
    func build() throws(KerasModelError.Reason) -> Layer {
        guard let kind = LayerKinds.kind(kerasClass: layer.className) else {
            throw .unsupportedLayer(layer: layer.name, className: layer.className)
        }
        let (loaded, outputShape) = try kind.load(self)
        guard ResourceLimits.values(of: outputShape) != nil else {
            throw .inputShape(
                layer: layer.name, className: layer.className, shape: outputShape,
                expected: "an output with sizes up to \(ResourceLimits.size) and at most \(ResourceLimits.tensorValues) values")
        }
        return Layer(
            name: layer.name, className: layer.className, kind: loaded, inputShape: inputShape,
            outputShape: outputShape)
    }

    // MARK: - Weights

    /// The stored arrays, checked against the names and shapes the configuration implies.
    @discardableResult
    func expectWeights(_ expected: [(name: String, shape: [Int])]) throws(KerasModelError.Reason) -> [StoredWeight] {
        guard weights.count == expected.count else {
            throw .missingWeights(
                layer: layer.name, className: layer.className, expected: expected.map(\.name), found: weights.count)
        }
        for (stored, wanted) in zip(weights, expected) where stored.shape != wanted.shape {
            throw .weightShape(
                layer: layer.name, className: layer.className, weight: stored.name, expected: wanted.shape,
                actual: stored.shape)
        }
        for stored in weights {
            if let bad = stored.values.first(where: { !(abs($0) <= ResourceLimits.weightMagnitude) }) {
                throw .weightValue(layer: layer.name, className: layer.className, weight: stored.name, value: bad)
            }
        }
        return weights
    }

    // MARK: - Attributes

    /// A positive integer attribute of at most `limit`.
    func positive(
        _ key: String, default fallback: Int? = nil, limit: Int = ResourceLimits.size
    ) throws(KerasModelError.Reason) -> Int {
        guard let value = layer.config[key] else {
            if let fallback { return fallback }
            throw .invalidConfig(detail: "layer '\(layer.name)' (\(layer.className)) has no '\(key)'")
        }
        guard let number = value.int, number > 0 else { throw unsupported(key, value) }
        guard number <= limit else { throw tooLarge(key, number, limit) }
        return number
    }

    /// A normalization's `axis`: only the last, as `-1`, its index counting the batch axis, or either
    /// in a one-item list (Keras 2 writes `[3]`).
    func checkLastAxis() throws(KerasModelError.Reason) {
        guard let axis = layer.config["axis"] else { return }
        let value = axis.array.flatMap { $0.count == 1 ? $0[0].int : nil } ?? axis.int
        guard let value, value == -1 || value == inputShape.count else { throw unsupported("axis", axis) }
    }

    func flag(_ key: String, default fallback: Bool) throws(KerasModelError.Reason) -> Bool {
        guard let value = layer.config[key] else { return fallback }
        guard let flag = value.bool else { throw unsupported(key, value) }
        return flag
    }

    func number(_ key: String, default fallback: Double) throws(KerasModelError.Reason) -> Double {
        guard let value = layer.config[key] else { return fallback }
        guard let number = value.double, number.isFinite else { throw unsupported(key, value) }
        return number
    }

    func text(_ key: String, default fallback: String) throws(KerasModelError.Reason) -> String {
        guard let value = layer.config[key] else { return fallback }
        guard let text = value.string else { throw unsupported(key, value) }
        return text
    }

    /// A size written as one integer or as `[rows, columns]`.
    func pair(_ key: String, default fallback: Int? = nil) throws(KerasModelError.Reason) -> (Int, Int) {
        guard let value = layer.config[key] else {
            if let fallback { return (fallback, fallback) }
            throw .invalidConfig(detail: "layer '\(layer.name)' (\(layer.className)) has no '\(key)'")
        }
        return try pair(value, key)
    }

    func pair(_ value: JSONValue, _ key: String) throws(KerasModelError.Reason) -> (Int, Int) {
        let sizes: (Int, Int)
        if let number = value.int {
            sizes = (number, number)
        } else if let items = value.array, items.count == 2, let rows = items[0].int, let columns = items[1].int {
            sizes = (rows, columns)
        } else {
            throw unsupported(key, value)
        }
        guard sizes.0 > 0, sizes.1 > 0 else { throw unsupported(key, value) }
        guard max(sizes.0, sizes.1) <= ResourceLimits.size else { throw tooLarge(key, max(sizes.0, sizes.1), ResourceLimits.size) }
        return sizes
    }

    /// A size beyond what the tool takes (``ResourceLimits``).
    func tooLarge(_ attribute: String, _ value: Int, _ limit: Int) -> KerasModelError.Reason {
        .unsupportedAttribute(layer: layer.name, className: layer.className, attribute: attribute, value: "\(value) (at most \(limit))")
    }

    func unsupported(_ attribute: String, _ value: JSONValue) -> KerasModelError.Reason {
        .unsupportedAttribute(layer: layer.name, className: layer.className, attribute: attribute, value: value.text)
    }

    func inputError(_ expected: String) -> KerasModelError.Reason {
        .inputShape(layer: layer.name, className: layer.className, shape: inputShape, expected: expected)
    }
}
