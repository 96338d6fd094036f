/// A capsule layer with dynamic routing in int8 (`capsnet_capsule_layer_q7`): prediction vectors
/// `u_hat = W u`, then one routing iteration per entry of `iterations`, each in its own formats.
public struct QuantizedCapsule: QuantizedLayerKind {
    public static let fileTag: UInt8 = 3
    public static let kernelName = "capsnet_capsule_layer_q7"

    /// Output capsules, J.
    public var outputs: Int
    /// Values per output capsule, D.
    public var dimension: Int
    /// Input capsules, I.
    public var inputs: Int
    /// Values per input capsule, Din.
    public var inputDimension: Int
    /// `W[J][I][D][Din]`.
    public var weights: [Int8]
    public var inputFrac: Int
    /// The weights' format, or with `weightFracs` the smallest of the output capsules' formats.
    public var weightFrac: Int
    /// One format per output capsule j for its matrices `W[j]`, or nil: all in `weightFrac`.
    public var weightFracs: [Int8]?
    public var predictionFrac: Int
    /// One entry per routing iteration.
    public var iterations: [RoutingFormats]
    /// The width of the predictions (in `predictionFrac`) and couplings.
    public var precision: RoutingPrecision

    public init(
        outputs: Int, dimension: Int, inputs: Int, inputDimension: Int, weights: [Int8], inputFrac: Int,
        weightFrac: Int, weightFracs: [Int8]? = nil, predictionFrac: Int, iterations: [RoutingFormats],
        precision: RoutingPrecision = .q7
    ) {
        self.outputs = outputs
        self.dimension = dimension
        self.inputs = inputs
        self.inputDimension = inputDimension
        self.weights = weights
        self.inputFrac = inputFrac
        self.weightFrac = weightFrac
        self.weightFracs = weightFracs
        self.predictionFrac = predictionFrac
        self.iterations = iterations
        self.precision = precision
    }

    // MARK: - Model file

    public static func decode(
        from reader: inout ModelFileReader, layer: QuantizedLayer.Header
    ) throws(QuantizedModelFileError.Reason) -> QuantizedCapsule {
        let sizes = try layer.readCapsuleSizes(&reader)
        let formats = try reader.ints(expected: 3)
        try layer.checkInputFormat(formats[0])
        let routings = try reader.count()
        guard (1...ResourceLimits.routings).contains(routings) else {
            throw .malformed("layer '\(layer.name)': \(routings) routing iterations, outside 1 to \(ResourceLimits.routings)")
        }
        var iterations: [RoutingFormats] = []
        for _ in 0..<routings {
            let fracs = try reader.ints(expected: 4)
            iterations.append(
                RoutingFormats(logitFrac: fracs[0], sumFrac: fracs[1], outputFrac: fracs[2], agreementFrac: fracs[3]))
        }
        let weights = try reader.int8s()
        var weightFracs: [Int8]?
        if reader.version >= 2, try reader.flag() { weightFracs = try reader.int8s() }
        var precision = RoutingPrecision.q7
        if reader.version >= 3 {
            let bits = try reader.count()
            guard let chosen = RoutingPrecision.allCases.first(where: { $0.bits == bits }) else {
                throw .malformed("layer '\(layer.name)': \(bits)-bit routing, not 8 or 16")
            }
            precision = chosen
        }
        let capsule = QuantizedCapsule(
            outputs: sizes[0], dimension: sizes[1], inputs: sizes[2], inputDimension: sizes[3], weights: weights,
            inputFrac: formats[0], weightFrac: formats[1], weightFracs: weightFracs, predictionFrac: formats[2],
            iterations: iterations, precision: precision)
        try layer.checkCapsuleShapes(sizes, weights: capsule.weights.count)
        guard weightFracs.map({ $0.count == capsule.outputs }) ?? true else {
            throw .malformed("layer '\(layer.name)': the capsule layer's sizes disagree")
        }
        for frac in weightFracs ?? [] {
            try QuantizedModelFile.checkFormat(Int(frac), of: "layer '\(layer.name)': an output capsule's weights")
        }
        return capsule
    }

    public func encode(to writer: inout ModelFileWriter) {
        writer.ints([outputs, dimension, inputs, inputDimension])
        writer.ints([inputFrac, weightFrac, predictionFrac])
        writer.count(iterations.count)
        for iteration in iterations {
            writer.ints([iteration.logitFrac, iteration.sumFrac, iteration.outputFrac, iteration.agreementFrac])
        }
        writer.int8s(weights)
        guard writer.version >= 2 else {
            precondition(weightFracs == nil, "a version 1 model file has no per-capsule formats")
            return
        }
        writer.flag(weightFracs != nil)
        if let weightFracs { writer.int8s(weightFracs) }
        guard writer.version >= 3 else {
            precondition(precision == .q7, "a model file before version 3 has no 16-bit routing")
            return
        }
        writer.count(precision.bits)
    }

    // MARK: - Engine

    /// The predictions, the weighted sums of every iteration and the agreements of all but the last.
    public func macs(_ layer: QuantizedLayer) -> Int {
        weights.count + (2 * iterations.count - 1) * outputs * inputs * dimension
    }

    public func phaseMacs(_ layer: QuantizedLayer) -> [RoutingPhase: Int] {
        let routes = outputs * inputs * dimension
        return [.predictions: weights.count, .agreements: (iterations.count - 1) * routes, .weightedSums: iterations.count * routes]
    }

    public func arenaNeed(_ layer: QuantizedLayer, routing: RoutingMemory, cores: Int) -> ArenaNeed {
        var dims = cDims
        let formats = iterations.map(\.cFormats)
        let bytes = formats.withUnsafeBufferPointer { formats in
            var params = parameters(iterations: formats.baseAddress, routing: routing)
            return Int(max(capsnet_capsule_layer_q7_split_get_buffer_size(&params, &dims, Int32(cores)), 0))
        }
        return ArenaNeed(scratchBytes: bytes)
    }

    public var splitsOverCores: Bool { true }

    public func run(_ call: KernelCall) -> capsnet_status {
        var dims = cDims
        var context = call.context
        var split = call.split
        return iterations.map(\.cFormats).withUnsafeBufferPointer { formats in
            var params = parameters(iterations: formats.baseAddress, routing: call.routing)
            return weights.withUnsafeBufferPointer { weights in
                withOptionalPointer(weightFracs) { weightFracs in
                    params.weight_fracs = weightFracs
                    return capsnet_capsule_layer_q7_split(
                        &context, &params, &dims, call.input, weights.baseAddress, call.output, &split)
                }
            }
        }
    }

    /// The kernel's parameters, with `iterations` pointing at this layer's formats.
    func parameters(
        iterations: UnsafePointer<capsnet_routing_formats>?, routing: RoutingMemory
    ) -> capsnet_capsule_params {
        capsnet_capsule_params(
            input_frac: Int32(inputFrac), weight_frac: Int32(weightFrac), prediction_frac: Int32(predictionFrac),
            routings: Int32(self.iterations.count), iterations: iterations, memory: routing.cValue, weight_fracs: nil,
            precision: precision.cValue)
    }

    var cDims: capsnet_capsule_dims {
        capsnet_capsule_dims(
            num_inputs: Int32(inputs), input_dim: Int32(inputDimension), num_outputs: Int32(outputs),
            output_dim: Int32(dimension))
    }

    // MARK: - Export

    public func lower(_ layer: QuantizedLayer, _ context: LoweringContext) -> LoweredLayer {
        let formats = iterations.map { iteration in
            CStruct([
                ("logit_frac", .int(iteration.logitFrac)), ("sum_frac", .int(iteration.sumFrac)),
                ("output_frac", .int(iteration.outputFrac)), ("agreement_frac", .int(iteration.agreementFrac)),
            ])
        }
        let params = CStruct([
            ("input_frac", .int(inputFrac)), ("weight_frac", .int(weightFrac)),
            ("prediction_frac", .int(predictionFrac)), ("routings", .int(iterations.count)),
            ("iterations", .symbol(context.name("iterations"))), ("memory", .symbol(context.routing.cName)),
            ("weight_fracs", .symbol(weightFracs == nil ? "NULL" : context.name("weight_fracs"))),
            ("precision", .symbol(precision.cName)),
        ])
        let dims = CStruct([
            ("num_inputs", .int(inputs)), ("input_dim", .int(inputDimension)), ("num_outputs", .int(outputs)),
            ("output_dim", .int(dimension)),
        ])
        var constants = [
            CConstant(
                name: context.name("weights"), type: "int8_t", value: .int8s(weights),
                comment: "\(layer.name) (\(layer.className)): W [\(outputs)][\(inputs)][\(dimension)]"
                    + "[\(inputDimension)]"
                    + (weightFracs == nil
                        ? " in \(QFormat(fractionalBits: weightFrac))" : ", each output capsule's in its own format"))
        ]
        if let weightFracs {
            constants.append(
                CConstant(
                    name: context.name("weight_fracs"), type: "int8_t", value: .int8s(weightFracs),
                    comment: "\(layer.name): each output capsule's fractional bits"))
        }
        constants += [
            CConstant(name: context.name("iterations"), type: "capsnet_routing_formats", value: .structures(formats)),
            CConstant(name: context.name("params"), type: "capsnet_capsule_params", value: .structure(params)),
            CConstant(name: context.name("dims"), type: "capsnet_capsule_dims", value: .structure(dims)),
        ]
        return LoweredLayer(
            constants: constants,
            call: CCall(
                Self.kernelName,
                [
                    .context, .address(context.name("params")), .address(context.name("dims")), .input,
                    .symbol(context.name("weights")), .output,
                ]), split: .kernel)
    }
}

/// The formats of one routing iteration (see `capsnet_routing_formats`).
public struct RoutingFormats: Sendable, Equatable {
    public var logitFrac: Int
    public var sumFrac: Int
    public var outputFrac: Int
    public var agreementFrac: Int

    public init(logitFrac: Int, sumFrac: Int, outputFrac: Int, agreementFrac: Int) {
        self.logitFrac = logitFrac
        self.sumFrac = sumFrac
        self.outputFrac = outputFrac
        self.agreementFrac = agreementFrac
    }

    var cFormats: capsnet_routing_formats {
        capsnet_routing_formats(
            logit_frac: Int32(logitFrac), sum_frac: Int32(sumFrac), output_frac: Int32(outputFrac),
            agreement_frac: Int32(agreementFrac))
    }
}
