/// Where each layer's input, output and scratch live in the engine's one arena.
///
/// A chain only ever needs a layer's input, its output and its scratch at once. Outputs go
/// alternately to the bottom and the top of the arena, scratch between them, so the arena is
/// exactly the largest `input + scratch + output` of any layer (plus alignment of the scratch);
/// layers that work in place (ReLU, reshape) leave their input where it is.
public struct ArenaPlan: Sendable, Equatable {
    /// One layer's share of the arena.
    public struct LayerMemory: Sendable, Equatable {
        public var name: String
        public var inputOffset: Int
        public var inputBytes: Int
        public var outputOffset: Int
        public var outputBytes: Int
        public var scratchOffset: Int
        public var scratchBytes: Int
        /// Bytes in use while the layer runs.
        public var peakBytes: Int
    }

    /// The arena size: the RAM peak of one inference, activations plus scratch.
    public var bytes: Int
    public var layers: [LayerMemory]
    /// Where the input image goes.
    public var inputOffset: Int { layers.first?.inputOffset ?? 0 }
    /// Where the output ends up.
    public var outputOffset: Int { layers.last?.outputOffset ?? 0 }

    /// Alignment of the scratch: it holds 32-bit tables.
    public static let scratchAlignment = 8

    /// The plan for `cores` cores running the model together, the capsule layers with `routing`.
    public init(_ model: QuantizedModel, routing: RoutingMemory = .keepPredictions, cores: Int = 1) {
        let needs = model.layers.map { $0.kind.arenaNeed($0, routing: routing, cores: cores) }
        let align = { (bytes: Int) in
            (bytes + Self.scratchAlignment - 1) / Self.scratchAlignment * Self.scratchAlignment
        }
        let size =
            zip(model.layers, needs).map { layer, need in
                need.inPlace ? layer.inputCount : align(layer.inputCount) + align(need.scratchBytes) + layer.outputCount
            }.max() ?? model.inputShape.reduce(1, *)

        var layers: [LayerMemory] = []
        var atBottom = true  // where the current tensor sits
        var offset = 0
        for (layer, need) in zip(model.layers, needs) {
            var memory = LayerMemory(
                name: layer.name, inputOffset: offset, inputBytes: layer.inputCount, outputOffset: offset,
                outputBytes: layer.outputCount, scratchOffset: 0, scratchBytes: need.scratchBytes,
                peakBytes: layer.inputCount)
            if !need.inPlace {
                let bottomSize = atBottom ? layer.inputCount : layer.outputCount
                memory.scratchOffset = align(bottomSize)
                memory.outputOffset = atBottom ? size - layer.outputCount : 0
                memory.peakBytes = layer.inputCount + need.scratchBytes + layer.outputCount
                atBottom.toggle()
                offset = memory.outputOffset
            }
            layers.append(memory)
        }
        bytes = size
        self.layers = layers
    }
}
