// BLAS: Accelerate on Apple platforms, OpenBLAS elsewhere (the same CBLAS interface).
#if canImport(Accelerate)
import Accelerate
#else
import COpenBLAS
#endif
import Foundation

/// A capsule layer with dynamic routing (`Capsule`; the FloatModel article of the catalog): prediction vectors
/// `u_hat = W u`, then `routings` iterations of softmax over the output capsules, weighted sums,
/// squash and agreement.
public struct Capsule: LayerKind {
    /// Output capsules, J.
    public var outputs: Int
    /// Values per output capsule, D.
    public var dimension: Int
    /// Input capsules, I.
    public var inputs: Int
    /// Values per input capsule, Din.
    public var inputDimension: Int
    /// Routing iterations, R ≥ 1.
    public var routings: Int
    /// The transformation matrices `W[J][I][D][Din]`.
    public var weights: [Float]
    /// The epsilon of its squash: 0 for this project's `Capsule`, Keras's 1e-7 for CapsNet-Keras's
    /// `CapsuleLayer`.
    public var squashEpsilon: Float

    public init(
        outputs: Int, dimension: Int, inputs: Int, inputDimension: Int, routings: Int, weights: [Float],
        squashEpsilon: Float = 0
    ) {
        self.outputs = outputs
        self.dimension = dimension
        self.inputs = inputs
        self.inputDimension = inputDimension
        self.routings = routings
        self.weights = weights
        self.squashEpsilon = squashEpsilon
    }

    /// The weight's shape, `[J, I, D, Din]`.
    public var weightShape: [Int] { [outputs, inputs, dimension, inputDimension] }

    public static let storesWeights = true

    public var parameterCount: Int { weights.count }

    /// The predictions, the weighted sums of every iteration and the agreements of all but the last.
    public func macs(_ layer: Layer) -> Int { weights.count + (2 * routings - 1) * outputs * inputs * dimension }

    // MARK: - Keras

    /// This project's `Capsule`, and CapsNet-Keras's `CapsuleLayer` (the same weight layout, named
    /// `W`, and the same routing; its squash has Keras's epsilon).
    public static let kerasClassNames = ["Capsule", "CapsuleLayer"]

    public static func load(
        _ keras: KerasLayerBuilder
    ) throws(KerasModelError.Reason) -> (kind: any LayerKind, outputShape: [Int]) {
        guard keras.inputShape.count == 2 else { throw keras.inputError("capsules [count, dimension]") }
        let outputs = try keras.positive("num_capsule")
        let dimension = try keras.positive("dim_capsule")
        let routings = try keras.positive("routings", default: 3, limit: ResourceLimits.routings)
        let shape = [outputs, keras.inputShape[0], dimension, keras.inputShape[1]]
        let isCapsNetKeras = keras.layer.className == "CapsuleLayer"
        let stored = try keras.expectWeights([(isCapsNetKeras ? "W" : "weights", shape)])
        let capsule = Capsule(
            outputs: outputs, dimension: dimension, inputs: keras.inputShape[0], inputDimension: keras.inputShape[1],
            routings: routings, weights: stored[0].values, squashEpsilon: isCapsNetKeras ? Squash.kerasEpsilon : 0)
        return (capsule, [outputs, dimension])
    }

    // MARK: - Float

    public func forward(_ input: Tensor, _ layer: Layer, recording: Bool) -> LayerTrace {
        let (output, routing) = route(input, recording: recording)
        return LayerTrace(name: layer.name, output: output, routing: routing)
    }

    /// The output, the predictions and every iteration's logits, sums (which feed squash),
    /// outputs and agreements.
    public func calibrationTensors(_ trace: LayerTrace) -> [CalibrationTensor] {
        var tensors = [CalibrationTensor(.output, trace.output)]
        guard let routing = trace.routing else { return tensors }
        tensors.append(CalibrationTensor(.predictions, routing.predictions))
        for (r, iteration) in routing.iterations.enumerated() {
            tensors.append(CalibrationTensor(.logits(iteration: r), iteration.logits))
            tensors.append(CalibrationTensor(.sums(iteration: r), iteration.preSquash, feedsSquash: .capsNet))
            tensors.append(CalibrationTensor(.routedOutput(iteration: r), iteration.output))
            if let agreement = iteration.agreement { tensors.append(CalibrationTensor(.agreement(iteration: r), agreement)) }
        }
        return tensors
    }

    /// Prediction vectors, then `routings` iterations of softmax, weighted sum, squash and agreement.
    func route(_ input: Tensor, recording: Bool) -> (Tensor, RoutingTrace?) {
        let batch = input.shape[0]
        let predictions = predict(input)
        var logits = Tensor(zeros: [batch, outputs, inputs])
        var iterations: [RoutingIteration] = []
        var output = Tensor(zeros: [batch, outputs, dimension])

        for iteration in 0..<routings {
            let couplings = Self.softmaxOverOutputs(logits)
            let sums = Self.capsuleProducts(predictions, couplings, transposed: true)
            output = FloatMath.squash(sums, epsilon: squashEpsilon)
            let agreement =
                iteration < routings - 1 ? Self.capsuleProducts(predictions, output, transposed: false) : nil
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
    func predict(_ input: Tensor) -> Tensor {
        let batch = input.shape[0]
        var predictions = Tensor(zeros: [batch, outputs, inputs, dimension])
        weights.withUnsafeBufferPointer { w in
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
    // MARK: - Quantization

    /// Every routing tensor in its own format per iteration; each format is clamped to what the
    /// kernel's shifts allow.
    public func quantize(_ context: QuantizationContext) -> (kind: any QuantizedLayerKind, outputFrac: Int) {
        let weightFrac = context.weightFormat(weights)
        // 16-bit predictions: the 8-bit format's range with eight more fractional bits. A layer
        // beyond the 16-bit kernel's limits (capsnet_capsule_layer_q7: D <= 511, I <= 65535) keeps 8 bits.
        let precision = dimension <= 511 && inputs <= 65_535 ? context.routingPrecision : .q7
        let predictionFrac = min(
            context.routingFormat(.predictions) + precision.bits - 8, context.inputFrac + weightFrac,
            QFormat.supportedFractionalBits.upperBound)
        let couplingFrac = precision == .q15 ? Int(CAPSNET_SOFTMAX_FRAC_Q15) : Int(CAPSNET_SOFTMAX_FRAC)
        let shiftMax = Int(CAPSNET_SHIFT_MAX)
        var iterations: [RoutingFormats] = []
        for r in 0..<routings {
            // b_0 is all zeros, so its format only has to be valid; the next logits' serves.
            let logitSource = r == 0 && routings > 1 ? 1 : r
            var logitFrac = context.routingFormat(.logits(iteration: logitSource))
            if let previous = iterations.last {
                logitFrac = min(logitFrac, max(previous.logitFrac, previous.agreementFrac))
            }
            let sumFrac = max(
                min(context.squashInputFormat(.sums(iteration: r)), couplingFrac + predictionFrac),
                couplingFrac + predictionFrac - shiftMax)
            let outputFrac = min(
                max(context.activationFormat(.routedOutput(iteration: r)), 0), QFormat.supportedFractionalBits.upperBound)
            let agreementFrac =
                r + 1 < routings
                ? max(
                    min(context.routingFormat(.agreement(iteration: r)), outputFrac + predictionFrac),
                    outputFrac + predictionFrac - shiftMax) : 0
            iterations.append(
                RoutingFormats(
                    logitFrac: logitFrac, sumFrac: sumFrac, outputFrac: outputFrac, agreementFrac: agreementFrac))
        }
        // W[j] for each output capsule j is one run of I * D * Din values.
        let capsuleFracs = context.filterFormats(
            weights, groups: outputs, layerFormat: weightFrac, outputFrac: predictionFrac, biasFrac: nil,
            window: inputDimension)
        let run = weights.count / max(outputs, 1)
        let quantizedWeights = (0..<outputs).flatMap { j in
            QFormat(fractionalBits: capsuleFracs?[j] ?? weightFrac).quantize(Array(weights[j * run..<(j + 1) * run]))
        }
        let quantized = QuantizedCapsule(
            outputs: outputs, dimension: dimension, inputs: inputs, inputDimension: inputDimension,
            weights: quantizedWeights, inputFrac: context.inputFrac, weightFrac: weightFrac,
            weightFracs: capsuleFracs.map { $0.map { Int8($0) } }, predictionFrac: predictionFrac,
            iterations: iterations, precision: precision)
        return (quantized, iterations.last?.outputFrac ?? context.inputFrac)
    }
}
