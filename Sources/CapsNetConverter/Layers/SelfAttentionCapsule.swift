/// Efficient-CapsNet's fully connected capsule layer with self-attention routing (`FCCaps(N, D)`):
/// prediction vectors `u[j, i] = W[j, i] u_i`, agreements `a[j, i] = u[j, i] · Σ_k u[j, k] / √D`,
/// couplings `c = softmax over j of a, plus the bias b[j, i]`, sums `s[j] = Σ_i c[j, i] u[j, i]`,
/// and the exponential squash. One pass, no iterations: the sum over k makes the agreements linear
/// in the number of input capsules.
public struct SelfAttentionCapsule: LayerKind {
    /// Output capsules, J (N in the paper).
    public var outputs: Int
    /// Values per output capsule, D.
    public var dimension: Int
    /// Input capsules, I.
    public var inputs: Int
    /// Values per input capsule, Din.
    public var inputDimension: Int
    /// W as `[J][I][D][Din]`, the layout of ``Capsule``'s weights (Keras stores `[J][I][Din][D]`).
    public var weights: [Float]
    /// b, `[J][I]`.
    public var bias: [Float]

    public static let storesWeights = true

    public var parameterCount: Int { weights.count + bias.count }

    /// The predictions, the agreements and the weighted sums.
    public func macs(_ layer: Layer) -> Int { weights.count + 2 * outputs * inputs * dimension }

    // MARK: - Keras

    public static let kerasClassNames = ["FCCaps"]

    public static func load(
        _ keras: KerasLayerBuilder
    ) throws(KerasModelError.Reason) -> (kind: any LayerKind, outputShape: [Int]) {
        guard keras.inputShape.count == 2 else { throw keras.inputError("capsules [count, dimension]") }
        let outputs = try keras.positive("N")
        let dimension = try keras.positive("D")
        let (inputs, inputDimension) = (keras.inputShape[0], keras.inputShape[1])
        let stored = try keras.expectWeights([
            ("W", [outputs, inputs, inputDimension, dimension]), ("b", [outputs, inputs, 1]),
        ])
        var weights = [Float](repeating: 0, count: stored[0].values.count)
        for matrix in 0..<outputs * inputs {
            let base = matrix * inputDimension * dimension
            for k in 0..<inputDimension {
                for d in 0..<dimension {
                    weights[base + d * inputDimension + k] = stored[0].values[base + k * dimension + d]
                }
            }
        }
        let layer = SelfAttentionCapsule(
            outputs: outputs, dimension: dimension, inputs: inputs, inputDimension: inputDimension, weights: weights,
            bias: stored[1].values)
        return (layer, [outputs, dimension])
    }

    // MARK: - Float

    public func forward(_ input: Tensor, _ layer: Layer, recording: Bool) -> LayerTrace {
        // The predictions are the dynamic-routing layer's, on the same weight layout.
        let predictions = Capsule(
            outputs: outputs, dimension: dimension, inputs: inputs, inputDimension: inputDimension, routings: 1,
            weights: weights
        ).predict(input)
        let batch = input.shape[0]
        var agreements = Tensor(zeros: [batch, outputs, inputs])
        let scale = 1 / Float(dimension).squareRoot()
        var total = [Float](repeating: 0, count: dimension)
        for pair in 0..<batch * outputs {
            let block = pair * inputs * dimension
            for d in 0..<dimension { total[d] = 0 }
            for i in 0..<inputs {
                for d in 0..<dimension { total[d] += predictions.values[block + i * dimension + d] }
            }
            for i in 0..<inputs {
                var dot: Float = 0
                for d in 0..<dimension { dot += predictions.values[block + i * dimension + d] * total[d] }
                agreements.values[pair * inputs + i] = dot * scale
            }
        }
        var couplings = Capsule.softmaxOverOutputs(agreements)
        for image in 0..<batch {
            for route in 0..<outputs * inputs { couplings.values[image * outputs * inputs + route] += bias[route] }
        }
        let sums = Capsule.capsuleProducts(predictions, couplings, transposed: true)
        let output = FloatMath.exponentialSquash(sums)
        let routing = RoutingTrace(
            predictions: predictions,
            iterations: [
                RoutingIteration(logits: agreements, couplings: couplings, preSquash: sums, output: output, agreement: nil)
            ])
        return LayerTrace(name: layer.name, output: output, routing: recording ? routing : nil)
    }

    /// The output, the predictions, the agreements (the softmax's logits), the couplings and the sums.
    public func calibrationTensors(_ trace: LayerTrace) -> [CalibrationTensor] {
        var tensors = [CalibrationTensor(.output, trace.output)]
        guard let routing = trace.routing, let iteration = routing.iterations.first else { return tensors }
        tensors.append(CalibrationTensor(.predictions, routing.predictions))
        tensors.append(CalibrationTensor(.logits(iteration: 0), iteration.logits))
        tensors.append(CalibrationTensor(.couplings(iteration: 0), iteration.couplings))
        tensors.append(CalibrationTensor(.sums(iteration: 0), iteration.preSquash, feedsSquash: .exponential))
        return tensors
    }

    // MARK: - Quantization

    /// Every format within the kernel's shift rules (`capsnet_self_attention_capsule_q7`): the
    /// predictions no finer than their product, the agreements' shift 30 + 2 u_hat - a in 0...62,
    /// the couplings no finer than the softmax's Q0.7 or the bias, the sums no finer than c u_hat.
    public func quantize(
        _ context: QuantizationContext
    ) throws(QuantizationError) -> (kind: any QuantizedLayerKind, outputFrac: Int) {
        // The agreement's dot product of a prediction and a sum of I predictions: I * D * 2^14 < 2^31.
        guard inputs * dimension < 1 << 17, inputDimension < 1 << 17 else {
            throw .unsupportedShape(
                layer: context.layer.name,
                reason: "\(inputs) input capsules of \(dimension) could overflow the int8 kernel's 32-bit agreements "
                    + "(I × D must stay below 131,072)")
        }
        let supported = QFormat.supportedFractionalBits
        let clamp = { (frac: Int, low: Int, high: Int) in min(max(frac, max(low, supported.lowerBound)), min(high, supported.upperBound)) }
        let weightFrac = context.weightFormat(weights)
        let products = context.inputFrac + weightFrac
        let predictionFrac = clamp(context.routingFormat(.predictions), products - 31, products)
        let agreementFrac = clamp(context.routingFormat(.logits(iteration: 0)), 2 * predictionFrac - 32, 30 + 2 * predictionFrac)
        let biasFrac = context.weightFormat(bias, site: .bias)
        let couplingFrac = min(context.routingFormat(.couplings(iteration: 0)), max(Int(CAPSNET_SOFTMAX_FRAC), biasFrac))
        let sums = couplingFrac + predictionFrac
        let sumFrac = clamp(context.squashInputFormat(.sums(iteration: 0)), sums - 31, sums)
        let outputFrac = clamp(context.activationFormat(.output), 0, supported.upperBound)
        let quantized = QuantizedSelfAttentionCapsule(
            outputs: outputs, dimension: dimension, inputs: inputs, inputDimension: inputDimension,
            weights: QFormat(fractionalBits: weightFrac).quantize(weights),
            bias: QFormat(fractionalBits: biasFrac).quantize(bias), inputFrac: context.inputFrac,
            weightFrac: weightFrac, predictionFrac: predictionFrac, agreementFrac: agreementFrac, biasFrac: biasFrac,
            couplingFrac: couplingFrac, sumFrac: sumFrac)
        return (quantized, outputFrac)
    }
}
