import ArgumentParser
import CapsNetEdge
import Foundation

/// Runs every kernel on a small example: a toy CapsNet with random weights, then the nonlinear
/// kernels beside their float definitions.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the int8 kernels on a small example network.",
        discussion: """
            A toy CapsNet (12x12 image, conv 3x3 + ReLU, primary capsules, a capsule layer with 3 routing \
            iterations, lengths) runs through the portable C kernels with random weights; then squash, softmax \
            and capsule length are shown against their float definitions.
            """
    )

    @Option(help: "Seed of the toy network's random weights.")
    var seed: UInt64 = 2026

    func run() throws {
        var rng = SplitMix(seed: seed)
        print("CapsNet int8 kernels, portable C path: a toy network with random weights (seed \(seed))\n")
        try ToyNetwork(&rng).run()
        print("\nNonlinear kernels against float, on the dequantized int8 input:\n")
        try compareNonlinearKernels()
    }
}

/// A CapsNet small enough to print. Weights are drawn from ranges that suit the fixed formats.
private struct ToyNetwork {
    static let image = capsnet_hwc(h: 12, w: 12, c: 1)
    static let features = capsnet_hwc(h: 10, w: 10, c: 8)
    static let capsuleGrid = capsnet_hwc(h: 4, w: 4, c: 16)  // 4 capsules of 4D at each of 4x4 places
    static let layer = capsnet_capsule_dims(num_inputs: 64, input_dim: 4, num_outputs: 3, output_dim: 6)

    let input: [Int8], convWeights: [Int8], convBias: [Int8], primaryWeights: [Int8], primaryBias: [Int8]
    let capsuleWeights: [Int8]

    init(_ rng: inout SplitMix) {
        // A ring, the simplest shape with parts in a spatial relation.
        input = (0..<144).map { p in
            let (y, x) = (Double(p / 12) - 5.5, Double(p % 12) - 5.5)
            return abs((x * x + y * y).squareRoot() - 3.5) < 1.2 ? 127 : 0
        }
        convWeights = rng.int8s(8 * 3 * 3 * 1, within: 64)
        convBias = rng.int8s(8, within: 16)
        primaryWeights = rng.int8s(16 * 3 * 3 * 8, within: 24)
        primaryBias = rng.int8s(16, within: 16)
        capsuleWeights = rng.int8s(3 * 64 * 6 * 4, within: 64)
    }

    func run() throws {
        let conv = capsnet_conv_params(
            kernel: capsnet_hw(h: 3, w: 3), stride: capsnet_hw(h: 1, w: 1), padding: capsnet_hw(h: 0, w: 0),
            input_frac: 7, weight_frac: 7, bias_frac: 7, output_frac: 4, activation: Activation.relu.cValue, weight_fracs: nil)
        let features = try Kernels.convolution(
            input, shape: Self.image, weights: convWeights, bias: convBias, parameters: conv,
            outputShape: Self.features)

        let primary = capsnet_primary_capsule_params(
            conv: capsnet_conv_params(
                kernel: capsnet_hw(h: 3, w: 3), stride: capsnet_hw(h: 2, w: 2), padding: capsnet_hw(h: 0, w: 0),
                input_frac: 4, weight_frac: 7, bias_frac: 7, output_frac: 4, activation: Activation.none.cValue, weight_fracs: nil),
            capsule_dim: 4, output_frac: 7)
        let capsules = try Kernels.primaryCapsules(
            features, shape: Self.features, weights: primaryWeights, bias: primaryBias, parameters: primary,
            outputShape: Self.capsuleGrid)

        let routing = capsnet_routing_formats(logit_frac: 3, sum_frac: 4, output_frac: 7, agreement_frac: 3)
        let outputs = try Kernels.capsuleLayer(
            capsules, weights: capsuleWeights, dims: Self.layer, inputFormat: QFormat(fractionalBits: 7),
            weightFormat: QFormat(fractionalBits: 7), predictionFormat: QFormat(fractionalBits: 5),
            iterations: [routing, routing, routing])
        let lengths = try Kernels.capsuleLengths(
            outputs, capsuleDim: 6, inputFormat: QFormat(fractionalBits: 7), outputFormat: QFormat(fractionalBits: 7))

        var dims = Self.layer
        let scratch = [routing, routing, routing].withUnsafeBufferPointer { formats in
            RoutingMemory.allCases.map { memory in
                var params = capsnet_capsule_params(
                    input_frac: 7, weight_frac: 7, prediction_frac: 5, routings: 3, iterations: formats.baseAddress,
                    memory: memory == .keepPredictions
                        ? CAPSNET_ROUTING_KEEP_PREDICTIONS : CAPSNET_ROUTING_RECOMPUTE_PREDICTIONS, weight_fracs: nil,
                    precision: CAPSNET_ROUTING_Q7)
                return capsnet_capsule_layer_q7_get_buffer_size(&params, &dims)
            }
        }
        let rows: [(String, String, [Int8], Int)] = [
            ("input", "12x12x1", input, 7),
            ("conv 3x3 + ReLU", "10x10x8", features, 4),
            ("primary capsules", "64 x 4D", capsules, 7),
            ("capsule layer", "3 x 6D", outputs, 7),
            ("lengths", "3", lengths, 7),
        ]
        print(pad("layer", 18) + pad("output", 10) + pad("format", 8) + pad("bytes", 7) + "first values")
        for (name, shape, values, frac) in rows {
            let format = QFormat(fractionalBits: frac)
            let shown = format.dequantize(Array(values.prefix(6)))
                .map { String(format: "%6.3f", $0) }.joined(separator: " ")
            print(pad(name, 18) + pad(shape, 10) + pad(format.description, 8) + pad("\(values.count)", 7) + shown)
        }
        let predicted = lengths.indices.max { lengths[$0] < lengths[$1] } ?? 0
        print(
            "\nscratch of the capsule layer: \(scratch[0]) bytes keeping u_hat, \(scratch[1]) bytes recomputing it "
                + "(softmax table, partial sums, earlier outputs)")
        print("predicted class: \(predicted) (random weights: the class means nothing, the pipeline is what runs)")
    }
}

/// Squash, softmax and capsule length on one example each: the int8 result dequantized beside the
/// float function of the same dequantized input, and the error in steps (LSB) of the output format.
private func compareNonlinearKernels() throws {
    let q34 = QFormat(fractionalBits: 4)
    let q07 = QFormat(fractionalBits: 7)

    let s = q34.quantize([1.25, -2.5, 0.75, 3.0])
    let v = try Kernels.squash(s, capsuleDim: 4, inputFormat: q34, outputFormat: q07)
    let sReal = q34.dequantize(s)
    let norm2 = sReal.reduce(0) { $0 + $1 * $1 }
    let vFloat = sReal.map { $0 * norm2.squareRoot() / (1 + norm2) }
    show("squash", input: sReal, from: q34, int8: q07.dequantize(v), float: vFloat, to: q07)

    let b = q34.quantize([2.0, 0.5, -1.0, 3.25])
    let c = try Kernels.softmax(b, rowLength: 4, logitFormat: q34)
    let bReal = q34.dequantize(b)
    let e = bReal.map { exp($0 - (bReal.max() ?? 0)) }
    let cFloat = e.map { $0 / e.reduce(0, +) }
    show("softmax", input: bReal, from: q34, int8: q07.dequantize(c), float: cFloat, to: q07)

    let length = try Kernels.capsuleLengths(v, capsuleDim: 4, inputFormat: q07, outputFormat: q07)
    let vReal = q07.dequantize(v)
    let lengthFloat = vReal.reduce(0) { $0 + $1 * $1 }.squareRoot()
    show("length", input: vReal, from: q07, int8: q07.dequantize(length), float: [lengthFloat], to: q07)
}

private func show(_ name: String, input: [Double], from: QFormat, int8: [Double], float: [Double], to: QFormat) {
    let list = { (x: [Double]) in x.map { String(format: "%.4f", $0) }.joined(separator: " ") }
    let error = zip(int8, float).map { abs($0 - $1) / to.step }.max() ?? 0
    print("\(name): input (\(list(input))) in \(from), output in \(to)")
    print("  int8  \(list(int8))\n  float \(list(float))\n  max error \(String(format: "%.3f", error)) LSB")
}

private func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
}

/// A seeded generator, so that the demo prints the same every time.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Values uniform in [-limit, limit].
    mutating func int8s(_ count: Int, within limit: Int) -> [Int8] {
        (0..<count).map { _ in Int8(Int(next() % UInt64(2 * limit + 1)) - limit) }
    }
}
