import Foundation
import Synchronization

/// Why the engine refused a model or an input.
public enum EngineError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A kernel refused its arguments (a format or shape the model file should not hold).
    case kernel(layer: String, KernelError)
    case inputLength(expected: Int, actual: Int)

    public var description: String {
        switch self {
        case .kernel(let layer, let error): "layer '\(layer)': \(error)"
        case .inputLength(let expected, let actual): "the model takes \(expected) input values, got \(actual)"
        }
    }
}

/// Runs a quantized model through the C kernels in one preplanned arena (`ArenaPlan`).
public struct Int8Engine: Sendable {
    public let model: QuantizedModel
    /// What the capsule layers keep of their predictions; the output is the same either way.
    public let routing: RoutingMemory
    /// The one-core arena layout.
    public let plan: ArenaPlan

    /// Plans the arena and checks every layer once on a zero input, so that a model the kernels
    /// refuse is reported here rather than in the middle of an evaluation.
    public init(_ model: QuantizedModel, routing: RoutingMemory = .keepPredictions) throws(EngineError) {
        self.model = model
        self.routing = routing
        plan = ArenaPlan(model, routing: routing)
        _ = try run([Int8](repeating: 0, count: model.inputShape.reduce(1, *)))
    }

    /// The arena size in bytes: the RAM peak of one inference on one core.
    public var ramBytes: Int { plan.bytes }

    /// The arena one inference needs on one core with either routing memory.
    public func arenaBytes(routing: RoutingMemory) -> Int {
        ArenaPlan(model, routing: routing).bytes
    }

    /// The input image in the model's input format.
    public func quantizeInput(_ image: ArraySlice<Float>) -> [Int8] {
        let format = QFormat(fractionalBits: model.inputFrac)
        return image.map { format.quantize(Double($0)) }
    }

    /// The int8 output of one int8 image.
    public func run(_ input: [Int8]) throws(EngineError) -> [Int8] {
        var arena = [UInt8](repeating: 0, count: plan.bytes)
        let result = arena.withUnsafeMutableBytes { buffer in
            Result { () throws(EngineError) in try run(input, arena: buffer) }
        }
        return try result.get().output
    }

    /// Runs the engine on every core of `team`, one image at a time, in an arena planned for the
    /// team and allocated once.
    public func runner(on team: CoreTeam) -> TeamRunner { TeamRunner(self, on: team) }

    /// One inference in `arena` (at least `plan.bytes`) on one core; with `recording`, every
    /// layer's output too.
    func run(
        _ input: [Int8], arena: UnsafeMutableRawBufferPointer, recording: Bool = false
    ) throws(EngineError) -> (output: [Int8], layers: [[Int8]]) {
        try checkLength(input)
        guard let base = arena.baseAddress, arena.count >= plan.bytes else {
            preconditionFailure("the arena is smaller than the plan")
        }
        load(input, into: base, plan: plan)
        let whole = capsnet_core_split(core_id: 0, num_cores: 1, barrier: nil, barrier_arg: nil)
        var recorded: [[Int8]] = []
        for (index, memory) in plan.layers.enumerated() {
            let status = step(index, base: base, plan: plan, split: whole)
            if status != CAPSNET_OK { throw layerError(index, status) }
            if recording {
                let bytes = UnsafeRawPointer(base + memory.outputOffset).assumingMemoryBound(to: Int8.self)
                recorded.append(Array(UnsafeBufferPointer(start: bytes, count: memory.outputBytes)))
            }
        }
        return (output(in: UnsafeRawPointer(base), plan: plan), recorded)
    }

    func checkLength(_ input: [Int8]) throws(EngineError) {
        let inputCount = model.inputShape.reduce(1, *)
        guard input.count == inputCount else { throw .inputLength(expected: inputCount, actual: input.count) }
    }

    func load(_ input: [Int8], into base: UnsafeMutableRawPointer, plan: ArenaPlan) {
        input.withUnsafeBytes { UnsafeMutableRawBufferPointer(start: base + plan.inputOffset, count: $0.count).copyMemory(from: $0) }
    }

    func output(in base: UnsafeRawPointer, plan: ArenaPlan) -> [Int8] {
        let count = model.outputShape.reduce(1, *)
        return Array(UnsafeRawBufferPointer(start: base + plan.outputOffset, count: count).bindMemory(to: Int8.self))
    }

    func layerError(_ index: Int, _ status: capsnet_status) -> EngineError {
        let layer = model.layers[index]
        let error = KernelError(kernel: layer.kernelName, status: status) ?? KernelError(kernel: layer.kernelName, reason: .dimension)
        return .kernel(layer: layer.name, error)
    }

    /// Layer `index`'s kernel (this core's share of it, for the kernels that split), then its
    /// fused ReLU, which only core 0 applies since it follows the whole convolution.
    func step(
        _ index: Int, base: UnsafeMutableRawPointer, plan: ArenaPlan, split: capsnet_core_split
    ) -> capsnet_status {
        let layer = model.layers[index]
        let memory = plan.layers[index]
        let bytes = base.assumingMemoryBound(to: Int8.self)
        let inputFrac = index == 0 ? model.inputFrac : model.layers[index - 1].outputFrac
        let status = execute(
            layer, inputFrac: inputFrac, input: bytes + memory.inputOffset, output: bytes + memory.outputOffset,
            scratch: base + memory.scratchOffset, scratchBytes: memory.scratchBytes, split: split)
        if status == CAPSNET_OK, split.num_cores == 1, case .convolution(let convolution) = layer.operation,
            convolution.appliesReLU
        {
            return capsnet_relu_q7(bytes + memory.outputOffset, Int32(layer.outputShape.reduce(1, *)))
        }
        return status
    }

    private func execute(
        _ layer: QuantizedLayer, inputFrac: Int, input: UnsafeMutablePointer<Int8>,
        output: UnsafeMutablePointer<Int8>, scratch: UnsafeMutableRawPointer, scratchBytes: Int,
        split: capsnet_core_split
    ) -> capsnet_status {
        var split = split
        switch layer.operation {
        case .convolution(let convolution):
            var params = convolution.parameters
            var inputDims = capsnet_hwc(layer.inputShape)
            var outputDims = convolution.outputDims
            var context = capsnet_context(buf: scratch, size: Int32(scratchBytes))
            return convolution.weights.withUnsafeBufferPointer { weights in
                withOptional(convolution.bias) { bias in
                    capsnet_conv_hwc_q7_split(
                        &context, &params, &inputDims, input, weights.baseAddress, bias, &outputDims, output, &split)
                }
            }
        case .relu:
            // Element-wise: each core rectifies a contiguous share.
            let count = layer.inputShape.reduce(1, *)
            let chunk = (count + Int(split.num_cores) - 1) / Int(split.num_cores)
            let begin = min(count, chunk * Int(split.core_id))
            let end = min(count, begin + chunk)
            return begin < end ? capsnet_relu_q7(input + begin, Int32(end - begin)) : CAPSNET_OK
        case .primaryCapsule(let primary):
            var params = capsnet_primary_capsule_params(
                conv: primary.convolution.parameters, capsule_dim: Int32(primary.capsuleDimension),
                output_frac: Int32(layer.outputFrac))
            var inputDims = capsnet_hwc(layer.inputShape)
            var outputDims = primary.convolution.outputDims
            var context = capsnet_context(buf: scratch, size: Int32(scratchBytes))
            return primary.convolution.weights.withUnsafeBufferPointer { weights in
                withOptional(primary.convolution.bias) { bias in
                    capsnet_primary_capsule_q7_split(
                        &context, &params, &inputDims, input, weights.baseAddress, bias, &outputDims, output, &split)
                }
            }
        case .capsule(let capsule):
            var dims = capsule.cDims
            var context = capsnet_context(buf: scratch, size: Int32(scratchBytes))
            return capsule.iterations.map(\.cFormats).withUnsafeBufferPointer { formats in
                var params = capsule.parameters(iterations: formats.baseAddress, routing: routing)
                return capsule.weights.withUnsafeBufferPointer { weights in
                    capsnet_capsule_layer_q7_split(&context, &params, &dims, input, weights.baseAddress, output, &split)
                }
            }
        case .length:
            return capsnet_capsule_length_q7(
                input, Int32(layer.inputShape[0]), Int32(layer.inputShape[1]), Int32(inputFrac),
                Int32(layer.outputFrac), output)
        case .reshape:
            return CAPSNET_OK
        }
    }
}

extension Int8Engine {
    /// The int8 output of each image of `images` (`[N] + inputShape`, float), on all cores.
    public func outputs(
        _ images: Tensor, progress: @Sendable (Int) -> Void = { _ in }
    ) throws(EngineError)
        -> [[Int8]]
    {
        try parallelImages(images, progress: progress) { input, arena throws(EngineError) in
            try run(input, arena: arena).output
        }
    }

    /// `body` on each image, quantized, in one contiguous chunk of images per core, each chunk with
    /// its own arena; `progress` is told how many images are done (from any thread).
    func parallelImages<Output: Sendable>(
        _ images: Tensor, progress: @Sendable (Int) -> Void,
        _ body: @Sendable ([Int8], UnsafeMutableRawBufferPointer) throws(EngineError) -> Output
    ) throws(EngineError) -> [Output] {
        let count = images.shape.first ?? 0
        let imageSize = model.inputShape.reduce(1, *)
        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, count))
        let chunk = (count + workers - 1) / workers
        let results = Mutex([Output?](repeating: nil, count: count))
        let failure = Mutex<EngineError?>(nil)
        let done = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var arena = [UInt8](repeating: 0, count: plan.bytes)
            arena.withUnsafeMutableBytes { buffer in
                for image in worker * chunk..<min(count, (worker + 1) * chunk) {
                    let input = quantizeInput(images.values[image * imageSize..<(image + 1) * imageSize])
                    do throws(EngineError) {
                        let output = try body(input, buffer)
                        results.withLock { $0[image] = output }
                    } catch {
                        failure.withLock { $0 = $0 ?? error }
                        return
                    }
                    let finished = done.withLock { finished in
                        finished += 1
                        return finished
                    }
                    if finished % 100 == 0 || finished == count { progress(finished) }
                }
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
        return results.withLock { $0.compactMap { $0 } }
    }
}

extension QuantizedLayer {
    /// Whether every core takes a share of the layer: the convolutions and the capsule layer
    /// (through `capsnet_core_split`) and ReLU, nearly all of a CapsNet's work.
    var splitsOverCores: Bool {
        switch operation {
        case .convolution, .primaryCapsule, .capsule, .relu: true
        case .length, .reshape: false
        }
    }

    /// The C function that runs the layer, for messages.
    var kernelName: String {
        switch operation {
        case .convolution: "capsnet_conv_hwc_q7"
        case .relu: "capsnet_relu_q7"
        case .primaryCapsule: "capsnet_primary_capsule_q7"
        case .capsule: "capsnet_capsule_layer_q7"
        case .length: "capsnet_capsule_length_q7"
        case .reshape: "reshape"
        }
    }
}

extension QuantizedConvolution {
    var parameters: capsnet_conv_params {
        capsnet_conv_params(
            kernel: capsnet_hw(h: Int32(kernelHeight), w: Int32(kernelWidth)),
            stride: capsnet_hw(h: Int32(strideY), w: Int32(strideX)),
            padding: capsnet_hw(h: Int32(padTop), w: Int32(padLeft)), input_frac: Int32(inputFrac),
            weight_frac: Int32(weightFrac), bias_frac: Int32(biasFrac), output_frac: Int32(outputFrac))
    }

    /// `capsnet_conv_hwc_q7_split_get_buffer_size` for this convolution on `cores` cores; the
    /// primary capsule layer around it needs the same.
    func scratchBytes(inputShape: [Int], cores: Int) -> Int {
        var params = parameters
        var inputDims = capsnet_hwc(inputShape)
        return Int(max(capsnet_conv_hwc_q7_split_get_buffer_size(&params, &inputDims, Int32(cores)), 0))
    }

    /// The output `[Ho, Wo, filters]`.
    var outputDims: capsnet_hwc {
        capsnet_hwc(h: Int32(outputHeight), w: Int32(outputWidth), c: Int32(filters))
    }
}

extension capsnet_hwc {
    init(_ shape: [Int]) {
        self.init(h: Int32(shape[0]), w: Int32(shape[1]), c: Int32(shape.count > 2 ? shape[2] : 1))
    }
}

private func withOptional(_ array: [Int8]?, _ body: (UnsafePointer<Int8>?) -> capsnet_status) -> capsnet_status {
    guard let array else { return body(nil) }
    return array.withUnsafeBufferPointer { body($0.baseAddress) }
}
