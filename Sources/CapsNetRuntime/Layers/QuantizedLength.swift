/// The length of each capsule in int8 (`capsnet_capsule_length_q7`): `[J, D]` to `[J]`.
public struct QuantizedLength: QuantizedLayerKind {
    public static let fileTag: UInt8 = 4
    public static let kernelName = "capsnet_capsule_length_q7"

    public init() {}

    public static func decode(
        from reader: inout ModelFileReader, layer: QuantizedLayer.Header
    ) throws(QuantizedModelFileError.Reason) -> QuantizedLength {
        guard layer.inputShape.count == 2, layer.outputShape == [layer.inputShape[0]] else {
            throw .malformed("layer '\(layer.name)': lengths of \(layer.inputShape) cannot be \(layer.outputShape)")
        }
        return QuantizedLength()
    }

    public func encode(to writer: inout ModelFileWriter) {}

    public func macs(_ layer: QuantizedLayer) -> Int { 0 }

    public func arenaNeed(_ layer: QuantizedLayer, routing: RoutingMemory, cores: Int) -> ArenaNeed { ArenaNeed() }

    /// A few dozen values: not worth a share.
    public var splitsOverCores: Bool { false }

    public func run(_ call: KernelCall) -> capsnet_status {
        capsnet_capsule_length_q7(
            call.input, Int32(call.layer.inputShape[0]), Int32(call.layer.inputShape[1]), Int32(call.inputFrac),
            Int32(call.layer.outputFrac), call.output)
    }

    public func lower(_ layer: QuantizedLayer, _ context: LoweringContext) -> LoweredLayer {
        LoweredLayer(
            call: CCall(
                Self.kernelName,
                [
                    .input, .int(layer.inputShape[0]), .int(layer.inputShape[1]), .int(context.inputFrac),
                    .int(layer.outputFrac), .output,
                ]))
    }
}
