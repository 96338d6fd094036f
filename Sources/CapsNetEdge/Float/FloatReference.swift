import COpenBLAS
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

/// The model in float32, computed as Keras computes it (DESIGN section 2): convolutions as im2col
/// products on OpenBLAS (`cblas_sgemm`), prediction vectors as one small product per input capsule,
/// and the routing loop with `cblas_sgemv`.
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
        let batch = input.shape[0]
        let outputShape = [batch] + layer.outputShape
        var trace = LayerTrace(name: layer.name, output: input)
        switch layer.operation {
        case .convolution(let convolution):
            let linear = Self.convolve(input, convolution, outputShape: outputShape)
            if convolution.appliesReLU {
                trace.output = Self.relu(linear)
                if recording { trace.preActivation = linear }
            } else {
                trace.output = linear
            }
        case .relu:
            trace.output = Self.relu(input)
        case .primaryCapsule(let primary):
            let grid = primary.convolution.outputShape(height: input.shape[1], width: input.shape[2]) ?? []
            var capsules = Self.convolve(input, primary.convolution, outputShape: [batch] + grid)
            capsules.shape = outputShape
            trace.output = Self.squash(capsules)
            if recording { trace.preActivation = capsules }
        case .capsule(let capsule):
            let (output, routing) = Self.route(input, capsule, recording: recording)
            trace.output = output
            trace.routing = routing
        case .length:
            trace.output = Self.lengths(input)
        case .reshape:
            trace.output = Tensor(shape: outputShape, values: input.values)
        }
        return trace
    }

    // MARK: - Layers

    /// Per image, im2col then one `cblas_sgemm`: `[Ho·Wo, kh·kw·C] × [kh·kw·C, F]`; the Keras kernel
    /// `[kh][kw][C][F]` is already the right-hand matrix. One product per image, not per batch, so
    /// that an image's result does not depend on the batch it is in (OpenBLAS's rounding does
    /// depend on the matrix height).
    static func convolve(_ input: Tensor, _ convolution: Convolution, outputShape: [Int]) -> Tensor {
        let (batch, height, width, channels) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let (outputHeight, outputWidth, filters) = (outputShape[1], outputShape[2], outputShape[3])
        let (top, left) = convolution.leadingPadding(height: height, width: width)
        let patch = convolution.kernelHeight * convolution.kernelWidth * channels
        let rows = outputHeight * outputWidth

        var output = [Float](repeating: 0, count: batch * rows * filters)
        if let bias = convolution.bias {
            for row in 0..<batch * rows { output.replaceSubrange(row * filters..<(row + 1) * filters, with: bias) }
        }
        var columns = [Float](repeating: 0, count: rows * patch)
        input.values.withUnsafeBufferPointer { source in
            for image in 0..<batch {
                let imageBase = image * height * width * channels
                columns.withUnsafeMutableBufferPointer { target in
                    var column = 0
                    for y in 0..<outputHeight {
                        for x in 0..<outputWidth {
                            for ky in 0..<convolution.kernelHeight {
                                let inputY = y * convolution.strideY + ky - top
                                for kx in 0..<convolution.kernelWidth {
                                    let inputX = x * convolution.strideX + kx - left
                                    let inside = inputY >= 0 && inputY < height && inputX >= 0 && inputX < width
                                    let start = imageBase + (inputY * width + inputX) * channels
                                    for channel in 0..<channels {
                                        target[column + channel] = inside ? source[start + channel] : 0
                                    }
                                    column += channels
                                }
                            }
                        }
                    }
                }
                output.withUnsafeMutableBufferPointer { result in
                    cblas_sgemm(
                        CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(filters), Int32(patch), 1,
                        columns, Int32(patch), convolution.kernel, Int32(filters), 1,
                        result.baseAddress! + image * rows * filters, Int32(filters))
                }
            }
        }
        return Tensor(shape: outputShape, values: output)
    }

    static func relu(_ input: Tensor) -> Tensor {
        Tensor(shape: input.shape, values: input.values.map { max($0, 0) })
    }

    /// `s·‖s‖ / (1 + ‖s‖²)` over the last axis, with no epsilon, as the reference defines it.
    static func squash(_ input: Tensor) -> Tensor {
        let dimension = input.shape.last ?? 1
        var values = input.values
        values.withUnsafeMutableBufferPointer { vectors in
            for start in stride(from: 0, to: vectors.count, by: dimension) {
                var norm2: Float = 0
                for d in 0..<dimension { norm2 += vectors[start + d] * vectors[start + d] }
                let scale = norm2.squareRoot() / (1 + norm2)
                for d in 0..<dimension { vectors[start + d] *= scale }
            }
        }
        return Tensor(shape: input.shape, values: values)
    }

    /// The Euclidean length over the last axis.
    static func lengths(_ input: Tensor) -> Tensor {
        let dimension = input.shape.last ?? 1
        let values = stride(from: 0, to: input.count, by: dimension).map { start in
            var norm2: Float = 0
            for d in 0..<dimension { norm2 += input.values[start + d] * input.values[start + d] }
            return norm2.squareRoot()
        }
        return Tensor(shape: Array(input.shape.dropLast()), values: values)
    }

    /// Prediction vectors, then `routings` iterations of softmax, weighted sum, squash and agreement.
    static func route(_ input: Tensor, _ layer: Capsule, recording: Bool) -> (Tensor, RoutingTrace?) {
        let batch = input.shape[0]
        let predictions = predict(input, layer)
        var logits = Tensor(zeros: [batch, layer.outputs, layer.inputs])
        var iterations: [RoutingIteration] = []
        var output = Tensor(zeros: [batch, layer.outputs, layer.dimension])

        for iteration in 0..<layer.routings {
            let couplings = softmaxOverOutputs(logits)
            let sums = capsuleProducts(predictions, couplings, transposed: true)
            output = squash(sums)
            let agreement =
                iteration < layer.routings - 1 ? capsuleProducts(predictions, output, transposed: false) : nil
            if recording {
                iterations.append(
                    RoutingIteration(
                        logits: logits, couplings: couplings, preSquash: sums, output: output, agreement: agreement))
            }
            if let agreement {
                for index in logits.values.indices { logits.values[index] += agreement.values[index] }
            }
        }
        return (output, recording ? RoutingTrace(predictions: predictions, iterations: iterations) : nil)
    }

    /// One `cblas_sgemv` per image and output capsule `j` on the `[I, D]` block `u_hat[n, j]`:
    /// transposed, the weighted sum `Σ_i x[n, j, i] u_hat[n, j, i, :]` (`[N, J, D]`); plain, the
    /// agreements `u_hat[n, j] · x[n, j]` (`[N, J, I]`).
    static func capsuleProducts(_ predictions: Tensor, _ vectors: Tensor, transposed: Bool) -> Tensor {
        let (batch, outputs, inputs, dimension) =
            (predictions.shape[0], predictions.shape[1], predictions.shape[2], predictions.shape[3])
        let (vectorLength, resultLength) = transposed ? (inputs, dimension) : (dimension, inputs)
        var result = Tensor(zeros: [batch, outputs, resultLength])
        predictions.values.withUnsafeBufferPointer { uHat in
            vectors.values.withUnsafeBufferPointer { x in
                result.values.withUnsafeMutableBufferPointer { y in
                    for pair in 0..<batch * outputs {
                        cblas_sgemv(
                            CblasRowMajor, transposed ? CblasTrans : CblasNoTrans, Int32(inputs), Int32(dimension), 1,
                            uHat.baseAddress! + pair * inputs * dimension, Int32(dimension),
                            x.baseAddress! + pair * vectorLength, 1, 0, y.baseAddress! + pair * resultLength, 1)
                    }
                }
            }
        }
        return result
    }

    /// `u_hat[n, j, i, :] = W[j, i] · u[n, i]`, `[N, J, I, D]`: the batched product of J·I small
    /// matrices (6×4 for MNIST) in one pass. A BLAS call per matrix would cost more than its 24
    /// multiply-adds, so these loops are written to vectorize instead.
    static func predict(_ input: Tensor, _ layer: Capsule) -> Tensor {
        let batch = input.shape[0]
        let (outputs, inputs) = (layer.outputs, layer.inputs)
        let (dimension, inputDimension) = (layer.dimension, layer.inputDimension)
        var predictions = Tensor(zeros: [batch, outputs, inputs, dimension])
        layer.weights.withUnsafeBufferPointer { w in
            input.values.withUnsafeBufferPointer { u in
                predictions.values.withUnsafeMutableBufferPointer { uHat in
                    // Wrapping arithmetic on indices that cannot overflow lets the loops vectorize.
                    for image in 0..<batch {
                        for j in 0..<outputs {
                            let row = (image &* outputs &+ j) &* inputs &* dimension
                            for i in 0..<inputs {
                                let vector = (image &* inputs &+ i) &* inputDimension
                                let matrix = (j &* inputs &+ i) &* dimension &* inputDimension
                                for d in 0..<dimension {
                                    var sum: Float = 0
                                    for k in 0..<inputDimension {
                                        sum += w[matrix &+ d &* inputDimension &+ k] * u[vector &+ k]
                                    }
                                    uHat[row &+ i &* dimension &+ d] = sum
                                }
                            }
                        }
                    }
                }
            }
        }
        return predictions
    }

    /// Softmax over the output capsules `j` of `[N, J, I]` logits, for each input capsule `i`;
    /// the loops run along `i`, the contiguous axis.
    static func softmaxOverOutputs(_ logits: Tensor) -> Tensor {
        let (batch, outputs, inputs) = (logits.shape[0], logits.shape[1], logits.shape[2])
        var couplings = logits
        var largest = [Float](repeating: 0, count: inputs)
        var sums = [Float](repeating: 0, count: inputs)
        couplings.values.withUnsafeMutableBufferPointer { c in
            for image in 0..<batch {
                let base = image &* outputs &* inputs
                for i in 0..<inputs { largest[i] = c[base &+ i] }
                for j in 1..<max(outputs, 1) {
                    for i in 0..<inputs { largest[i] = max(largest[i], c[base &+ j &* inputs &+ i]) }
                }
                for i in 0..<inputs { sums[i] = 0 }
                for j in 0..<outputs {
                    for i in 0..<inputs {
                        let e = exp(c[base &+ j &* inputs &+ i] - largest[i])
                        c[base &+ j &* inputs &+ i] = e
                        sums[i] += e
                    }
                }
                for j in 0..<outputs {
                    for i in 0..<inputs { c[base &+ j &* inputs &+ i] /= sums[i] }
                }
            }
        }
        return couplings
    }
}

/// OpenBLAS's own threads would compete with the per-core chunks for the same cores (and spin
/// while they wait), so the reference runs OpenBLAS single-threaded and parallelizes over images.
enum OpenBLASThreads {
    private static let once: Void = openblas_set_num_threads(1)

    static func useOne() { once }
}
