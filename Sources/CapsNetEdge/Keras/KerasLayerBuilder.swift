/// A weight array as stored in the file.
struct StoredWeight {
    /// Its name or path in the file, for messages.
    var name: String
    var shape: [Int]
    var values: [Float]
}

/// Turns one Keras layer configuration and its stored weights into a `Layer`, checking every
/// attribute and shape.
struct KerasLayerBuilder {
    let layer: KerasLayerConfig
    let inputShape: [Int]
    let weights: [StoredWeight]

    func build() throws(ModelError.Reason) -> Layer {
        guard let kind = KerasLayerKind(rawValue: layer.className), kind != .inputLayer else {
            throw .unsupportedLayer(layer: layer.name, className: layer.className)
        }
        let operation: Operation
        let outputShape: [Int]
        switch kind {
        case .conv2D:
            let convolution = try convolution(
                filters: try positive("filters"), kernel: try pair("kernel_size"),
                strides: try pair("strides", default: 1),
                activation: try activation(), useBias: try flag("use_bias", default: true))
            operation = .convolution(convolution)
            outputShape = try convolutionOutput(convolution)
        case .activation:
            let relu = try activation()
            operation = relu ? .relu : .reshape
            outputShape = inputShape
        case .primaryCapsule:
            let capsules = try positive("num_capsule")
            let dimension = try positive("dim_capsule")
            let convolution = try convolution(
                filters: capsules * dimension, kernel: try pair("kernel_size"),
                strides: try pair("strides", default: 1),
                activation: false, useBias: weights.count != 1)
            let grid = try convolutionOutput(convolution)
            operation = .primaryCapsule(
                PrimaryCapsule(convolution: convolution, capsulesPerPosition: capsules, dimension: dimension))
            outputShape = [grid[0] * grid[1] * capsules, dimension]
        case .capsule:
            let capsule = try capsule()
            operation = .capsule(capsule)
            outputShape = [capsule.outputs, capsule.dimension]
        case .length:
            guard inputShape.count == 2 else { throw inputError("capsules [count, dimension]") }
            try expectWeights([])
            operation = .length
            outputShape = [inputShape[0]]
        case .reshape:
            operation = .reshape
            outputShape = try reshaped()
        case .flatten:
            operation = .reshape
            outputShape = [inputShape.reduce(1, *)]
        case .dropout:
            operation = .reshape
            outputShape = inputShape
        case .inputLayer:
            throw .unsupportedLayer(layer: layer.name, className: layer.className)
        }
        if case .reshape = operation { try expectWeights([]) }
        return Layer(
            name: layer.name, className: layer.className, operation: operation, inputShape: inputShape,
            outputShape: outputShape)
    }

    // MARK: - Layers

    private func convolution(
        filters: Int, kernel: (Int, Int), strides: (Int, Int), activation appliesReLU: Bool, useBias: Bool
    ) throws(ModelError.Reason) -> Convolution {
        guard inputShape.count == 3 else { throw inputError("an image [height, width, channels]") }
        let paddingName = try text("padding", default: "valid")
        guard let padding = Convolution.Padding(rawValue: paddingName) else {
            throw unsupported("padding", .string(paddingName))
        }
        if let format = layer.config["data_format"], format != .null, format.string != "channels_last" {
            throw unsupported("data_format", format)
        }
        if let dilation = layer.config["dilation_rate"], try pair(dilation, "dilation_rate") != (1, 1) {
            throw unsupported("dilation_rate", dilation)
        }
        if let groups = layer.config["groups"], groups.int != 1 { throw unsupported("groups", groups) }

        let channels = inputShape[2]
        let kernelShape = [kernel.0, kernel.1, channels, filters]
        let stored = try expectWeights(
            useBias ? [("kernel", kernelShape), ("bias", [filters])] : [("kernel", kernelShape)])
        return Convolution(
            kernelHeight: kernel.0, kernelWidth: kernel.1, strideY: strides.0, strideX: strides.1, padding: padding,
            inputChannels: channels, filters: filters, kernel: stored[0].values, bias: useBias ? stored[1].values : nil,
            appliesReLU: appliesReLU)
    }

    private func convolutionOutput(_ convolution: Convolution) throws(ModelError.Reason) -> [Int] {
        guard let shape = convolution.outputShape(height: inputShape[0], width: inputShape[1]) else {
            throw inputError("an image at least \(convolution.kernelHeight)×\(convolution.kernelWidth)")
        }
        return shape
    }

    private func capsule() throws(ModelError.Reason) -> Capsule {
        guard inputShape.count == 2 else { throw inputError("capsules [count, dimension]") }
        let outputs = try positive("num_capsule")
        let dimension = try positive("dim_capsule")
        let routings = try positive("routings", default: 3)
        let shape = [outputs, inputShape[0], dimension, inputShape[1]]
        let stored = try expectWeights([("weights", shape)])
        return Capsule(
            outputs: outputs, dimension: dimension, inputs: inputShape[0], inputDimension: inputShape[1],
            routings: routings, weights: stored[0].values)
    }

    /// `Reshape`'s target, with its one `-1` resolved.
    private func reshaped() throws(ModelError.Reason) -> [Int] {
        guard let target = layer.config["target_shape"], let items = target.array else {
            throw .invalidConfig(detail: "layer '\(layer.name)' (Reshape) has no 'target_shape'")
        }
        let dimensions = items.compactMap(\.int)
        let count = inputShape.reduce(1, *)
        let known = dimensions.filter { $0 != -1 }
        let unknown = dimensions.count - known.count
        guard dimensions.count == items.count, unknown <= 1, known.allSatisfy({ $0 > 0 }) else {
            throw unsupported("target_shape", target)
        }
        let knownCount = known.reduce(1, *)
        guard count % knownCount == 0, unknown == 1 || knownCount == count else {
            throw inputError("\(count) values in the shape \(target.text)")
        }
        return dimensions.map { $0 == -1 ? count / knownCount : $0 }
    }

    /// Whether the layer's activation is a ReLU; `linear` (or none) is the identity.
    private func activation() throws(ModelError.Reason) -> Bool {
        let value = layer.config["activation"] ?? .null
        if value == .null { return false }
        switch value.string {
        case "relu": return true
        case "linear": return false
        default: throw unsupported("activation", value)
        }
    }

    // MARK: - Weights

    /// The stored arrays, checked against the names and shapes the configuration implies.
    @discardableResult
    private func expectWeights(_ expected: [(name: String, shape: [Int])]) throws(ModelError.Reason) -> [StoredWeight] {
        guard weights.count == expected.count else {
            throw .missingWeights(
                layer: layer.name, className: layer.className, expected: expected.map(\.name), found: weights.count)
        }
        for (stored, wanted) in zip(weights, expected) where stored.shape != wanted.shape {
            throw .weightShape(
                layer: layer.name, className: layer.className, weight: stored.name, expected: wanted.shape,
                actual: stored.shape)
        }
        return weights
    }

    // MARK: - Attributes

    private func positive(_ key: String, default fallback: Int? = nil) throws(ModelError.Reason) -> Int {
        guard let value = layer.config[key] else {
            if let fallback { return fallback }
            throw .invalidConfig(detail: "layer '\(layer.name)' (\(layer.className)) has no '\(key)'")
        }
        guard let number = value.int, number > 0 else { throw unsupported(key, value) }
        return number
    }

    private func flag(_ key: String, default fallback: Bool) throws(ModelError.Reason) -> Bool {
        guard let value = layer.config[key] else { return fallback }
        guard let flag = value.bool else { throw unsupported(key, value) }
        return flag
    }

    private func text(_ key: String, default fallback: String) throws(ModelError.Reason) -> String {
        guard let value = layer.config[key] else { return fallback }
        guard let text = value.string else { throw unsupported(key, value) }
        return text
    }

    /// A size written as one integer or as `[rows, columns]`.
    private func pair(_ key: String, default fallback: Int? = nil) throws(ModelError.Reason) -> (Int, Int) {
        guard let value = layer.config[key] else {
            if let fallback { return (fallback, fallback) }
            throw .invalidConfig(detail: "layer '\(layer.name)' (\(layer.className)) has no '\(key)'")
        }
        return try pair(value, key)
    }

    private func pair(_ value: JSONValue, _ key: String) throws(ModelError.Reason) -> (Int, Int) {
        if let number = value.int, number > 0 { return (number, number) }
        if let items = value.array, items.count == 2, let rows = items[0].int, let columns = items[1].int,
            rows > 0, columns > 0
        {
            return (rows, columns)
        }
        throw unsupported(key, value)
    }

    private func unsupported(_ attribute: String, _ value: JSONValue) -> ModelError.Reason {
        .unsupportedAttribute(layer: layer.name, className: layer.className, attribute: attribute, value: value.text)
    }

    private func inputError(_ expected: String) -> ModelError.Reason {
        .inputShape(layer: layer.name, className: layer.className, shape: inputShape, expected: expected)
    }
}
