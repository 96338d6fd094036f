/// A leaky ReLU layer in int8 (`capsnet_leaky_relu_q7`), in place; the format is unchanged. A leaky
/// ReLU that is a convolution's own activation is not a layer: the convolution applies it to each
/// accumulator before rounding.
public struct QuantizedLeakyReLU: QuantizedLayerKind {
    public static let fileTag: UInt8 = 6
    public static let kernelName = "capsnet_leaky_relu_q7"

    /// The negative slope in Q0.15 (`CAPSNET_LEAK_FRAC`).
    public var leak: Int

    public init(leak: Int) {
        self.leak = leak
    }

    public static func decode(
        from reader: inout ModelFileReader, layer: QuantizedLayer.Header
    ) throws(QuantizedModelFileError.Reason) -> QuantizedLeakyReLU {
        try layer.checkSameCount()
        return QuantizedLeakyReLU(leak: try Activation.decodeLeak(from: &reader, layer: layer))
    }

    public func encode(to writer: inout ModelFileWriter) { writer.int(leak) }

    public func macs(_ layer: QuantizedLayer) -> Int { 0 }

    public func arenaNeed(_ layer: QuantizedLayer, routing: RoutingMemory, cores: Int) -> ArenaNeed {
        ArenaNeed(inPlace: true)
    }

    public var splitsOverCores: Bool { true }

    /// Element-wise: each core a contiguous share.
    public func run(_ call: KernelCall) -> capsnet_status {
        call.inPlaceShare { capsnet_leaky_relu_q7($0, $1, Int32(leak)) }
    }

    public func lower(_ layer: QuantizedLayer, _ context: LoweringContext) -> LoweredLayer {
        LoweredLayer(
            call: CCall(Self.kernelName, [.input, .items(layer.inputCount), .int(leak)]), split: .items(itemBytes: 1))
    }
}
