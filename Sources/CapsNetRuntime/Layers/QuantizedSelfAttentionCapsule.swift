/// A capsule layer with Efficient-CapsNet's self-attention routing in int8
/// (`capsnet_self_attention_capsule_q7`): prediction vectors `u_hat = W u`, agreements with their
/// sum, a softmax over the output capsules plus a bias, weighted sums and the exponential squash,
/// each tensor in its own format. The output is in the layer's output format.
public struct QuantizedSelfAttentionCapsule: QuantizedLayerKind {
    public static let fileTag: UInt8 = 10
    public static let kernelName = "capsnet_self_attention_capsule_q7"

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
    /// `b[J][I]`.
    public var bias: [Int8]
    /// The formats of u, W, u_hat, the agreements, b, the couplings and the sums (see
    /// `capsnet_self_attention_params`).
    public var inputFrac, weightFrac, predictionFrac, agreementFrac, biasFrac, couplingFrac, sumFrac: Int

    public init(
        outputs: Int, dimension: Int, inputs: Int, inputDimension: Int, weights: [Int8], bias: [Int8],
        inputFrac: Int, weightFrac: Int, predictionFrac: Int, agreementFrac: Int, biasFrac: Int, couplingFrac: Int,
        sumFrac: Int
    ) {
        self.outputs = outputs
        self.dimension = dimension
        self.inputs = inputs
        self.inputDimension = inputDimension
        self.weights = weights
        self.bias = bias
        self.inputFrac = inputFrac
        self.weightFrac = weightFrac
        self.predictionFrac = predictionFrac
        self.agreementFrac = agreementFrac
        self.biasFrac = biasFrac
        self.couplingFrac = couplingFrac
        self.sumFrac = sumFrac
    }

    // MARK: - Model file

    public static func decode(
        from reader: inout ModelFileReader, layer: QuantizedLayer.Header
    ) throws(QuantizedModelFileError.Reason) -> QuantizedSelfAttentionCapsule {
        let sizes = try layer.readCapsuleSizes(&reader)
        let formats = try reader.ints(expected: 7)
        try layer.checkInputFormat(formats[0])
        let capsule = QuantizedSelfAttentionCapsule(
            outputs: sizes[0], dimension: sizes[1], inputs: sizes[2], inputDimension: sizes[3],
            weights: try reader.int8s(), bias: try reader.int8s(), inputFrac: formats[0], weightFrac: formats[1],
            predictionFrac: formats[2], agreementFrac: formats[3], biasFrac: formats[4], couplingFrac: formats[5],
            sumFrac: formats[6])
        try layer.checkCapsuleShapes(sizes, weights: capsule.weights.count, consistent: capsule.bias.count == sizes[0] * sizes[2])
        return capsule
    }

    public func encode(to writer: inout ModelFileWriter) {
        writer.ints([outputs, dimension, inputs, inputDimension])
        writer.ints([inputFrac, weightFrac, predictionFrac, agreementFrac, biasFrac, couplingFrac, sumFrac])
        writer.int8s(weights)
        writer.int8s(bias)
    }

    // MARK: - Engine

    /// The predictions, the agreements and the weighted sums.
    public func macs(_ layer: QuantizedLayer) -> Int { weights.count + 2 * outputs * inputs * dimension }

    public func phaseMacs(_ layer: QuantizedLayer) -> [RoutingPhase: Int] {
        let routes = outputs * inputs * dimension
        return [.predictions: weights.count, .agreements: routes, .weightedSums: routes]
    }

    /// The predictions are always kept: the agreements need all of them before the first sum.
    public func arenaNeed(_ layer: QuantizedLayer, routing: RoutingMemory, cores: Int) -> ArenaNeed {
        var dims = cDims
        return ArenaNeed(scratchBytes: Int(max(capsnet_self_attention_capsule_q7_split_get_buffer_size(&dims, Int32(cores)), 0)))
    }

    public var splitsOverCores: Bool { true }

    public func run(_ call: KernelCall) -> capsnet_status {
        var dims = cDims
        var params = parameters(outputFrac: call.layer.outputFrac)
        var context = call.context
        var split = call.split
        return weights.withUnsafeBufferPointer { weights in
            bias.withUnsafeBufferPointer { bias in
                capsnet_self_attention_capsule_q7_split(
                    &context, &params, &dims, call.input, weights.baseAddress, bias.baseAddress, call.output, &split)
            }
        }
    }

    func parameters(outputFrac: Int) -> capsnet_self_attention_params {
        capsnet_self_attention_params(
            input_frac: Int32(inputFrac), weight_frac: Int32(weightFrac), prediction_frac: Int32(predictionFrac),
            agreement_frac: Int32(agreementFrac), bias_frac: Int32(biasFrac), coupling_frac: Int32(couplingFrac),
            sum_frac: Int32(sumFrac), output_frac: Int32(outputFrac))
    }

    var cDims: capsnet_capsule_dims {
        capsnet_capsule_dims(
            num_inputs: Int32(inputs), input_dim: Int32(inputDimension), num_outputs: Int32(outputs),
            output_dim: Int32(dimension))
    }

    // MARK: - Export

    public func lower(_ layer: QuantizedLayer, _ context: LoweringContext) -> LoweredLayer {
        let params = CStruct([
            ("input_frac", .int(inputFrac)), ("weight_frac", .int(weightFrac)),
            ("prediction_frac", .int(predictionFrac)), ("agreement_frac", .int(agreementFrac)),
            ("bias_frac", .int(biasFrac)), ("coupling_frac", .int(couplingFrac)), ("sum_frac", .int(sumFrac)),
            ("output_frac", .int(layer.outputFrac)),
        ])
        let dims = CStruct([
            ("num_inputs", .int(inputs)), ("input_dim", .int(inputDimension)), ("num_outputs", .int(outputs)),
            ("output_dim", .int(dimension)),
        ])
        return LoweredLayer(
            constants: [
                CConstant(
                    name: context.name("weights"), type: "int8_t", value: .int8s(weights),
                    comment: "\(layer.name) (\(layer.className)): W [\(outputs)][\(inputs)][\(dimension)]"
                        + "[\(inputDimension)] in \(QFormat(fractionalBits: weightFrac))"),
                CConstant(
                    name: context.name("bias"), type: "int8_t", value: .int8s(bias),
                    comment: "b [\(outputs)][\(inputs)] in \(QFormat(fractionalBits: biasFrac))"),
                CConstant(name: context.name("params"), type: "capsnet_self_attention_params", value: .structure(params)),
                CConstant(name: context.name("dims"), type: "capsnet_capsule_dims", value: .structure(dims)),
            ],
            call: CCall(
                Self.kernelName,
                [
                    .context, .address(context.name("params")), .address(context.name("dims")), .input,
                    .symbol(context.name("weights")), .symbol(context.name("bias")), .output,
                ]), split: .kernel)
    }
}
