import CapsNetRuntime
import Foundation
import Testing

@Suite("Normalization")
struct NormalizationTests {
    /// The documented rule, computed exactly: round half up of (x · scale + offset) / 2^shift, saturated.
    static func reference(
        _ values: [Int8], scales: [Int16], scaleFracs: [Int8], offsets: [Int32], inputFrac: Int, outputFrac: Int
    ) -> [Int8] {
        values.enumerated().map { index, x in
            let c = index % scales.count
            let shift = inputFrac + Int(scaleFracs[c]) - outputFrac
            let exact = (Double(x) * Double(scales[c]) + Double(offsets[c])) / pow(2, Double(shift))
            let rounded = (exact + 0.5).rounded(.down)
            return Int8(max(-128, min(127, rounded)))
        }
    }

    @Test("the per-channel affine map is bit-exact on random data, formats, scales and offsets")
    func channelAffine() throws {
        var g = SeededGenerator(seed: 31)
        for _ in 0..<400 {
            let channels = g.int(1...9)
            let positions = g.int(1...20)
            let inputFrac = g.int(-8...15)
            let scaleFracs = (0..<channels).map { _ in Int8(g.int(max(-8, -inputFrac - 8)...15)) }
            let outputFrac = g.int(-8...min(15, inputFrac + Int(scaleFracs.min() ?? 0)))
            // Shifts above 31 are refused; keep the case valid.
            let fracs = scaleFracs.map { Int8(min(Int($0), outputFrac + 31 - inputFrac)) }
            let scales = (0..<channels).map { _ in Int16(g.int(-32768...32767)) }
            let offsets = (0..<channels).map { _ in Int32(g.int(-(1 << 29)...(1 << 29))) >> Int32(g.int(0...30)) }
            let input = g.int8s(positions * channels)
            var values = input
            try Kernels.channelAffine(
                &values, scales: scales, scaleFracs: fracs, offsets: offsets, inputFrac: inputFrac, outputFrac: outputFrac)
            let expected = Self.reference(
                input, scales: scales, scaleFracs: fracs, offsets: offsets, inputFrac: inputFrac, outputFrac: outputFrac)
            #expect(values == expected, "Q\(inputFrac) -> Q\(outputFrac), fracs \(fracs)")
        }
    }

    @Test("the affine map refuses bad shifts and offsets, and writes nothing")
    func channelAffineRefusals() {
        let input: [Int8] = [1, -2, 3, -4]
        func call(fracs: [Int8] = [7, 7], offsets: [Int32] = [0, 0], input inputFrac: Int = 4, output: Int = 4)
            -> KernelError.Reason?
        {
            var values = input
            do {
                try Kernels.channelAffine(
                    &values, scales: [100, -100], scaleFracs: fracs, offsets: offsets, inputFrac: inputFrac,
                    outputFrac: output)
            } catch {
                return values == input ? error.reason : nil
            }
            return values == input ? nil : .unknownStatus(0)
        }
        #expect(call() == .unknownStatus(0))  // a valid call writes
        #expect(call(output: 12) == .shift)  // negative shift
        #expect(call(fracs: [15, 15], input: 15, output: -2) == .shift)  // shift 32
        #expect(call(fracs: [7, 16]) == .shift)  // format out of range
        #expect(call(offsets: [0, (1 << 29) + 1]) == .overflow)
        #expect(call(offsets: [-(1 << 29) - 1, 0]) == .overflow)
        #expect(call(fracs: [15, 15], offsets: [1 << 29, -(1 << 29)], input: 15, output: -1) == .unknownStatus(0))  // shift 31
        var empty: [Int8] = []
        #expect(throws: KernelError(kernel: "capsnet_channel_affine_q7", reason: .dimension)) {
            try Kernels.channelAffine(&empty, scales: [1], scaleFracs: [0], offsets: [0], inputFrac: 0, outputFrac: 0)
        }
    }

    /// The instance normalization in exact arithmetic on the same int8 input and parameters:
    /// gamma · (x − mean) / sqrt(variance + eps) + beta in the output's format, unrounded.
    static func instanceNormReference(
        _ values: [Int8], channels: Int, gammas: [Int16], gammaFracs: [Int8], betas: [Int16], epsilon: UInt32,
        outputFrac: Int
    ) -> [Double] {
        let positions = values.count / channels
        var exact = [Double](repeating: 0, count: values.count)
        for c in 0..<channels {
            let column = (0..<positions).map { Double(values[$0 * channels + c]) }
            let mean = column.reduce(0, +) / Double(positions)
            let variance = column.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(positions)
            let sigma = (variance + Double(epsilon) / 65536).squareRoot()
            let gamma = Double(gammas[c]) / pow(2, Double(gammaFracs[c]))
            for p in 0..<positions {
                let z = sigma == 0 ? 0 : (column[p] - mean) / sigma
                exact[p * channels + c] = z * gamma * pow(2, Double(outputFrac)) + Double(betas[c])
            }
        }
        return exact
    }

    @Test("the instance normalization is within 1 LSB of the exact map, on random data, formats and parameters")
    func instanceNorm() throws {
        var g = SeededGenerator(seed: 47)
        var worst = 0.0
        var exactlyRounded = 0
        var total = 0
        for trial in 0..<400 {
            let channels = g.int(1...9)
            let positions = trial < 10 ? g.int(1000...4096) : g.int(1...64)
            let inputFrac = g.int(-8...15)
            let gammaFracs = (0..<channels).map { _ in Int8(g.int(0...15)) }
            let outputFrac = g.int(-8...min(15, Int(gammaFracs.min() ?? 0) + 8))
            let gammas = (0..<channels).map { _ in Int16(g.int(-32768...32767)) >> Int16(g.int(0...14)) }
            let betas = (0..<channels).map { _ in Int16(g.int(-200...200)) }
            let epsilon = g.int(0...3) == 0 ? 0 : UInt32(g.int(0...(1 << 30)) >> g.int(0...30))
            // Narrow data too, so that small variances (where epsilon matters) are tried.
            let spread = g.int(1...4) == 1 ? g.int(1...3) : 127
            let input = (0..<positions * channels).map { _ in Int8(g.int(-spread...spread)) }
            var values = input
            try Kernels.instanceNormalization(
                &values, gammas: gammas, gammaFracs: gammaFracs, betas: betas, epsilon: epsilon, inputFrac: inputFrac,
                outputFrac: outputFrac)
            let exact = Self.instanceNormReference(
                input, channels: channels, gammas: gammas, gammaFracs: gammaFracs, betas: betas, epsilon: epsilon,
                outputFrac: outputFrac)
            for (value, target) in zip(values, exact) {
                let clamped = min(max(target, -128), 127)
                let error = abs(Double(value) - clamped)
                worst = max(worst, error)
                exactlyRounded += Double(value) == (clamped + 0.5).rounded(.down) ? 1 : 0
                total += 1
            }
        }
        print("instance normalization: max error against the exact map \(worst) LSB, \(exactlyRounded) of \(total) exactly rounded")
        #expect(worst <= 1)
    }

    @Test("the instance normalization: a constant channel gives beta; bad sizes, formats and epsilon are refused")
    func instanceNormEdges() throws {
        var constant: [Int8] = [5, -3, 5, 7, 5, -3]
        try Kernels.instanceNormalization(
            &constant, gammas: [1000, 1000], gammaFracs: [10, 10], betas: [9, -300], epsilon: 0, inputFrac: 0,
            outputFrac: 4)
        #expect(constant[0] == 9 && constant[2] == 9 && constant[4] == 9)

        let input: [Int8] = [1, -2, 3, -4]
        func call(fracs: [Int8] = [7, 7], epsilon: UInt32 = 16, input inputFrac: Int = 4, output: Int = 4) -> KernelError.Reason? {
            var values = input
            do {
                try Kernels.instanceNormalization(
                    &values, gammas: [100, -100], gammaFracs: fracs, betas: [0, 0], epsilon: epsilon, inputFrac: inputFrac,
                    outputFrac: output)
            } catch {
                return values == input ? error.reason : nil
            }
            return values == input ? nil : .unknownStatus(0)
        }
        #expect(call() == .unknownStatus(0))  // a valid call writes
        #expect(call(output: 15) == .unknownStatus(0))  // output_frac = gamma_frac + 8
        #expect(call(fracs: [6, 7], output: 15) == .shift)  // one gamma too coarse for the output
        #expect(call(fracs: [7, 16]) == .shift)
        #expect(call(fracs: [-1, 7]) == .shift)
        #expect(call(input: 16) == .shift)
        #expect(call(epsilon: 1 << 30) == .unknownStatus(0))
        #expect(call(epsilon: (1 << 30) + 1) == .argument)
        var large = [Int8](repeating: 1, count: 65537)
        #expect(throws: KernelError(kernel: "capsnet_instance_norm_q7", reason: .dimension)) {
            try Kernels.instanceNormalization(
                &large, gammas: [1], gammaFracs: [0], betas: [0], epsilon: 0, inputFrac: 0, outputFrac: 0)
        }
    }
}
