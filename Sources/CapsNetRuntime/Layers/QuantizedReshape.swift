/// The same bytes under a new shape (`Reshape`, `Flatten`, and the layers that do nothing at
/// inference): no kernel, no arena of its own.
public struct QuantizedReshape: QuantizedLayerKind {
    public static let fileTag: UInt8 = 5
    public static let kernelName = "reshape"

    public init() {}

    public static func decode(
        from reader: inout ModelFileReader, layer: QuantizedLayer.Header
    ) throws(QuantizedModelFileError.Reason) -> QuantizedReshape {
        try layer.checkSameCount()
        return QuantizedReshape()
    }

    public func encode(to writer: inout ModelFileWriter) {}

    public func macs(_ layer: QuantizedLayer) -> Int { 0 }

    public func arenaNeed(_ layer: QuantizedLayer, routing: RoutingMemory, cores: Int) -> ArenaNeed {
        ArenaNeed(inPlace: true)
    }

    public var splitsOverCores: Bool { false }

    public func run(_ call: KernelCall) -> capsnet_status { CAPSNET_OK }

    public func lower(_ layer: QuantizedLayer, _ context: LoweringContext) -> LoweredLayer { LoweredLayer(call: nil) }
}
