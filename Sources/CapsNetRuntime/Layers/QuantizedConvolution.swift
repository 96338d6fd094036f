/// A 2-D convolution in int8 (`capsnet_conv_hwc_q7`), HWC, with its activation applied as each
/// output value is requantized; or, inside Efficient-CapsNet's primary capsules, a depthwise one
/// (`capsnet_depthwise_conv_hwc_q7`: one filter per channel).
public struct QuantizedConvolution: QuantizedLayerKind {
    public static let fileTag: UInt8 = 0
    public static let kernelName = "capsnet_conv_hwc_q7"

    public var kernelHeight: Int
    public var kernelWidth: Int
    public var strideY: Int
    public var strideX: Int
    public var padTop: Int
    public var padLeft: Int
    public var outputHeight: Int
    public var outputWidth: Int
    public var inputChannels: Int
    public var filters: Int
    /// Filters in OHWI order, `[filters][kernelHeight][kernelWidth][inputChannels]`.
    public var weights: [Int8]
    public var bias: [Int8]?
    public var inputFrac: Int
    /// The weights' format, or with `weightFracs` the smallest of the filters' formats.
    public var weightFrac: Int
    /// One format per filter (output channel), or nil: every filter in `weightFrac`.
    public var weightFracs: [Int8]?
    public var biasFrac: Int
    /// The convolution's own output format (before squash, for primary capsules).
    public var outputFrac: Int
    public var activation: Activation
    /// Whether output channel c is input channel c convolved with its own filter (`filters` equals
    /// `inputChannels`, and `weights` are `[kernelHeight][kernelWidth][inputChannels]`). The kind
    /// that holds the convolution implies it; it is not stored in the file.
    public var depthwise: Bool

    public init(
        kernelHeight: Int, kernelWidth: Int, strideY: Int, strideX: Int, padTop: Int, padLeft: Int,
        outputHeight: Int, outputWidth: Int, inputChannels: Int, filters: Int, weights: [Int8], bias: [Int8]?,
        inputFrac: Int, weightFrac: Int, weightFracs: [Int8]? = nil, biasFrac: Int, outputFrac: Int,
        activation: Activation, depthwise: Bool = false
    ) {
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        self.strideY = strideY
        self.strideX = strideX
        self.padTop = padTop
        self.padLeft = padLeft
        self.outputHeight = outputHeight
        self.outputWidth = outputWidth
        self.inputChannels = inputChannels
        self.filters = filters
        self.weights = weights
        self.bias = bias
        self.inputFrac = inputFrac
        self.weightFrac = weightFrac
        self.weightFracs = weightFracs
        self.biasFrac = biasFrac
        self.outputFrac = outputFrac
        self.activation = activation
        self.depthwise = depthwise
    }

    /// The output `[Ho, Wo, filters]`.
    public var outputShape: [Int] { [outputHeight, outputWidth, filters] }

    // MARK: - Model file

    public static func decode(
        from reader: inout ModelFileReader, layer: QuantizedLayer.Header
    ) throws(QuantizedModelFileError.Reason) -> QuantizedConvolution {
        let convolution = try read(&reader, layer: layer)
        guard layer.outputShape == convolution.outputShape else {
            throw .malformed("layer '\(layer.name)': the convolution's sizes disagree")
        }
        return convolution
    }

    public func encode(to writer: inout ModelFileWriter) {
        writer.ints([kernelHeight, kernelWidth, strideY, strideX, padTop, padLeft, outputHeight, outputWidth])
        writer.ints([inputChannels, filters, inputFrac, weightFrac, biasFrac, outputFrac])
        activation.encode(to: &writer)
        writer.int8s(weights)
        writer.flag(bias != nil)
        if let bias { writer.int8s(bias) }
        guard writer.version >= 2 else {
            precondition(weightFracs == nil, "a version 1 model file has no per-filter formats")
            return
        }
        writer.flag(weightFracs != nil)
        if let weightFracs { writer.int8s(weightFracs) }
    }

    /// The fields `encode` writes, checked against the layer's input; the primary capsule layers,
    /// which hold a convolution, read them the same way.
    static func read(
        _ reader: inout ModelFileReader, layer: QuantizedLayer.Header, depthwise: Bool = false
    ) throws(QuantizedModelFileError.Reason) -> QuantizedConvolution {
        let geometry = try reader.ints(expected: 8)
        let sizes = try reader.ints(expected: 6)
        let activation = try Activation.decode(from: &reader, layer: layer)
        let weights = try reader.int8s()
        let bias = try reader.flag() ? try reader.int8s() : nil
        var weightFracs: [Int8]?
        if reader.version >= 2, try reader.flag() { weightFracs = try reader.int8s() }
        let convolution = QuantizedConvolution(
            kernelHeight: geometry[0], kernelWidth: geometry[1], strideY: geometry[2], strideX: geometry[3],
            padTop: geometry[4], padLeft: geometry[5], outputHeight: geometry[6], outputWidth: geometry[7],
            inputChannels: sizes[0], filters: sizes[1], weights: weights, bias: bias, inputFrac: sizes[2],
            weightFrac: sizes[3], weightFracs: weightFracs, biasFrac: sizes[4], outputFrac: sizes[5],
            activation: activation, depthwise: depthwise)
        try layer.checkSizes(
            [geometry[0], geometry[1], geometry[2], geometry[3], geometry[6], geometry[7], sizes[0], sizes[1]],
            "the convolution")
        try layer.checkInputFormat(convolution.inputFrac)
        guard layer.inputShape.count == 3, convolution.inputChannels == layer.inputShape[2],
            !depthwise || convolution.filters == convolution.inputChannels,
            convolution.weights.count == convolution.weightCount,
            convolution.bias.map({ $0.count == convolution.filters }) ?? true,
            convolution.weightFracs.map({ $0.count == convolution.filters }) ?? true
        else { throw .malformed("layer '\(layer.name)': the convolution's sizes disagree") }
        for frac in convolution.weightFracs ?? [] {
            try QuantizedModelFile.checkFormat(Int(frac), of: "layer '\(layer.name)': a filter's weights")
        }
        // The kernel's own rule (check_axis in its C file): padding inside the window, and every
        // window starting inside the input.
        for (input, kernel, stride, padding, output) in [
            (layer.inputShape[0], geometry[0], geometry[2], geometry[4], geometry[6]),
            (layer.inputShape[1], geometry[1], geometry[3], geometry[5], geometry[7]),
        ] where !(0..<kernel ~= padding) || (output - 1) * stride - padding > input - 1 {
            throw .malformed("layer '\(layer.name)': the convolution's windows do not fit its input")
        }
        return convolution
    }

    // MARK: - Engine

    /// Values in `weights`: every filter's window, over one channel when depthwise.
    var weightCount: Int { filters * kernelHeight * kernelWidth * (depthwise ? 1 : inputChannels) }

    public func macs(_ layer: QuantizedLayer) -> Int { outputHeight * outputWidth * weightCount }

    /// The kernel's scratch; the full convolution's kernel also prepares a filter bank in any spare.
    public func arenaNeed(_ layer: QuantizedLayer, routing: RoutingMemory, cores: Int) -> ArenaNeed {
        ArenaNeed(scratchBytes: scratchBytes(inputShape: layer.inputShape, cores: cores), usesSpareScratch: !depthwise)
    }

    public var splitsOverCores: Bool { true }

    public func run(_ call: KernelCall) -> capsnet_status {
        var params = parameters
        var inputDims = capsnet_hwc(call.layer.inputShape)
        var outputDims = capsnet_hwc(outputShape)
        var context = call.context
        var split = call.split
        return withArrays { weights, bias, weightFracs in
            params.weight_fracs = weightFracs
            return (depthwise ? capsnet_depthwise_conv_hwc_q7_split : capsnet_conv_hwc_q7_split)(
                &context, &params, &inputDims, call.input, weights, bias, &outputDims, call.output, &split)
        }
    }

    /// `body` with the weights, the bias (or nil) and the per-filter formats (or nil) as C arrays.
    func withArrays(
        _ body: (UnsafePointer<Int8>?, UnsafePointer<Int8>?, UnsafePointer<Int8>?) -> capsnet_status
    ) -> capsnet_status {
        weights.withUnsafeBufferPointer { weights in
            withOptionalPointer(bias) { bias in
                withOptionalPointer(weightFracs) { weightFracs in body(weights.baseAddress, bias, weightFracs) }
            }
        }
    }

    /// The kernel's parameters.
    var parameters: capsnet_conv_params {
        capsnet_conv_params(
            kernel: capsnet_hw(h: Int32(kernelHeight), w: Int32(kernelWidth)),
            stride: capsnet_hw(h: Int32(strideY), w: Int32(strideX)),
            padding: capsnet_hw(h: Int32(padTop), w: Int32(padLeft)), input_frac: Int32(inputFrac),
            weight_frac: Int32(weightFrac), bias_frac: Int32(biasFrac), output_frac: Int32(outputFrac),
            activation: activation.cValue, weight_fracs: nil)
    }

    /// `capsnet_conv_hwc_q7_split_get_buffer_size` for this convolution on `cores` cores; the
    /// primary capsule layer around it needs the same.
    func scratchBytes(inputShape: [Int], cores: Int) -> Int {
        var params = parameters
        var inputDims = capsnet_hwc(inputShape)
        let companion =
            depthwise ? capsnet_depthwise_conv_hwc_q7_split_get_buffer_size : capsnet_conv_hwc_q7_split_get_buffer_size
        return Int(max(companion(&params, &inputDims, Int32(cores)), 0))
    }

    // MARK: - Export

    public func lower(_ layer: QuantizedLayer, _ context: LoweringContext) -> LoweredLayer {
        var constants = weightConstants(layer, context)
        constants.append(
            CConstant(name: context.name("params"), type: "capsnet_conv_params", value: .structure(cParameters(context))))
        constants += shapeConstants(layer, context)
        let function = depthwise ? "capsnet_depthwise_conv_hwc_q7" : Self.kernelName
        return LoweredLayer(constants: constants, call: call(function, context), split: .kernel)
    }

    /// The weights and the bias, in flash.
    func weightConstants(_ layer: QuantizedLayer, _ context: LoweringContext) -> [CConstant] {
        var constants = [
            CConstant(
                name: context.name("weights"), type: "int8_t", value: .int8s(weights),
                comment: "\(layer.name) (\(layer.className)): weights "
                    + (depthwise
                        ? "[\(kernelHeight)][\(kernelWidth)][\(inputChannels)], one filter per channel,"
                        : "OHWI [\(filters)][\(kernelHeight)][\(kernelWidth)][\(inputChannels)]")
                    + (weightFracs == nil ? " in \(QFormat(fractionalBits: weightFrac))" : ", each filter in its own format"))
        ]
        if let bias {
            constants.append(CConstant(name: context.name("bias"), type: "int8_t", value: .int8s(bias)))
        }
        if let weightFracs {
            constants.append(
                CConstant(
                    name: context.name("weight_fracs"), type: "int8_t", value: .int8s(weightFracs),
                    comment: "\(layer.name): each filter's fractional bits"))
        }
        return constants
    }

    /// The input and output shapes.
    func shapeConstants(_ layer: QuantizedLayer, _ context: LoweringContext) -> [CConstant] {
        [
            CConstant(name: context.name("in"), type: "capsnet_hwc", value: .structure(.hwc(layer.inputShape))),
            CConstant(name: context.name("out"), type: "capsnet_hwc", value: .structure(.hwc(outputShape))),
        ]
    }

    /// `function(&ctx, &params, &in, input, weights, bias, &out, output)`.
    func call(_ function: String, _ context: LoweringContext) -> CCall {
        CCall(
            function,
            [
                .context, .address(context.name("params")), .address(context.name("in")), .input,
                .symbol(context.name("weights")), .symbol(bias == nil ? "NULL" : context.name("bias")),
                .address(context.name("out")), .output,
            ])
    }

    /// `capsnet_conv_params` as a C initializer (the per-filter formats are `weightConstants`' array).
    func cParameters(_ context: LoweringContext) -> CStruct {
        let clamp = activation.cValue
        return CStruct([
            ("kernel", .structure(.hw(kernelHeight, kernelWidth))), ("stride", .structure(.hw(strideY, strideX))),
            ("padding", .structure(.hw(padTop, padLeft))), ("input_frac", .int(inputFrac)),
            ("weight_frac", .int(weightFrac)), ("bias_frac", .int(biasFrac)), ("output_frac", .int(outputFrac)),
            (
                "activation",
                .structure(
                    CStruct([("min", .int(Int(clamp.min))), ("max", .int(Int(clamp.max))), ("leak", .int(Int(clamp.leak)))]))
            ),
            ("weight_fracs", .symbol(weightFracs == nil ? "NULL" : context.name("weight_fracs"))),
        ])
    }
}
