// BLAS: Accelerate on Apple platforms, OpenBLAS elsewhere (the same CBLAS interface).
#if canImport(Accelerate)
import Accelerate
#else
import COpenBLAS
#endif
import Foundation
import Synchronization

/// A batch whose shape does not fit the model.
public struct InputShapeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The shape of one input the model takes.
    public var expected: [Int]
    /// The shape of one input it was given.
    public var actual: [Int]

    public init(expected: [Int], actual: [Int]) {
        self.expected = expected
        self.actual = actual
    }

    public var description: String {
        "the model takes \(expected.shapeDescription) inputs, but was given \(actual.shapeDescription)"
    }
}

/// The model in float32, computed as Keras computes it (the FloatModel article of the catalog), layer by layer through
/// each kind's `forward`: convolutions as im2col products on OpenBLAS (`cblas_sgemm`), prediction
/// vectors as one small product per input capsule, and the routing loop with `cblas_sgemv`.
public struct FloatReference: Sendable {
    public let model: CapsNetModel

    public init(_ model: CapsNetModel) {
        self.model = model
        OpenBLASThreads.useOne()
    }

    /// The model's output for a batch `[N] + model.inputShape`. A batch is split into one
    /// contiguous chunk of images per core, each run with single-threaded OpenBLAS calls.
    public func outputs(_ images: Tensor) throws(InputShapeError) -> Tensor {
        let batch = try checked(images)
        let count = batch.shape[0]
        let workers = min(ProcessInfo.processInfo.activeProcessorCount, count)
        guard workers > 1 else { return forward(batch) }
        let chunk = (count + workers - 1) / workers
        let parts = Mutex([Tensor?](repeating: nil, count: workers))
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            let part = forward(batch.batch(worker * chunk..<min(count, (worker + 1) * chunk)))
            parts.withLock { $0[worker] = part }
        }
        let values = parts.withLock { $0.flatMap { $0?.values ?? [] } }
        return Tensor(shape: [count] + model.outputShape, values: values)
    }

    private func forward(_ batch: Tensor) -> Tensor {
        var current = batch
        for layer in model.layers {
            current = run(layer, current, recording: false).output
        }
        return current
    }

    /// The output for a batch with every intermediate tensor.
    public func trace(_ images: Tensor) throws(InputShapeError) -> FloatTrace {
        var trace = FloatTrace(input: try checked(images), layers: [])
        var current = trace.input
        for layer in model.layers {
            let step = run(layer, current, recording: true)
            trace.layers.append(step)
            current = step.output
        }
        return trace
    }

    private func checked(_ images: Tensor) throws(InputShapeError) -> Tensor {
        let shape = Array(images.shape.dropFirst())
        guard images.shape.count == model.inputShape.count + 1, shape == model.inputShape else {
            throw InputShapeError(expected: model.inputShape, actual: shape)
        }
        return images
    }

    private func run(_ layer: Layer, _ input: Tensor, recording: Bool) -> LayerTrace {
        layer.kind.forward(input, layer, recording: recording)
    }
}

/// OpenBLAS's own threads would compete with the per-core chunks for the same cores (and spin
/// while they wait), so the reference runs OpenBLAS single-threaded and parallelizes over images.
enum OpenBLASThreads {
    #if canImport(Accelerate)
    // Accelerate sizes its own threads to the work; a call per image is small enough to stay on one.
    private static let once: Void = ()
    #else
    private static let once: Void = openblas_set_num_threads(1)
    #endif

    static func useOne() { once }
}
