/// A primary capsule layer in int8 (`capsnet_primary_capsule_q7`): a convolution into the
/// pre-squash format, whose output channels are cut into capsules and squashed.
public struct QuantizedPrimaryCapsule: QuantizedLayerKind {
    public static let fileTag: UInt8 = 2
    public static let kernelName = "capsnet_primary_capsule_q7"

    public var convolution: QuantizedConvolution
    /// Values per capsule, D.
    public var capsuleDimension: Int

    public init(convolution: QuantizedConvolution, capsuleDimension: Int) {
        self.convolution = convolution
        self.capsuleDimension = capsuleDimension
    }

    // MARK: - Model file

    public static func decode(
        from reader: inout ModelFileReader, layer: QuantizedLayer.Header
    ) throws(QuantizedModelFileError.Reason) -> QuantizedPrimaryCapsule {
        try read(&reader, layer: layer, depthwise: false)
    }

    /// The fields `encode` writes, with a convolution of the given grouping.
    static func read(
        _ reader: inout ModelFileReader, layer: QuantizedLayer.Header, depthwise: Bool
    ) throws(QuantizedModelFileError.Reason) -> QuantizedPrimaryCapsule {
        let convolution = try QuantizedConvolution.read(&reader, layer: layer, depthwise: depthwise)
        let dimension = try reader.int()
        try layer.checkSizes([dimension], "the capsule dimension")
        let positions = convolution.outputHeight * convolution.outputWidth
        guard dimension > 0, convolution.filters % dimension == 0 else {
            throw .malformed("layer '\(layer.name)': \(convolution.filters) filters are not whole capsules")
        }
        guard layer.outputShape == [positions * convolution.filters / dimension, dimension] else {
            throw .malformed("layer '\(layer.name)': the convolution's sizes disagree")
        }
        return QuantizedPrimaryCapsule(convolution: convolution, capsuleDimension: dimension)
    }

    public func encode(to writer: inout ModelFileWriter) {
        convolution.encode(to: &writer)
        writer.int(capsuleDimension)
    }

    // MARK: - Engine

    public func macs(_ layer: QuantizedLayer) -> Int { convolution.macs(layer) }

    /// The convolution's scratch: the squash works in place.
    public func arenaNeed(_ layer: QuantizedLayer, routing: RoutingMemory, cores: Int) -> ArenaNeed {
        convolution.arenaNeed(layer, routing: routing, cores: cores)
    }

    public var splitsOverCores: Bool { true }

    public func run(_ call: KernelCall) -> capsnet_status {
        var params = parameters(outputFrac: call.layer.outputFrac)
        var inputDims = capsnet_hwc(call.layer.inputShape)
        var outputDims = capsnet_hwc(convolution.outputShape)
        var context = call.context
        var split = call.split
        return convolution.withArrays { weights, bias, weightFracs in
            params.conv.weight_fracs = weightFracs
            return (convolution.depthwise ? capsnet_depthwise_primary_capsule_q7_split : capsnet_primary_capsule_q7_split)(
                &context, &params, &inputDims, call.input, weights, bias, &outputDims, call.output, &split)
        }
    }

    func parameters(outputFrac: Int) -> capsnet_primary_capsule_params {
        capsnet_primary_capsule_params(
            conv: convolution.parameters, capsule_dim: Int32(capsuleDimension), output_frac: Int32(outputFrac))
    }

    // MARK: - Export

    public func lower(_ layer: QuantizedLayer, _ context: LoweringContext) -> LoweredLayer {
        var constants = convolution.weightConstants(layer, context)
        let params = CStruct([
            ("conv", .structure(convolution.cParameters(context))), ("capsule_dim", .int(capsuleDimension)),
            ("output_frac", .int(layer.outputFrac)),
        ])
        constants.append(
            CConstant(name: context.name("params"), type: "capsnet_primary_capsule_params", value: .structure(params)))
        constants += convolution.shapeConstants(layer, context)
        let function = convolution.depthwise ? QuantizedDepthwisePrimaryCapsule.kernelName : Self.kernelName
        return LoweredLayer(constants: constants, call: convolution.call(function, context), split: .kernel)
    }
}

/// Efficient-CapsNet's primary capsule layer in int8 (`capsnet_depthwise_primary_capsule_q7`): a
/// depthwise convolution into the pre-squash format, its channels cut into capsules and given the
/// exponential squash. Its fields and file encoding are ``QuantizedPrimaryCapsule``'s, with a
/// depthwise convolution.
public struct QuantizedDepthwisePrimaryCapsule: QuantizedLayerKind {
    public static let fileTag: UInt8 = 9
    public static let kernelName = "capsnet_depthwise_primary_capsule_q7"

    public var capsules: QuantizedPrimaryCapsule

    /// `convolution` must be depthwise.
    public init(convolution: QuantizedConvolution, capsuleDimension: Int) {
        precondition(convolution.depthwise, "Efficient-CapsNet's primary capsules take a depthwise convolution")
        capsules = QuantizedPrimaryCapsule(convolution: convolution, capsuleDimension: capsuleDimension)
    }

    public static func decode(
        from reader: inout ModelFileReader, layer: QuantizedLayer.Header
    ) throws(QuantizedModelFileError.Reason) -> QuantizedDepthwisePrimaryCapsule {
        let capsules = try QuantizedPrimaryCapsule.read(&reader, layer: layer, depthwise: true)
        return QuantizedDepthwisePrimaryCapsule(
            convolution: capsules.convolution, capsuleDimension: capsules.capsuleDimension)
    }

    public func encode(to writer: inout ModelFileWriter) { capsules.encode(to: &writer) }
    public func macs(_ layer: QuantizedLayer) -> Int { capsules.macs(layer) }
    public func arenaNeed(_ layer: QuantizedLayer, routing: RoutingMemory, cores: Int) -> ArenaNeed {
        capsules.arenaNeed(layer, routing: routing, cores: cores)
    }
    public var splitsOverCores: Bool { true }
    public func run(_ call: KernelCall) -> capsnet_status { capsules.run(call) }
    public func lower(_ layer: QuantizedLayer, _ context: LoweringContext) -> LoweredLayer {
        capsules.lower(layer, context)
    }
}
