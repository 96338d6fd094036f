import Foundation
import Synchronization

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

    /// Layer `index`'s kernel, or this core's share of it.
    func step(
        _ index: Int, base: UnsafeMutableRawPointer, plan: ArenaPlan, split: capsnet_core_split
    ) -> capsnet_status {
        let layer = model.layers[index]
        let memory = plan.layers[index]
        let bytes = base.assumingMemoryBound(to: Int8.self)
        return layer.kind.run(
            KernelCall(
                layer: layer, inputFrac: model.inputFrac(ofLayer: index), input: bytes + memory.inputOffset,
                output: bytes + memory.outputOffset, scratch: base + memory.scratchOffset,
                scratchBytes: memory.kernelScratchBytes, split: split, routing: routing))
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
        let imageSize = model.inputShape.reduce(1, *)
        return try parallelRuns(
            count: images.shape.first ?? 0, progress: progress,
            input: { image in quantizeInput(images.values[image * imageSize..<(image + 1) * imageSize]) }, body)
    }

    /// `body` on the int8 input `input(k)` of each run k < `count`, in one contiguous chunk of runs
    /// per core, each chunk with its own arena.
    func parallelRuns<Output: Sendable>(
        count: Int, progress: @Sendable (Int) -> Void, input: @Sendable (Int) -> [Int8],
        _ body: @Sendable ([Int8], UnsafeMutableRawBufferPointer) throws(EngineError) -> Output
    ) throws(EngineError) -> [Output] {
        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, count))
        let chunk = (count + workers - 1) / workers
        let results = Mutex([Output?](repeating: nil, count: count))
        let failure = Mutex<EngineError?>(nil)
        let done = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var arena = [UInt8](repeating: 0, count: plan.bytes)
            arena.withUnsafeMutableBytes { buffer in
                for image in worker * chunk..<min(count, (worker + 1) * chunk) {
                    do throws(EngineError) {
                        let output = try body(input(image), buffer)
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

extension Int8Engine {
    /// The class of an int8 output: the largest length, the first on a tie.
    public static func predictedClass(_ lengths: [Int8]) -> Int {
        var best = 0
        for index in lengths.indices where lengths[index] > lengths[best] { best = index }
        return best
    }

    /// The int8 outputs of layers `first` to the last for each of `inputs` (layer `first`'s int8
    /// input, one per image), on all cores: for a caller that changed no layer before `first`
    /// and kept the outputs of those.
    public func layerOutputs(from first: Int, inputs: [[Int8]]) throws(EngineError) -> [[[Int8]]] {
        try runs(from: first, inputs: inputs, recording: true)
    }

    /// The int8 output (the last layer's) for each of `inputs`, layer `first`'s int8 input per
    /// image, running layers `first` to the last only.
    public func outputs(from first: Int, inputs: [[Int8]]) throws(EngineError) -> [[Int8]] {
        try runs(from: first, inputs: inputs, recording: false).map { $0.last ?? [] }
    }

    /// Layers `first` to the last on each of `inputs`: every one's output with `recording`, else
    /// the last one's.
    private func runs(from first: Int, inputs: [[Int8]], recording: Bool) throws(EngineError) -> [[[Int8]]] {
        precondition(plan.layers.indices.contains(first), "no layer \(first)")
        let expected = model.layers[first].inputCount
        for input in inputs where input.count != expected {
            throw .inputLength(expected: expected, actual: input.count)
        }
        return try parallelRuns(count: inputs.count, progress: { _ in }, input: { inputs[$0] }) {
            input, arena throws(EngineError) in
            guard let base = arena.baseAddress else { return [] }
            let start = plan.layers[first].inputOffset
            input.withUnsafeBytes {
                UnsafeMutableRawBufferPointer(start: base + start, count: $0.count).copyMemory(from: $0)
            }
            let whole = capsnet_core_split(core_id: 0, num_cores: 1, barrier: nil, barrier_arg: nil)
            var recorded: [[Int8]] = []
            for index in first..<plan.layers.count {
                let status = step(index, base: base, plan: plan, split: whole)
                if status != CAPSNET_OK { throw layerError(index, status) }
                if recording || index == plan.layers.count - 1 {
                    let memory = plan.layers[index]
                    let bytes = UnsafeRawPointer(base + memory.outputOffset).assumingMemoryBound(to: Int8.self)
                    recorded.append(Array(UnsafeBufferPointer(start: bytes, count: memory.outputBytes)))
                }
            }
            return recorded
        }
    }

    /// Every layer's int8 output for each image of `images`, on all cores.
    public func layerOutputs(
        _ images: Tensor, progress: @Sendable (Int) -> Void = { _ in }
    ) throws(EngineError)
        -> [[[Int8]]]
    {
        try parallelImages(images, progress: progress) { input, arena throws(EngineError) in
            try run(input, arena: arena, recording: true).layers
        }
    }
}
