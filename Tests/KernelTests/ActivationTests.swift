import CapsNetRuntime
import Testing

@Suite("Activations")
struct ActivationTests {
    @Test("ReLU clamps negatives to zero in place and keeps the rest")
    func relu() throws {
        var g = SeededGenerator(seed: 1)
        for size in [1, 2, 7, 64, 1001] {
            let input = g.int8s(size)
            var values = input
            try Kernels.relu(&values)
            #expect(values == input.map { max($0, 0) })
        }
        var edges: [Int8] = [-128, -1, 0, 1, 127]
        try Kernels.relu(&edges)
        #expect(edges == [0, 0, 0, 1, 127])
    }

    @Test("leaky ReLU is bit-exact on every int8 value and within 0.5 + 2^-9 LSB of alpha times it")
    func leakyReLU() throws {
        let every = (-128...127).map { Int8($0) }
        for alpha in [0.0, 0.01, 0.1, 0.2, 0.3, 0.5, 0.999] {
            let leak = Int((alpha * 32768).rounded())
            var values = every
            try Kernels.leakyReLU(&values, leak: leak)
            #expect(values == Reference.leakyReLU(every, leak: leak), "alpha \(alpha)")
            let worst = zip(every, values).map { q, y in abs(Double(y) - (q < 0 ? alpha * Double(q) : Double(q))) }.max() ?? 0
            #expect(worst <= 0.5 + 1.0 / 512, "alpha \(alpha): \(worst) LSB")
        }
    }

    /// Valid squash formats: any input format, an output format of 0 to 15 bits.
    static func randomSquashFormats(_ g: inout SeededGenerator) -> (QFormat, QFormat) {
        (QFormat(fractionalBits: g.frac()), QFormat(fractionalBits: g.int(0...15)))
    }

    @Test("squash is bit-exact on random capsules and every format pair")
    func squashBitExact() throws {
        var g = SeededGenerator(seed: 2)
        for inFrac in QFormat.supportedFractionalBits {
            for outFrac in 0...15 {
                let dim = g.int(1...16)
                let capsules = g.int8s(dim * g.int(1...12))
                let actual = try Kernels.squash(
                    capsules, capsuleDim: dim, inputFormat: QFormat(fractionalBits: inFrac),
                    outputFormat: QFormat(fractionalBits: outFrac))
                let expected = Reference.squash(capsules, dim: dim, inFrac: inFrac, outFrac: outFrac)
                #expect(actual == expected, "dim \(dim) Q\(inFrac) -> Q\(outFrac): \(capsules)")
            }
        }
    }

    @Test("squash of zeros, one-element capsules and the largest norms")
    func squashEdges() throws {
        for (capsules, dim) in [
            ([Int8](repeating: 0, count: 8), 4), ([-128, 127, 0, 1, -1], 1), ([Int8](repeating: -128, count: 64), 64),
            ([Int8](repeating: 127, count: 3 * 5), 5),
            // Sums of squares just below 2^28, at 2^28 and the largest (131071 * 2^14), around the
            // square root's switch from 32-bit to 64-bit steps.
            ([Int8](repeating: -128, count: 16_383), 16_383), ([Int8](repeating: -128, count: 16_384), 16_384),
            ([Int8](repeating: -128, count: 131_071), 131_071),
        ] {
            for (inFrac, outFrac) in [(-8, 0), (-8, 15), (0, 7), (7, 7), (15, 15), (15, 0), (3, 9)] {
                let actual = try Kernels.squash(
                    capsules, capsuleDim: dim, inputFormat: QFormat(fractionalBits: inFrac),
                    outputFormat: QFormat(fractionalBits: outFrac))
                #expect(actual == Reference.squash(capsules, dim: dim, inFrac: inFrac, outFrac: outFrac))
            }
        }
        #expect(
            try Kernels.squash(
                [0, 0, 0], capsuleDim: 3, inputFormat: .init(fractionalBits: 3), outputFormat: .init(fractionalBits: 7))
                == [0, 0, 0])
    }

    @Test("squash stays within 0.5 + 2^-8 LSB of the float squash wherever the result fits int8")
    func squashAccuracy() throws {
        var g = SeededGenerator(seed: 3)
        var worst = 0.0
        for _ in 0..<3000 {
            let (inFormat, outFormat) = Self.randomSquashFormats(&g)
            let dim = g.int(1...16)
            let capsules = g.int8s(dim * g.int(1...4))
            let actual = try Kernels.squash(capsules, capsuleDim: dim, inputFormat: inFormat, outputFormat: outFormat)
            let exact = Reference.squashFloat(inFormat.dequantize(capsules), dim: dim)
            for (q, v) in zip(actual, exact) {
                let target = v / outFormat.step
                guard target >= -128, target <= 127 else { continue }
                worst = max(worst, abs(Double(q) - target))
            }
        }
        print("squash: max error against float \(worst) LSB of the output format")
        #expect(worst <= 0.5 + 1.0 / 256)
    }
}
