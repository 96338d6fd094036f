import CapsNetEdge
import Testing

@Suite("QFormat")
struct QFormatTests {
    @Test("quantize rounds halves up and saturates; dequantize inverts it on the grid")
    func quantize() {
        let q4 = QFormat(fractionalBits: 4)
        #expect(q4.quantize(0.03125) == 1)  // 0.5 LSB rounds up
        #expect(q4.quantize(-0.03125) == 0)  // -0.5 LSB rounds up, to 0
        #expect(q4.quantize(-0.09375) == -1)  // -1.5 LSB rounds up, to -1
        #expect(q4.quantize(100) == 127)
        #expect(q4.quantize(-100) == -128)
        #expect(q4.quantize(.nan) == 0)
        #expect(q4.quantize(.infinity) == 127)
        for q in Int8.min...Int8.max { #expect(q4.quantize(q4.dequantize(q)) == q) }
        #expect(QFormat(fractionalBits: -2).dequantize(-128) == -512)
    }

    @Test("the covering format is the finest one that holds the range")
    func covering() {
        #expect(QFormat(covering: 1.0).fractionalBits == 6)  // 1.0 * 2^7 = 128 would saturate
        #expect(QFormat(covering: 0.99).fractionalBits == 7)  // 0.99 * 128 rounds to 127
        #expect(QFormat(covering: 47.05).fractionalBits == 1)  // the MNIST pre-squash range
        #expect(QFormat(covering: 0).fractionalBits == 15)
        #expect(QFormat(covering: 1e9).fractionalBits == -8)  // beyond every format: the coarsest
        #expect(QFormat(covering: 3.0e-4).fractionalBits == 15)
    }

    @Test("described as Qm.n")
    func description() {
        #expect(QFormat(fractionalBits: 7).description == "Q0.7")
        #expect(QFormat(fractionalBits: 1).description == "Q6.1")
        #expect(QFormat.softmaxOutput == QFormat(fractionalBits: 7))
    }
}
