/// A ReLU layer in int8 (`capsnet_relu_q7`), in place; the format is unchanged. A ReLU that is a
/// convolution's own activation is not a layer: the convolution clamps as it requantizes.
public struct QuantizedReLU: QuantizedLayerKind {
    public static let fileTag: UInt8 = 1
    public static let kernelName = "capsnet_relu_q7"

    public init() {}

    public static func decode(
        from reader: inout ModelFileReader, layer: QuantizedLayer.Header
    ) throws(QuantizedModelFileError.Reason) -> QuantizedReLU {
        try layer.checkSameCount()
        return QuantizedReLU()
    }

    public func encode(to writer: inout ModelFileWriter) {}

    public func macs(_ layer: QuantizedLayer) -> Int { 0 }

    public func arenaNeed(_ layer: QuantizedLayer, routing: RoutingMemory, cores: Int) -> ArenaNeed {
        ArenaNeed(inPlace: true)
    }

    public var splitsOverCores: Bool { true }

    /// Element-wise: each core rectifies a contiguous share.
    public func run(_ call: KernelCall) -> capsnet_status { call.inPlaceShare { capsnet_relu_q7($0, $1) } }

    public func lower(_ layer: QuantizedLayer, _ context: LoweringContext) -> LoweredLayer {
        LoweredLayer(call: CCall(Self.kernelName, [.input, .items(layer.inputCount)]), split: .items(itemBytes: 1))
    }
}
