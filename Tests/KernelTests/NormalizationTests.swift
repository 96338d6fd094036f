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
}
