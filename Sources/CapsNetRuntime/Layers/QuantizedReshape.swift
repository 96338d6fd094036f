/// The same bytes under a new shape (`Reshape`, `Flatten`, and the layers that do nothing at
/// inference): no kernel, no arena of its own.
public struct QuantizedReshape: QuantizedLayerKind {
    public static let fileTag: UInt8 = 5
    public static let kernelName = "reshape"

    public init() {}

    public static func decode(
        from reader: inout ModelFileReader, layer: QuantizedLayer.Header
    ) throws(QuantizedModelFileError.Reason) -> QuantizedReshape {
        guard layer.outputShape.reduce(1, *) == layer.inputShape.reduce(1, *) else {
            throw .malformed("layer '\(layer.name)' changes the number of values")
        }
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
