import CapsNetRuntime
import Testing

@Suite("Matrix functions")
struct MatrixTests {
    static func randomFormats(_ g: inout SeededGenerator) -> capsnet_mat_formats {
        var a = 0
        var b = 0
        repeat { (a, b) = (g.frac(), g.frac()) } while a + b < -8
        return capsnet_mat_formats(a_frac: Int32(a), b_frac: Int32(b), out_frac: Int32(g.productFrac(a, b)!))
    }

    static func shift(_ f: capsnet_mat_formats) -> Int { Int(f.a_frac + f.b_frac - f.out_frac) }

    /// Supported formats whose product shift is `shift` (0 to 31).
    static func formats(shift: Int) -> capsnet_mat_formats {
        let a = min(15, shift)
        let b = min(15, shift - a)
        return capsnet_mat_formats(a_frac: Int32(a), b_frac: Int32(b), out_frac: Int32(a + b - shift))
    }

    @Test("products with and without a transposed operand are bit-exact on random shapes")
    func products() throws {
        var g = SeededGenerator(seed: 8)
        for _ in 0..<300 {
            let (m, k, n) = (g.int(1...9), g.int(1...40), g.int(1...9))
            let formats = Self.randomFormats(&g)
            let a = g.int8s(m * k)
            let b = g.int8s(k * n)
            #expect(
                try Kernels.matMult(a, b, m: m, k: k, n: n, formats: formats)
                    == Reference.matMult(a, b, m: m, k: k, n: n, transposeB: false, shift: Self.shift(formats)))
            #expect(
                try Kernels.matMultTransB(a, b, m: m, k: k, n: n, formats: formats)
                    == Reference.matMult(a, b, m: m, k: k, n: n, transposeB: true, shift: Self.shift(formats)))
        }
    }

    @Test(
        "requantization rounds halves up and saturates, as documented",
        arguments: [
            // (a * b, shift, expected): ties go towards +infinity, unlike truncating division.
            (3, 1, 2), (-3, 1, -1), (1, 1, 1), (-1, 1, 0), (5, 2, 1), (6, 2, 2), (-6, 2, -1), (-7, 2, -2),
            (127, 0, 127), (-128, 0, -128), (127, 7, 1), (-64, 7, 0), (-65, 7, -1), (100, 31, 0),
        ])
    func rounding(product: Int, shift: Int, expected: Int) throws {
        #expect(
            try Kernels.matMult([Int8(product)], [1], m: 1, k: 1, n: 1, formats: Self.formats(shift: shift)) == [
                Int8(expected)
            ])
    }

    @Test("saturation of the largest accumulators, K = 131071")
    func maximumAccumulator() throws {
        let k = 131_071
        let low = [Int8](repeating: -128, count: k)
        let high = [Int8](repeating: 127, count: k)
        for (a, b, shift) in [(low, low, 31), (low, low, 24), (low, high, 31), (low, high, 0)] {
            #expect(
                try Kernels.matMultTransB(a, b, m: 1, k: k, n: 1, formats: Self.formats(shift: shift))
                    == Reference.matMult(a, b, m: 1, k: k, n: 1, transposeB: true, shift: shift))
        }
    }

    @Test("the aligned sum equals the exact sum of the two real values, rounded once")
    func add() throws {
        var g = SeededGenerator(seed: 9)
        for aFrac in QFormat.supportedFractionalBits {
            for bFrac in QFormat.supportedFractionalBits {
                let outFrac = g.int(-8...max(aFrac, bFrac))
                let a = g.int8s(g.int(1...20))
                let b = g.int8s(a.count)
                let formats = capsnet_mat_formats(a_frac: Int32(aFrac), b_frac: Int32(bFrac), out_frac: Int32(outFrac))
                #expect(
                    try Kernels.matAdd(a, b, formats: formats)
                        == Reference.add(a, b, aFrac: aFrac, bFrac: bFrac, outFrac: outFrac), "\(formats)")
            }
        }
    }

    @Test("transpose")
    func transpose() throws {
        var g = SeededGenerator(seed: 10)
        for _ in 0..<50 {
            let (rows, cols) = (g.int(1...12), g.int(1...12))
            let matrix = g.int8s(rows * cols)
            let expected = (0..<cols).flatMap { c in (0..<rows).map { r in matrix[r * cols + c] } }
            #expect(try Kernels.transpose(matrix, rows: rows, cols: cols) == expected)
        }
    }
}
