/// Where each layer's input, output and scratch live in the engine's one arena.
///
/// A chain only ever needs a layer's input, its output and its scratch at once. Outputs go
/// alternately to the bottom and the top of the arena, scratch between them, so the arena is
/// exactly the largest `input + scratch + output` of any layer (plus alignment of the scratch);
/// layers that work in place (ReLU, reshape) leave their input where it is. A kernel that runs
/// faster with more scratch (the convolution's filter bank) is also given the bytes between its
/// scratch and the tensor at the top, which the arena has anyway: it never grows for them.
public struct ArenaPlan: Sendable, Equatable {
    /// One layer's share of the arena.
    public struct LayerMemory: Sendable, Equatable {
        public var name: String
        public var inputOffset: Int
        public var inputBytes: Int
        public var outputOffset: Int
        public var outputBytes: Int
        public var scratchOffset: Int
        /// The scratch the kernel needs.
        public var scratchBytes: Int
        /// Arena bytes after the scratch that no tensor uses while the layer runs, given to kernels
        /// that run faster with them (``ArenaNeed/usesSpareScratch``); 0 for the others.
        public var spareBytes: Int
        /// Bytes the layer needs while it runs (its spare bytes not counted).
        public var peakBytes: Int
        /// The scratch its kernel is given: what it needs and the spare bytes.
        public var kernelScratchBytes: Int { scratchBytes + spareBytes }
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
                outputBytes: layer.outputCount, scratchOffset: 0, scratchBytes: need.scratchBytes, spareBytes: 0,
                peakBytes: layer.inputCount)
            if !need.inPlace {
                let bottomSize = atBottom ? layer.inputCount : layer.outputCount
                let topSize = atBottom ? layer.outputCount : layer.inputCount
                memory.scratchOffset = align(bottomSize)
                memory.outputOffset = atBottom ? size - layer.outputCount : 0
                memory.peakBytes = layer.inputCount + need.scratchBytes + layer.outputCount
                if need.usesSpareScratch {
                    memory.spareBytes = max(size - topSize - memory.scratchOffset - need.scratchBytes, 0)
                }
                atBottom.toggle()
                offset = memory.outputOffset
            }
            layers.append(memory)
        }
        bytes = size
        self.layers = layers
    }
}
