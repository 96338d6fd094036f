/// Squash of each capsule in int8 (`capsnet_squash_q7`), in place: a squash that is a layer of its
/// own (a `Lambda`), not the last step of a primary capsule or capsule layer. Capsules are the
/// last axis.
public struct QuantizedSquash: QuantizedLayerKind {
    public static let fileTag: UInt8 = 8
    public static let kernelName = "capsnet_squash_q7"

    public init() {}

    public static func decode(
        from reader: inout ModelFileReader, layer: QuantizedLayer.Header
    ) throws(QuantizedModelFileError.Reason) -> QuantizedSquash {
        guard layer.inputShape.count == 2, layer.outputShape == layer.inputShape else {
            throw .malformed("layer '\(layer.name)': a squash takes capsules [count, dimension], not \(layer.inputShape)")
        }
        return QuantizedSquash()
    }

    public func encode(to writer: inout ModelFileWriter) {}

    public func macs(_ layer: QuantizedLayer) -> Int { 0 }

    public func arenaNeed(_ layer: QuantizedLayer, routing: RoutingMemory, cores: Int) -> ArenaNeed {
        ArenaNeed(inPlace: true)
    }

    public var splitsOverCores: Bool { true }

    /// Each core a contiguous share of the capsules.
    public func run(_ call: KernelCall) -> capsnet_status {
        let dimension = call.layer.inputShape[1]
        let share = call.share(of: call.layer.inputShape[0])
        guard !share.isEmpty else { return CAPSNET_OK }
        let start = call.input + share.lowerBound * dimension
        return capsnet_squash_q7(
            start, Int32(share.count), Int32(dimension), Int32(call.inputFrac), Int32(call.layer.outputFrac), start)
    }

    public func lower(_ layer: QuantizedLayer, _ context: LoweringContext) -> LoweredLayer {
        LoweredLayer(
            call: CCall(
                Self.kernelName,
                [
                    .input, .items(layer.inputShape[0]), .int(layer.inputShape[1]), .int(context.inputFrac),
                    .int(layer.outputFrac), .input,
                ]), split: .items(itemBytes: layer.inputShape[1]))
    }
}
