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
    public let plan: ArenaPlan

    /// Plans the arena and checks every layer once on a zero input, so that a model the kernels
    /// refuse is reported here rather than in the middle of an evaluation.
    public init(_ model: QuantizedModel) throws(EngineError) {
        self.model = model
        plan = ArenaPlan(model)
        _ = try run([Int8](repeating: 0, count: model.inputShape.reduce(1, *)))
    }

    /// The arena size in bytes: the RAM peak of one inference.
    public var ramBytes: Int { plan.bytes }

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

    /// The int8 output of one int8 image with the convolutions (plain and primary capsule) split
    /// over `cores` threads, PULP-cluster style: each computes a contiguous share of the output rows,
    /// and the threads join before the next layer. The bytes are the same for every core count.
    public func run(_ input: [Int8], cores: Int) throws(EngineError) -> [Int8] {
        var arena = [UInt8](repeating: 0, count: plan.bytes)
        let result = arena.withUnsafeMutableBytes { buffer in
            Result { () throws(EngineError) in try run(input, arena: buffer, cores: max(cores, 1)) }
        }
        return try result.get().output
    }

    /// One inference in `arena` (at least `plan.bytes`); with `recording`, every layer's output too.
    func run(
        _ input: [Int8], arena: UnsafeMutableRawBufferPointer, recording: Bool = false, cores: Int = 1
    ) throws(EngineError)
        -> (output: [Int8], layers: [[Int8]])
    {
        let inputCount = model.inputShape.reduce(1, *)
        guard input.count == inputCount else { throw .inputLength(expected: inputCount, actual: input.count) }
        guard let base = arena.baseAddress, arena.count >= plan.bytes else {
            preconditionFailure("the arena is smaller than the plan")
        }
        let bytes = base.assumingMemoryBound(to: Int8.self)
        input.withUnsafeBufferPointer { source in
            (bytes + plan.inputOffset).update(from: source.baseAddress!, count: inputCount)
        }
        var recorded: [[Int8]] = []
        var frac = model.inputFrac
        for (layer, memory) in zip(model.layers, plan.layers) {
            nonisolated(unsafe) let layerInput = bytes + memory.inputOffset
            nonisolated(unsafe) let layerOutput = bytes + memory.outputOffset
            nonisolated(unsafe) let scratch = UnsafeMutableRawPointer(base + memory.scratchOffset)
            let layerFrac = frac
            let scratchBytes = memory.scratchBytes
            var status = CAPSNET_OK
            if cores > 1 && layer.splitsOverCores {
                let statuses = Mutex([capsnet_status](repeating: CAPSNET_OK, count: cores))
                DispatchQueue.concurrentPerform(iterations: cores) { core in
                    let split = capsnet_core_split(core_id: Int32(core), num_cores: Int32(cores))
                    let coreStatus = Self.execute(
                        layer, inputFrac: layerFrac, input: layerInput, output: layerOutput, scratch: scratch,
                        scratchBytes: scratchBytes, split: split)
                    statuses.withLock { $0[core] = coreStatus }
                }
                status = statuses.withLock { $0.first { $0 != CAPSNET_OK } ?? CAPSNET_OK }
            } else {
                status = Self.execute(
                    layer, inputFrac: layerFrac, input: layerInput, output: layerOutput, scratch: scratch,
                    scratchBytes: scratchBytes, split: capsnet_core_split(core_id: 0, num_cores: 1))
            }
            if status == CAPSNET_OK, case .convolution(let convolution) = layer.operation, convolution.appliesReLU {
                status = capsnet_relu_q7(layerOutput, Int32(layer.outputShape.reduce(1, *)))
            }
            if let error = KernelError(kernel: layer.kernelName, status: status) {
                throw .kernel(layer: layer.name, error)
            }
            frac = layer.outputFrac
            if recording {
                recorded.append(
                    Array(UnsafeBufferPointer(start: bytes + memory.outputOffset, count: memory.outputBytes)))
            }
        }
        let output = Array(UnsafeBufferPointer(start: bytes + plan.outputOffset, count: model.outputShape.reduce(1, *)))
        return (output, recorded)
    }

    private static func execute(
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
            // A fused ReLU follows in `run`, once every core's rows are done.
            return convolution.weights.withUnsafeBufferPointer { weights in
                withOptional(convolution.bias) { bias in
                    capsnet_conv_hwc_q7_split(
                        &params, &inputDims, input, weights.baseAddress, bias, &outputDims, output, &split)
                }
            }
        case .relu:
            return capsnet_relu_q7(input, Int32(layer.inputShape.reduce(1, *)))
        case .primaryCapsule(let primary):
            var params = capsnet_primary_capsule_params(
                conv: primary.convolution.parameters, capsule_dim: Int32(primary.capsuleDimension),
                output_frac: Int32(layer.outputFrac))
            var inputDims = capsnet_hwc(layer.inputShape)
            var outputDims = primary.convolution.outputDims
            return primary.convolution.weights.withUnsafeBufferPointer { weights in
                withOptional(primary.convolution.bias) { bias in
                    capsnet_primary_capsule_q7_split(
                        &params, &inputDims, input, weights.baseAddress, bias, &outputDims, output, &split)
                }
            }
        case .capsule(let capsule):
            var dims = capsnet_capsule_dims(
                num_inputs: Int32(capsule.inputs), input_dim: Int32(capsule.inputDimension),
                num_outputs: Int32(capsule.outputs), output_dim: Int32(capsule.dimension))
            var context = capsnet_context(buf: scratch, size: Int32(scratchBytes))
            let iterations = capsule.iterations.map {
                capsnet_routing_formats(
                    logit_frac: Int32($0.logitFrac), sum_frac: Int32($0.sumFrac), output_frac: Int32($0.outputFrac),
                    agreement_frac: Int32($0.agreementFrac))
            }
            return iterations.withUnsafeBufferPointer { formats in
                var params = capsnet_capsule_params(
                    input_frac: Int32(capsule.inputFrac), weight_frac: Int32(capsule.weightFrac),
                    prediction_frac: Int32(capsule.predictionFrac), routings: Int32(capsule.iterations.count),
                    iterations: formats.baseAddress)
                return capsule.weights.withUnsafeBufferPointer { weights in
                    capsnet_capsule_layer_q7(&context, &params, &dims, input, weights.baseAddress, output)
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
    /// Whether the layer's kernel takes a `capsnet_core_split`: the convolutions, which hold nearly
    /// all of a CapsNet's MACs.
    var splitsOverCores: Bool {
        switch operation {
        case .convolution, .primaryCapsule: true
        case .relu, .capsule, .length, .reshape: false
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
