import Foundation

extension Reference {
    // MARK: Exponential squash

    /// round(exp(-2^b) * 2^31) for b = -31 ... 4, from Foundation's exp.
    static let expOfBitQ31: [UInt128] = (-31...4).map { UInt128((exp(-pow2($0)) * pow2(31)).rounded()) }

    /// The documented integer rule of capsnet_exp_squash_q7, in 128-bit integers.
    static func exponentialSquash(_ q: [Int8], dim: Int, inFrac f: Int, outFrac g: Int) -> [Int8] {
        stride(from: 0, to: q.count, by: dim).flatMap { start -> [Int8] in
            let capsule = q[start..<start + dim]
            let n = UInt128(capsule.reduce(0) { $0 + Int($1) * Int($1) })
            guard n > 0 else { return capsule.map { _ in 0 } }
            let r = isqrt(n << 32)
            let xFrac = 16 + f
            var e: UInt128 = 1 << 31
            if r >= UInt128(1) << (xFrac + 5) {
                e = 0
            } else {
                for bit in stride(from: 63, through: 0, by: -1) where (r >> bit) & 1 == 1 {
                    e = (e * expOfBitQ31[bit - xFrac + 31] + (1 << 30)) >> 31
                }
            }
            let m = Int((((1 << 31) - e) << (g + 1)) / r)
            return capsule.map { clamp(floorDiv(Int($0) * m + (1 << 15), 1 << 16)) }
        }
    }

    /// Efficient-CapsNet's squash, (1 - 1 / (e^|s| + 1e-20)) s / (|s| + 1e-20), of each capsule.
    static func exponentialSquashFloat(_ s: [Double], dim: Int) -> [Double] {
        stride(from: 0, to: s.count, by: dim).flatMap { start -> [Double] in
            let capsule = s[start..<start + dim]
            let norm = capsule.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return capsule.map { (1 - 1 / (exp(norm) + 1e-20)) * $0 / (norm + 1e-20) }
        }
    }

    // MARK: Self-attention routing

    struct SelfAttentionLayer: CustomStringConvertible {
        var inputs, inputDim, outputs, outputDim: Int
        var inputFrac, weightFrac, predictionFrac, agreementFrac, biasFrac, couplingFrac, sumFrac, outputFrac: Int

        var description: String {
            "I=\(inputs) Din=\(inputDim) J=\(outputs) D=\(outputDim) u=\(inputFrac) W=\(weightFrac) "
                + "u_hat=\(predictionFrac) a=\(agreementFrac) b=\(biasFrac) c=\(couplingFrac) s=\(sumFrac) v=\(outputFrac)"
        }
    }

    /// floor(2^30 / sqrt(D)): the largest K with K^2 * D <= 2^60.
    static func attentionScale(_ d: Int) -> Int {
        var k = Int((pow2(30) / Double(d).squareRoot()).rounded(.down))
        while UInt128(k) * UInt128(k) * UInt128(d) > UInt128(1) << 60 { k -= 1 }
        while UInt128(k + 1) * UInt128(k + 1) * UInt128(d) <= UInt128(1) << 60 { k += 1 }
        return k
    }

    /// The layer as capsnet_functions.h defines it, tensor by tensor, in the matrix formulation:
    /// u_hat, T, a, c = softmax + b, s, the exponential squash.
    static func selfAttention(_ l: SelfAttentionLayer, input u: [Int8], weights w: [Int8], bias: [Int8]) -> [Int8] {
        let (numIn, dIn, numOut, d) = (l.inputs, l.inputDim, l.outputs, l.outputDim)
        let uHat = (0..<numOut).map { j in
            (0..<numIn).map { i in
                (0..<d).map { row in
                    let acc = (0..<dIn).reduce(0) {
                        $0 + Int(w[((j * numIn + i) * d + row) * dIn + $1]) * Int(u[i * dIn + $1])
                    }
                    return requantize(acc, shift: l.inputFrac + l.weightFrac - l.predictionFrac)
                }
            }
        }
        let totals = (0..<numOut).map { j in (0..<d).map { k in (0..<numIn).reduce(0) { $0 + Int(uHat[j][$1][k]) } } }
        let scale = attentionScale(d)
        let agreementShift = 30 + 2 * l.predictionFrac - l.agreementFrac
        let agreements = (0..<numOut).map { j in
            (0..<numIn).map { i in
                let dot = (0..<d).reduce(0) { $0 + Int(uHat[j][i][$1]) * totals[j][$1] }
                return requantize(dot * scale, shift: agreementShift)
            }
        }
        var couplings = agreements
        for i in 0..<numIn {
            let column = softmax((0..<numOut).map { agreements[$0][i] }, rowLength: numOut, frac: l.agreementFrac)
            let biased = add(
                column, (0..<numOut).map { bias[$0 * numIn + i] }, aFrac: 7, bFrac: l.biasFrac, outFrac: l.couplingFrac)
            for j in 0..<numOut { couplings[j][i] = biased[j] }
        }
        let s = (0..<numOut).flatMap { j in
            (0..<d).map { k in
                let acc = (0..<numIn).reduce(0) { $0 + Int(couplings[j][$1]) * Int(uHat[j][$1][k]) }
                return requantize(acc, shift: l.couplingFrac + l.predictionFrac - l.sumFrac)
            }
        }
        return exponentialSquash(s, dim: d, inFrac: l.sumFrac, outFrac: l.outputFrac)
    }

    /// The float layer's tensors: what a calibration records, and the output.
    struct SelfAttentionTrace {
        var predictions: [Double] = [], agreements: [Double] = [], couplings: [Double] = []
        var sums: [Double] = [], output: [Double] = []
    }

    /// The same layer in Double, without any rounding (Efficient-CapsNet's FCCaps).
    static func selfAttentionFloat(
        _ u: [Double], weights w: [Double], bias: [Double], inputs numIn: Int, inputDim dIn: Int, outputs numOut: Int,
        outputDim d: Int
    ) -> SelfAttentionTrace {
        var trace = SelfAttentionTrace()
        trace.predictions = (0..<numOut * numIn * d).map { index in
            let (ji, row) = (index / d, index % d)
            let i = ji % numIn
            return (0..<dIn).reduce(0.0) { $0 + w[(ji * d + row) * dIn + $1] * u[i * dIn + $1] }
        }
        let uHat = trace.predictions
        trace.agreements = (0..<numOut * numIn).map { ji in
            let j = ji / numIn
            return (0..<d).reduce(0.0) { acc, k in
                acc + uHat[ji * d + k] * (0..<numIn).reduce(0.0) { $0 + uHat[(j * numIn + $1) * d + k] }
            } / Double(d).squareRoot()
        }
        trace.couplings = trace.agreements
        for i in 0..<numIn {
            let column = softmaxFloat((0..<numOut).map { trace.agreements[$0 * numIn + i] }, rowLength: numOut)
            for j in 0..<numOut { trace.couplings[j * numIn + i] = column[j] + bias[j * numIn + i] }
        }
        trace.sums = (0..<numOut * d).map { jk in
            let (j, k) = (jk / d, jk % d)
            return (0..<numIn).reduce(0.0) { $0 + trace.couplings[j * numIn + $1] * uHat[(j * numIn + $1) * d + k] }
        }
        trace.output = exponentialSquashFloat(trace.sums, dim: d)
        return trace
    }
}
