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

    static let scratchAlignment = 8

    /// The plan for `cores` cores running the model together, the capsule layers with `routing`.
    init(_ model: QuantizedModel, routing: RoutingMemory = .keepPredictions, cores: Int = 1) {
        struct Need {
            var input: Int
            var output: Int
            var scratch: Int
            var inPlace: Bool
        }
        var needs: [Need] = []
        for layer in model.layers {
            let input = layer.inputShape.reduce(1, *)
            let output = layer.outputShape.reduce(1, *)
            switch layer.operation {
            case .relu, .reshape:
                needs.append(Need(input: input, output: output, scratch: 0, inPlace: true))
            case .capsule(let capsule):
                needs.append(
                    Need(
                        input: input, output: output, scratch: capsule.scratchBytes(routing, cores: cores),
                        inPlace: false))
            case .convolution(let convolution):
                needs.append(
                    Need(
                        input: input, output: output,
                        scratch: convolution.scratchBytes(inputShape: layer.inputShape, cores: cores), inPlace: false))
            case .primaryCapsule(let primary):
                needs.append(
                    Need(
                        input: input, output: output,
                        scratch: primary.convolution.scratchBytes(inputShape: layer.inputShape, cores: cores),
                        inPlace: false))
            case .length:
                needs.append(Need(input: input, output: output, scratch: 0, inPlace: false))
            }
        }
        let align = { (bytes: Int) in
            (bytes + Self.scratchAlignment - 1) / Self.scratchAlignment * Self.scratchAlignment
        }
        let size =
            needs.map { $0.inPlace ? $0.input : align($0.input) + align($0.scratch) + $0.output }.max()
            ?? model.inputShape.reduce(1, *)

        var layers: [LayerMemory] = []
        var atBottom = true  // where the current tensor sits
        var offset = 0
        for (layer, need) in zip(model.layers, needs) {
            var memory = LayerMemory(
                name: layer.name, inputOffset: offset, inputBytes: need.input, outputOffset: offset,
                outputBytes: need.output, scratchOffset: 0, scratchBytes: need.scratch, peakBytes: need.input)
            if !need.inPlace {
                let bottomSize = atBottom ? need.input : need.output
                memory.scratchOffset = align(bottomSize)
                memory.outputOffset = atBottom ? size - need.output : 0
                memory.peakBytes = need.input + need.scratch + need.output
                atBottom.toggle()
                offset = memory.outputOffset
            }
            layers.append(memory)
        }
        bytes = size
        self.layers = layers
    }
}

extension QuantizedCapsule {
    /// `capsnet_capsule_layer_q7_split_get_buffer_size` for this layer.
    func scratchBytes(_ routing: RoutingMemory, cores: Int) -> Int {
        var dims = cDims
        let formats = iterations.map(\.cFormats)
        return formats.withUnsafeBufferPointer { formats in
            var params = parameters(iterations: formats.baseAddress, routing: routing)
            return Int(max(capsnet_capsule_layer_q7_split_get_buffer_size(&params, &dims, Int32(cores)), 0))
        }
    }

    /// The kernel's parameters, with `iterations` pointing at this layer's formats.
    func parameters(
        iterations: UnsafePointer<capsnet_routing_formats>?, routing: RoutingMemory
    ) -> capsnet_capsule_params {
        capsnet_capsule_params(
            input_frac: Int32(inputFrac), weight_frac: Int32(weightFrac), prediction_frac: Int32(predictionFrac),
            routings: Int32(self.iterations.count), iterations: iterations, memory: routing.cValue)
    }

    var cDims: capsnet_capsule_dims {
        capsnet_capsule_dims(
            num_inputs: Int32(inputs), input_dim: Int32(inputDimension), num_outputs: Int32(outputs),
            output_dim: Int32(dimension))
    }
}
