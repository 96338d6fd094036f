import CapsNetEdge
import Testing

@Suite("Swift kernel entry points")
struct KernelEntryPointTests {
    // Computed: a struct with a pointer (weight_fracs) is not Sendable.
    static var conv: capsnet_conv_params {
        capsnet_conv_params(
            kernel: capsnet_hw(h: 3, w: 3), stride: capsnet_hw(h: 1, w: 1), padding: capsnet_hw(h: 1, w: 1),
            input_frac: 7, weight_frac: 7, bias_frac: 7, output_frac: 5, activation: Activation.none.cValue,
            weight_fracs: nil)
    }

    @Test("an array shorter or longer than its shape is refused before the kernel runs")
    func lengthMismatch() {
        let shape = capsnet_hwc(h: 4, w: 4, c: 2)
        let out = capsnet_hwc(h: 4, w: 4, c: 3)
        #expect(
            throws: KernelError(
                kernel: "capsnet_conv_hwc_q7", reason: .length(argument: "input", expected: 32, actual: 31))
        ) {
            try Kernels.convolution(
                [Int8](repeating: 0, count: 31), shape: shape, weights: [Int8](repeating: 0, count: 54), bias: nil,
                parameters: Self.conv, outputShape: out)
        }
        #expect(
            throws: KernelError(
                kernel: "capsnet_conv_hwc_q7", reason: .length(argument: "weights", expected: 54, actual: 55))
        ) {
            try Kernels.convolution(
                [Int8](repeating: 0, count: 32), shape: shape, weights: [Int8](repeating: 0, count: 55), bias: nil,
                parameters: Self.conv, outputShape: out)
        }
        #expect(
            throws: KernelError(
                kernel: "capsnet_conv_hwc_q7", reason: .length(argument: "bias", expected: 3, actual: 2))
        ) {
            try Kernels.convolution(
                [Int8](repeating: 0, count: 32), shape: shape, weights: [Int8](repeating: 0, count: 54), bias: [1, 2],
                parameters: Self.conv, outputShape: out)
        }
        #expect(
            throws: KernelError(kernel: "capsnet_mat_add_q7", reason: .length(argument: "b", expected: 3, actual: 2))
        ) {
            try Kernels.matAdd([1, 2, 3], [1, 2], formats: capsnet_mat_formats(a_frac: 0, b_frac: 0, out_frac: 0))
        }
        #expect(
            throws: KernelError(
                kernel: "capsnet_capsule_layer_q7", reason: .length(argument: "weights", expected: 24, actual: 23))
        ) {
            try Kernels.capsuleLayer(
                [Int8](repeating: 0, count: 4), weights: [Int8](repeating: 0, count: 23),
                dims: capsnet_capsule_dims(num_inputs: 2, input_dim: 2, num_outputs: 3, output_dim: 2),
                inputFormat: QFormat(fractionalBits: 7), weightFormat: QFormat(fractionalBits: 7),
                predictionFormat: QFormat(fractionalBits: 7),
                iterations: [capsnet_routing_formats(logit_frac: 0, sum_frac: 7, output_frac: 7, agreement_frac: 7)])
        }
    }

    @Test("sizes below 1 and capsules that do not divide the values are dimension errors")
    func dimensions() {
        let q7 = QFormat(fractionalBits: 7)
        #expect(throws: KernelError(kernel: "capsnet_squash_q7", reason: .dimension)) {
            try Kernels.squash([1, 2, 3], capsuleDim: 2, inputFormat: q7, outputFormat: q7)
        }
        #expect(throws: KernelError(kernel: "capsnet_softmax_q7", reason: .dimension)) {
            try Kernels.softmax([], rowLength: 1, logitFormat: q7)
        }
        #expect(throws: KernelError(kernel: "capsnet_mat_transpose_q7", reason: .dimension)) {
            try Kernels.transpose([], rows: 0, cols: 3)
        }
        var empty: [Int8] = []
        #expect(throws: KernelError(kernel: "capsnet_relu_q7", reason: .dimension)) { try Kernels.relu(&empty) }
        #expect(throws: KernelError(kernel: "capsnet_capsule_layer_q7", reason: .dimension)) {
            try Kernels.capsuleLayer(
                [1, 2], weights: [1, 2],
                dims: capsnet_capsule_dims(num_inputs: 1, input_dim: 2, num_outputs: 1, output_dim: 1),
                inputFormat: QFormat(fractionalBits: 7), weightFormat: QFormat(fractionalBits: 7),
                predictionFormat: QFormat(fractionalBits: 7),
                iterations: [])
        }
    }

    @Test("kernel statuses arrive as typed errors whose message names the kernel and the cause")
    func statuses() {
        let q7 = QFormat(fractionalBits: 7)
        #expect(throws: KernelError(kernel: "capsnet_squash_q7", reason: .shift)) {
            try Kernels.squash([1, 2], capsuleDim: 2, inputFormat: QFormat(fractionalBits: 16), outputFormat: q7)
        }
        #expect(throws: KernelError(kernel: "capsnet_mat_mult_q7", reason: .overflow)) {
            try Kernels.matMult(
                [Int8](repeating: 1, count: 131_072), [Int8](repeating: 1, count: 131_072), m: 1, k: 131_072, n: 1,
                formats: capsnet_mat_formats(a_frac: 7, b_frac: 7, out_frac: 7))
        }
        let shift = KernelError(kernel: "capsnet_squash_q7", reason: .shift).description
        #expect(shift.hasPrefix("capsnet_squash_q7: unsupported formats"))
        #expect(shift.contains("-8 to 15 fractional bits"))
        let length = KernelError(
            kernel: "capsnet_conv_hwc_q7", reason: .length(argument: "bias", expected: 3, actual: 2))
        #expect(length.description == "capsnet_conv_hwc_q7: bias has 2 values but its shape needs 3")
    }

    @Test("the wrappers return what the kernels compute")
    func results() throws {
        var values: [Int8] = [-3, 0, 5]
        try Kernels.relu(&values)
        #expect(values == [0, 0, 5])
        #expect(try Kernels.transpose([1, 2, 3, 4, 5, 6], rows: 2, cols: 3) == [1, 4, 2, 5, 3, 6])
        #expect(try Kernels.softmax([0, 0], rowLength: 2, logitFormat: QFormat(fractionalBits: 4)) == [64, 64])
        // |(3, 4)| = 5, squash gives (0.6, 0.8) * 25/26.
        let squashed = try Kernels.squash(
            [3, 4], capsuleDim: 2, inputFormat: .init(fractionalBits: 0), outputFormat: .init(fractionalBits: 7))
        #expect(squashed == [74, 98])
        #expect(
            try Kernels.capsuleLengths(
                [3, 4], capsuleDim: 2, inputFormat: .init(fractionalBits: 0), outputFormat: .init(fractionalBits: 4))
                == [80])
    }
}

/// The example of the README's "Using the library from Swift", with the values it shows.
@Test("the README's Swift example prints what the README says")
func readmeExample() throws {
    let q4 = QFormat(fractionalBits: 4)
    let q7 = QFormat(fractionalBits: 7)
    let capsules = q4.quantize([1.25, -2.5, 0.75, 3.0])
    let squashed = try Kernels.squash(capsules, capsuleDim: 4, inputFormat: q4, outputFormat: q7)
    #expect(q7.dequantize(squashed) == [0.28125, -0.5703125, 0.171875, 0.6796875])
}
