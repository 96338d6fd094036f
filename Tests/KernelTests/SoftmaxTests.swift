import CapsNetRuntime
import Testing

@Suite("Softmax")
struct SoftmaxTests {
    @Test("bit-exact on random rows for every logit format")
    func bitExact() throws {
        var g = SeededGenerator(seed: 4)
        for frac in QFormat.supportedFractionalBits {
            for _ in 0..<12 {
                let rowLength = g.int(1...20)
                let logits = g.int8s(rowLength * g.int(1...30))
                let actual = try Kernels.softmax(
                    logits, rowLength: rowLength, logitFormat: QFormat(fractionalBits: frac))
                #expect(
                    actual == Reference.softmax(logits, rowLength: rowLength, frac: frac), "Q.\(frac) row \(rowLength)")
            }
        }
    }

    @Test("every logit difference from 0 to 255, the full exponential table")
    func fullRange() throws {
        for frac in QFormat.supportedFractionalBits {
            // Rows [x, -128] for every x give differences 0 ... 255.
            let logits = (-128...127).flatMap { [Int8($0), Int8.min] }
            let actual = try Kernels.softmax(logits, rowLength: 2, logitFormat: QFormat(fractionalBits: frac))
            #expect(actual == Reference.softmax(logits, rowLength: 2, frac: frac), "Q.\(frac)")
        }
    }

    @Test("uniform and one-hot rows, one-element rows")
    func edges() throws {
        let q4 = QFormat(fractionalBits: 4)
        #expect(
            try Kernels.softmax([Int8](repeating: 0, count: 10), rowLength: 10, logitFormat: q4)
                == [Int8](repeating: 13, count: 10))
        #expect(try Kernels.softmax([5, 5, 5, 5], rowLength: 4, logitFormat: q4) == [32, 32, 32, 32])
        #expect(try Kernels.softmax([127, -128], rowLength: 2, logitFormat: q4) == [127, 0])
        #expect(try Kernels.softmax([-128, 42, 127], rowLength: 1, logitFormat: q4) == [127, 127, 127])
    }

    @Test("within 0.5 + 0.002 (J + 1) LSB of the float softmax, 1 LSB where 1.0 saturates")
    func accuracy() throws {
        var g = SeededGenerator(seed: 5)
        var worst = 0.0
        var worstSaturated = 0.0
        var worstSlack = -1.0
        for _ in 0..<4000 {
            let format = QFormat(fractionalBits: g.frac())
            let rowLength = g.int(1...32)
            let logits = g.int8s(rowLength)
            let actual = try Kernels.softmax(logits, rowLength: rowLength, logitFormat: format)
            let exact = Reference.softmaxFloat(format.dequantize(logits), rowLength: rowLength)
            let bound = 0.5 + 0.002 * Double(rowLength + 1)
            for (c, p) in zip(actual, exact) {
                let error = abs(Double(c) - p * 128)
                if p * 128 > 127.5 {
                    worstSaturated = max(worstSaturated, error)
                } else {
                    worst = max(worst, error)
                    worstSlack = max(worstSlack, error - bound)
                }
            }
        }
        print("softmax: max error against float \(worst) LSB of Q0.7 (\(worstSaturated) LSB where 1.0 saturates)")
        #expect(worstSlack <= 0)
        #expect(worstSaturated <= 1)
    }

    @Test("in place, and with a scratch buffer at any alignment")
    func inPlaceAndAlignment() throws {
        var g = SeededGenerator(seed: 6)
        let logits = g.int8s(7 * 9)
        let expected = Reference.softmax(logits, rowLength: 9, frac: 3)
        let size = Int(capsnet_softmax_q7_get_buffer_size())
        for offset in 0..<4 {
            var values = logits
            var scratch = [UInt8](repeating: 0, count: size + offset)
            let status = scratch.withUnsafeMutableBytes { raw in
                var ctx = capsnet_context(buf: raw.baseAddress! + offset, size: Int32(size))
                return values.withUnsafeMutableBufferPointer {
                    capsnet_softmax_q7(&ctx, $0.baseAddress, 7, 9, 3, $0.baseAddress)
                }
            }
            #expect(status == CAPSNET_OK)
            #expect(values == expected, "offset \(offset)")
        }
    }
}
