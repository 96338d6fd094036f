/// An instance normalization in int8 (`capsnet_instance_norm_q7`), in place: each channel by its
/// own mean and variance over the image's positions (TensorFlow Addons' `InstanceNormalization`,
/// Efficient-CapsNet's smallNORB model). Channels are the last axis.
public struct QuantizedInstanceNormalization: QuantizedLayerKind {
    public static let fileTag: UInt8 = 11
    public static let kernelName = "capsnet_instance_norm_q7"

    /// One int16 gamma per channel, channel `c` in `Q(gammaFracs[c])`.
    public var gammas: [Int16]
    public var gammaFracs: [Int8]
    /// One int16 beta per channel, in the output's format.
    public var betas: [Int16]
    /// Epsilon in Q16 of the input's squared units: `round(eps · 2^(2·inputFrac + 16))`.
    public var epsilon: UInt32

    public init(gammas: [Int16], gammaFracs: [Int8], betas: [Int16], epsilon: UInt32) {
        self.gammas = gammas
        self.gammaFracs = gammaFracs
        self.betas = betas
        self.epsilon = epsilon
    }

    public var channels: Int { gammas.count }

    /// The kernel's limits: positions per channel, and epsilon.
    public static let positionLimit = 1 << 16
    public static let epsilonLimit = 1 << 30

    // MARK: - Model file

    public static func decode(
        from reader: inout ModelFileReader, layer: QuantizedLayer.Header
    ) throws(QuantizedModelFileError.Reason) -> QuantizedInstanceNormalization {
        try layer.checkSameCount()
        let gammas = try reader.ints()
        let gammaFracs = try reader.int8s()
        let betas = try reader.ints()
        let epsilon = try reader.ints(expected: 1)[0]
        guard let channels = layer.inputShape.last, channels == gammas.count, gammaFracs.count == channels,
            betas.count == channels, layer.inputShape.reduce(1, *) / channels <= positionLimit
        else { throw .malformed("layer '\(layer.name)': the instance normalization's channels disagree with its input") }
        let int16s = Int(Int16.min)...Int(Int16.max)
        guard gammas.allSatisfy({ int16s ~= $0 }), betas.allSatisfy({ int16s ~= $0 }), (0...epsilonLimit) ~= epsilon
        else { throw .malformed("layer '\(layer.name)': a gamma, beta or epsilon of the instance normalization is out of range") }
        return QuantizedInstanceNormalization(
            gammas: gammas.map { Int16($0) }, gammaFracs: gammaFracs, betas: betas.map { Int16($0) },
            epsilon: UInt32(epsilon))
    }

    public func encode(to writer: inout ModelFileWriter) {
        writer.ints(gammas.map(Int.init))
        writer.int8s(gammaFracs)
        writer.ints(betas.map(Int.init))
        writer.ints([Int(epsilon)])
    }

    // MARK: - Engine

    public func macs(_ layer: QuantizedLayer) -> Int { 0 }

    public func arenaNeed(_ layer: QuantizedLayer, routing: RoutingMemory, cores: Int) -> ArenaNeed {
        ArenaNeed(inPlace: true)
    }

    /// One core: every value needs its channel's sums over the whole image.
    public var splitsOverCores: Bool { false }

    public func run(_ call: KernelCall) -> capsnet_status {
        withParameters(inputFrac: call.inputFrac, outputFrac: call.layer.outputFrac) { params in
            capsnet_instance_norm_q7(call.input, Int32(call.layer.inputCount / max(channels, 1)), &params)
        }
    }

    func withParameters(
        inputFrac: Int, outputFrac: Int, _ body: (inout capsnet_instance_norm_params) -> capsnet_status
    ) -> capsnet_status {
        gammas.withUnsafeBufferPointer { gammas in
            gammaFracs.withUnsafeBufferPointer { fracs in
                betas.withUnsafeBufferPointer { betas in
                    var params = capsnet_instance_norm_params(
                        channels: Int32(channels), input_frac: Int32(inputFrac), output_frac: Int32(outputFrac),
                        epsilon: epsilon, gammas: gammas.baseAddress, gamma_fracs: fracs.baseAddress,
                        betas: betas.baseAddress)
                    return body(&params)
                }
            }
        }
    }

    // MARK: - Export

    public func lower(_ layer: QuantizedLayer, _ context: LoweringContext) -> LoweredLayer {
        let parameters = CStruct([
            ("channels", .int(channels)), ("input_frac", .int(context.inputFrac)),
            ("output_frac", .int(layer.outputFrac)), ("epsilon", .int(Int(epsilon))),
            ("gammas", .symbol(context.name("gammas"))), ("gamma_fracs", .symbol(context.name("gamma_fracs"))),
            ("betas", .symbol(context.name("betas"))),
        ])
        return LoweredLayer(
            constants: [
                CConstant(
                    name: context.name("gammas"), type: "int16_t", value: .int16s(gammas),
                    comment: "per-channel gammas, channel c in Q(gamma_fracs[c])"),
                CConstant(name: context.name("gamma_fracs"), type: "int8_t", value: .int8s(gammaFracs)),
                CConstant(
                    name: context.name("betas"), type: "int16_t", value: .int16s(betas),
                    comment: "per-channel betas in the output's format"),
                CConstant(
                    name: context.name("params"), type: "capsnet_instance_norm_params", value: .structure(parameters)),
            ],
            call: CCall(Self.kernelName, [.input, .int(layer.inputCount / max(channels, 1)), .address(context.name("params"))]))
    }
}
