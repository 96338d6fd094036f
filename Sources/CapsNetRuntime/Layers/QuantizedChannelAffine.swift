/// A per-channel affine map in int8 (`capsnet_channel_affine_q7`), in place: a batch
/// normalization that the converter could not fold into a convolution. Channels are the last axis.
public struct QuantizedChannelAffine: QuantizedLayerKind {
    public static let fileTag: UInt8 = 7
    public static let kernelName = "capsnet_channel_affine_q7"

    /// One int16 scale per channel, channel `c` in `Q(scaleFracs[c])`.
    public var scales: [Int16]
    public var scaleFracs: [Int8]
    /// One offset per channel in the product's format, `inputFrac + scaleFracs[c]`.
    public var offsets: [Int32]

    public init(scales: [Int16], scaleFracs: [Int8], offsets: [Int32]) {
        self.scales = scales
        self.scaleFracs = scaleFracs
        self.offsets = offsets
    }

    public var channels: Int { scales.count }

    /// The largest offset the kernel takes: with `|x · scale| <= 2^22` and the rounding constant,
    /// the sum stays in 32 bits.
    public static let offsetLimit = 1 << 29

    // MARK: - Model file

    public static func decode(
        from reader: inout ModelFileReader, layer: QuantizedLayer.Header
    ) throws(QuantizedModelFileError.Reason) -> QuantizedChannelAffine {
        try layer.checkSameCount()
        let scales = try reader.ints()
        let scaleFracs = try reader.int8s()
        let offsets = try reader.ints()
        guard let channels = layer.inputShape.last, channels == scales.count, scaleFracs.count == channels,
            offsets.count == channels
        else { throw .malformed("layer '\(layer.name)': the affine map's channels disagree with its input") }
        guard scales.allSatisfy({ Int(Int16.min)...Int(Int16.max) ~= $0 }),
            offsets.allSatisfy({ abs($0) <= offsetLimit })
        else { throw .malformed("layer '\(layer.name)': a scale or an offset of the affine map is out of range") }
        return QuantizedChannelAffine(
            scales: scales.map { Int16($0) }, scaleFracs: scaleFracs, offsets: offsets.map { Int32($0) })
    }

    public func encode(to writer: inout ModelFileWriter) {
        writer.ints(scales.map(Int.init))
        writer.int8s(scaleFracs)
        writer.ints(offsets.map(Int.init))
    }

    // MARK: - Engine

    public func macs(_ layer: QuantizedLayer) -> Int { 0 }

    public func arenaNeed(_ layer: QuantizedLayer, routing: RoutingMemory, cores: Int) -> ArenaNeed {
        ArenaNeed(inPlace: true)
    }

    public var splitsOverCores: Bool { true }

    /// Each core a contiguous share of the positions, so that every share starts at channel 0.
    public func run(_ call: KernelCall) -> capsnet_status {
        let share = call.share(of: call.layer.inputCount / max(channels, 1))
        guard !share.isEmpty else { return CAPSNET_OK }
        return scales.withUnsafeBufferPointer { scales in
            scaleFracs.withUnsafeBufferPointer { fracs in
                offsets.withUnsafeBufferPointer { offsets in
                    var params = capsnet_channel_affine_params(
                        channels: Int32(channels), input_frac: Int32(call.inputFrac),
                        output_frac: Int32(call.layer.outputFrac), scales: scales.baseAddress,
                        scale_fracs: fracs.baseAddress, offsets: offsets.baseAddress)
                    return capsnet_channel_affine_q7(
                        call.input + share.lowerBound * channels, Int32(share.count), &params)
                }
            }
        }
    }

    // MARK: - Export

    public func lower(_ layer: QuantizedLayer, _ context: LoweringContext) -> LoweredLayer {
        let parameters = CStruct([
            ("channels", .int(channels)), ("input_frac", .int(context.inputFrac)),
            ("output_frac", .int(layer.outputFrac)), ("scales", .symbol(context.name("scales"))),
            ("scale_fracs", .symbol(context.name("scale_fracs"))), ("offsets", .symbol(context.name("offsets"))),
        ])
        return LoweredLayer(
            constants: [
                CConstant(
                    name: context.name("scales"), type: "int16_t", value: .int16s(scales),
                    comment: "per-channel scales, channel c in Q(scale_fracs[c])"),
                CConstant(name: context.name("scale_fracs"), type: "int8_t", value: .int8s(scaleFracs)),
                CConstant(
                    name: context.name("offsets"), type: "int32_t", value: .int32s(offsets),
                    comment: "per-channel offsets in the product's format"),
                CConstant(
                    name: context.name("params"), type: "capsnet_channel_affine_params", value: .structure(parameters)),
            ],
            call: CCall(Self.kernelName, [.input, .items(layer.inputCount / max(channels, 1)), .address(context.name("params"))]),
            split: .items(itemBytes: channels))
    }
}
