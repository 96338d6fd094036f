import CapsNetRuntime

extension Reference {
    struct RoutingFormats {
        var logit, sum, output, agreement: Int
    }

    struct CapsuleLayer: CustomStringConvertible {
        var inputs, inputDim, outputs, outputDim: Int
        var inputFrac, weightFrac, predictionFrac: Int
        var iterations: [RoutingFormats]
        /// Each output capsule's weight format, or nil: all in `weightFrac`.
        var weightFracs: [Int]? = nil
        /// The width of the predictions and couplings.
        var precision: RoutingPrecision = .q7

        var description: String {
            "I=\(inputs) Din=\(inputDim) J=\(outputs) D=\(outputDim) u=\(inputFrac) W=\(weightFrac) "
                + "u_hat=\(predictionFrac) \(precision) iterations=\(iterations.map { ($0.logit, $0.sum, $0.output, $0.agreement) })"
        }
    }

    /// Dynamic routing as the FloatModel article of the catalog defines it, with each tensor rounded into its format
    /// by the documented rules: b starts at 0; per iteration c[:, i] = softmax_j b[:, i],
    /// s[j] = sum_i c[j, i] u_hat[j, i], v = squash(s), b += u_hat . v except after the last.
    /// With 16-bit routing, u_hat and c hold 16 bits (c in Q0.15) and s sums exactly.
    static func capsuleLayer(_ l: CapsuleLayer, input u: [Int8], weights w: [Int8]) -> [Int8] {
        let (numIn, dIn, numOut, d) = (l.inputs, l.inputDim, l.outputs, l.outputDim)
        let (bits, couplingFrac) = l.precision == .q15 ? (16, 15) : (8, 7)
        var uHat = [[[Int]]](repeating: [[Int]](repeating: [], count: numIn), count: numOut)
        for j in 0..<numOut {
            for i in 0..<numIn {
                uHat[j][i] = (0..<d).map { row in
                    let acc = (0..<dIn).reduce(0) {
                        $0 + Int(w[((j * numIn + i) * d + row) * dIn + $1]) * Int(u[i * dIn + $1])
                    }
                    return requantize(
                        acc, shift: l.inputFrac + (l.weightFracs?[j] ?? l.weightFrac) - l.predictionFrac, bits: bits)
                }
            }
        }
        var b = [[Int8]](repeating: [Int8](repeating: 0, count: numIn), count: numOut)
        var v = [Int8]()
        for (r, it) in l.iterations.enumerated() {
            var c = [[Int]](repeating: [Int](repeating: 0, count: numIn), count: numOut)
            for i in 0..<numIn {
                let column = softmax(
                    (0..<numOut).map { b[$0][i] }, rowLength: numOut, frac: it.logit, couplingFrac: couplingFrac)
                for j in 0..<numOut { c[j][i] = column[j] }
            }
            let s = (0..<numOut).flatMap { j in
                (0..<d).map { k in
                    let acc = (0..<numIn).reduce(0) { $0 + c[j][$1] * uHat[j][$1][k] }
                    return requantize(acc, shift: couplingFrac + l.predictionFrac - it.sum)
                }
            }
            v = squash(s, dim: d, inFrac: it.sum, outFrac: it.output)
            guard r + 1 < l.iterations.count else { break }
            for j in 0..<numOut {
                let agreement = (0..<numIn).map { i in
                    let acc = (0..<d).reduce(0) { $0 + uHat[j][i][$1] * Int(v[j * d + $1]) }
                    return requantize(acc, shift: it.output + l.predictionFrac - it.agreement)
                }
                b[j] = add(b[j], agreement, aFrac: it.logit, bFrac: it.agreement, outFrac: l.iterations[r + 1].logit)
            }
        }
        return v
    }

    /// The same layer in Double on the dequantized input and weights, without any rounding.
    static func capsuleLayerFloat(_ l: CapsuleLayer, input: [Double], weights: [Double]) -> [Double] {
        let (numIn, dIn, numOut, d) = (l.inputs, l.inputDim, l.outputs, l.outputDim)
        let uHat = (0..<numOut).map { j in
            (0..<numIn).map { i in
                (0..<d).map { row in
                    (0..<dIn).reduce(0.0) { $0 + weights[((j * numIn + i) * d + row) * dIn + $1] * input[i * dIn + $1] }
                }
            }
        }
        var b = [[Double]](repeating: [Double](repeating: 0, count: numIn), count: numOut)
        var v = [Double]()
        for r in 0..<l.iterations.count {
            var c = b
            for i in 0..<numIn {
                let column = softmaxFloat((0..<numOut).map { b[$0][i] }, rowLength: numOut)
                for j in 0..<numOut { c[j][i] = column[j] }
            }
            let s = (0..<numOut).flatMap { j in
                (0..<d).map { k in (0..<numIn).reduce(0.0) { $0 + c[j][$1] * uHat[j][$1][k] } }
            }
            v = squashFloat(s, dim: d)
            guard r + 1 < l.iterations.count else { break }
            for j in 0..<numOut {
                for i in 0..<numIn { b[j][i] += (0..<d).reduce(0.0) { $0 + uHat[j][i][$1] * v[j * d + $1] } }
            }
        }
        return v
    }

    /// Largest magnitudes of every tensor of the float layer: what a calibration would record.
    struct CapsuleTrace {
        struct Iteration { var logitMax = 0.0, sumMax = 0.0, outputMax = 0.0, agreementMax = 0.0 }
        var inputMax = 0.0, weightMax = 0.0, predictionMax = 0.0
        var iterations: [Iteration] = []
    }

    static func capsuleTrace(
        _ u: [Double], _ w: [Double], inputs numIn: Int, inputDim dIn: Int, outputs numOut: Int, outputDim d: Int,
        routings: Int
    ) -> CapsuleTrace {
        let maxAbs = { (x: [Double]) in x.map(abs).max() ?? 0 }
        var trace = CapsuleTrace(inputMax: maxAbs(u), weightMax: maxAbs(w))
        let uHat = (0..<numOut * numIn * d).map { index in
            let (ji, row) = (index / d, index % d)
            let i = ji % numIn
            return (0..<dIn).reduce(0.0) { $0 + w[(ji * d + row) * dIn + $1] * u[i * dIn + $1] }
        }
        trace.predictionMax = maxAbs(uHat)
        var b = [Double](repeating: 0, count: numOut * numIn)
        for r in 0..<routings {
            var it = CapsuleTrace.Iteration(logitMax: maxAbs(b))
            var c = b
            for i in 0..<numIn {
                let column = softmaxFloat((0..<numOut).map { b[$0 * numIn + i] }, rowLength: numOut)
                for j in 0..<numOut { c[j * numIn + i] = column[j] }
            }
            let s = (0..<numOut * d).map { jk in
                let (j, k) = (jk / d, jk % d)
                return (0..<numIn).reduce(0.0) { $0 + c[j * numIn + $1] * uHat[(j * numIn + $1) * d + k] }
            }
            let v = squashFloat(s, dim: d)
            it.sumMax = maxAbs(s)
            it.outputMax = maxAbs(v)
            if r + 1 < routings {
                let a = (0..<numOut * numIn).map { ji in
                    (0..<d).reduce(0.0) { $0 + uHat[ji * d + $1] * v[(ji / numIn) * d + $1] }
                }
                it.agreementMax = maxAbs(a)
                b = zip(b, a).map(+)
            }
            trace.iterations.append(it)
        }
        return trace
    }
}
