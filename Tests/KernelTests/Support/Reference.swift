import CapsNetRuntime
import Foundation

/// Independent implementations of the kernels, written from the float definitions of the FloatModel
/// article and the integer rules documented in `capsnet_functions.h` and the NumberFormat article. They share no code with the
/// C kernels and use different arithmetic (exact Double where it is provably exact, 128-bit
/// integers, floor division) so that agreement is evidence, not tautology.
enum Reference {
    // MARK: Rounding

    static func pow2(_ n: Int) -> Double { Double(sign: .plus, exponent: n, significand: 1) }

    /// floor(a / b) for b > 0.
    static func floorDiv(_ a: Int, _ b: Int) -> Int {
        let q = a / b
        return (a % b != 0 && a < 0) ? q - 1 : q
    }

    static func clamp(_ x: Int) -> Int8 { Int8(min(127, max(-128, x))) }

    /// The library's rounding: floor(x + 1/2), saturated.
    /// Leaky ReLU in place of int8 values: negatives times leak / 2^15, rounded half up.
    static func leakyReLU(_ values: [Int8], leak: Int) -> [Int8] {
        values.map { $0 < 0 ? roundHalfUp(Double($0) * Double(leak) * pow2(-15)) : $0 }
    }

    static func roundHalfUp(_ x: Double) -> Int8 {
        let r = (x + 0.5).rounded(.down)
        return r >= 127 ? 127 : (r <= -128 ? -128 : Int8(r))
    }

    /// floor(x / 2^shift + 1/2), saturated.
    static func requantize(_ x: Int, shift: Int) -> Int8 {
        clamp(floorDiv(x + (shift > 0 ? 1 << (shift - 1) : 0), 1 << shift))
    }

    /// floor(x / 2^shift + 1/2), saturated to `bits` bits (8 or 16).
    static func requantize(_ x: Int, shift: Int, bits: Int) -> Int {
        let limit = 1 << (bits - 1)
        return min(max(floorDiv(x + (shift > 0 ? 1 << (shift - 1) : 0), 1 << shift), -limit), limit - 1)
    }

    // MARK: Convolution

    struct Conv {
        var inH, inW, inC, outH, outW, outC, kH, kW, strideH, strideW, padH, padW: Int
        var inFrac, weightFrac, biasFrac, outFrac: Int
        /// The activation's clamp of each output value; none by default.
        var activationMin = -128, activationMax = 127
        /// A leaky ReLU's slope in Q0.15, 0 for none.
        var activationLeak = 0
        /// Each filter's format, or nil: all in `weightFrac`.
        var weightFracs: [Int]? = nil

        var activation: capsnet_activation {
            capsnet_activation(min: Int32(activationMin), max: Int32(activationMax), leak: Int32(activationLeak))
        }
    }

    /// The float convolution of the dequantized operands, rounded once into the output format.
    /// Every term is an integer multiple of 2^-(inFrac + weightFrac) and the sum stays below 2^31
    /// of those units, so the Double arithmetic is exact.
    static func convolution(_ c: Conv, input: [Int8], weights: [Int8], bias: [Int8]?) -> [Int8] {
        var out = [Int8]()
        out.reserveCapacity(c.outH * c.outW * c.outC)
        for oy in 0..<c.outH {
            for ox in 0..<c.outW {
                for oc in 0..<c.outC {
                    var sum = bias.map { Double($0[oc]) * pow2(-c.biasFrac) } ?? 0
                    for ky in 0..<c.kH {
                        for kx in 0..<c.kW {
                            let y = oy * c.strideH - c.padH + ky
                            let x = ox * c.strideW - c.padW + kx
                            guard (0..<c.inH).contains(y), (0..<c.inW).contains(x) else { continue }
                            for ic in 0..<c.inC {
                                let v = Double(input[(y * c.inW + x) * c.inC + ic]) * pow2(-c.inFrac)
                                let w =
                                    Double(weights[((oc * c.kH + ky) * c.kW + kx) * c.inC + ic])
                                    * pow2(-(c.weightFracs?[oc] ?? c.weightFrac))
                                sum += v * w
                            }
                        }
                    }
                    // A leak of at most 2^15 keeps the product exact: fewer than 2^46 units.
                    let leaked = sum < 0 && c.activationLeak != 0 ? sum * Double(c.activationLeak) * pow2(-15) : sum
                    let value = Int(roundHalfUp(leaked * pow2(c.outFrac)))
                    out.append(Int8(min(max(value, c.activationMin), c.activationMax)))
                }
            }
        }
        return out
    }

    // MARK: Matrix functions

    static func matMult(_ a: [Int8], _ b: [Int8], m: Int, k: Int, n: Int, transposeB: Bool, shift: Int) -> [Int8] {
        var out = [Int8]()
        for row in 0..<m {
            for col in 0..<n {
                var acc = 0
                for i in 0..<k {
                    acc += Int(a[row * k + i]) * Int(transposeB ? b[col * k + i] : b[i * n + col])
                }
                out.append(requantize(acc, shift: shift))
            }
        }
        return out
    }

    /// a + b of the dequantized values, rounded once into outFrac (exact in Double: both terms are
    /// multiples of 2^-max(aFrac, bFrac) below 2^9 in magnitude).
    static func add(_ a: [Int8], _ b: [Int8], aFrac: Int, bFrac: Int, outFrac: Int) -> [Int8] {
        zip(a, b).map { roundHalfUp((Double($0) * pow2(-aFrac) + Double($1) * pow2(-bFrac)) * pow2(outFrac)) }
    }

    // MARK: Square roots

    /// floor(sqrt(x)) by correcting a Double estimate with exact 128-bit comparisons.
    static func isqrt(_ x: UInt128) -> UInt128 {
        var r = UInt128(Double(x).squareRoot())
        while r * r > x { r -= 1 }
        while (r + 1) * (r + 1) <= x { r += 1 }
        return r
    }

    // MARK: Squash

    /// The documented integer rule of capsnet_squash_q7.
    static func squash(_ q: [Int8], dim: Int, inFrac f: Int, outFrac g: Int) -> [Int8] {
        stride(from: 0, to: q.count, by: dim).flatMap { start -> [Int8] in
            let capsule = q[start..<start + dim]
            let n = UInt128(capsule.reduce(0) { $0 + Int($1) * Int($1) })
            let r = isqrt(n << 32)
            let m = f >= 0 ? (r << g) / ((1 << (2 * f)) + n) : (r << (g - 2 * f)) / (1 + (n << (-2 * f)))
            return capsule.map { clamp(floorDiv(Int($0) * Int(m) + (1 << 15), 1 << 16)) }
        }
    }

    /// The float squash, v = s |s| / (1 + |s|^2), of each capsule.
    static func squashFloat(_ s: [Double], dim: Int) -> [Double] {
        stride(from: 0, to: s.count, by: dim).flatMap { start -> [Double] in
            let capsule = s[start..<start + dim]
            let norm2 = capsule.reduce(0) { $0 + $1 * $1 }
            return capsule.map { $0 * norm2.squareRoot() / (1 + norm2) }
        }
    }

    // MARK: Softmax

    /// K_f = round(exp(-2^-f) * 2^30), computed here from Foundation's exp.
    static func expStep(frac f: Int) -> UInt64 { UInt64((exp(-pow2(-f)) * pow2(30)).rounded()) }

    /// The documented integer rule of capsnet_softmax_q7, one row at a time.
    static func softmax(_ logits: [Int8], rowLength: Int, frac: Int) -> [Int8] {
        softmax(logits, rowLength: rowLength, frac: frac, couplingFrac: 7).map { Int8($0) }
    }

    /// The softmax into Q0.`couplingFrac` (7 or 15): round(2^couplingFrac e / sum), 1.0 capped.
    static func softmax(_ logits: [Int8], rowLength: Int, frac: Int, couplingFrac: Int) -> [Int] {
        let k = expStep(frac: frac)
        var expQ30: [UInt64] = [1 << 30]
        for _ in 0..<255 { expQ30.append((expQ30.last! * k + (1 << 29)) >> 30) }
        let one = UInt64(1) << couplingFrac
        return stride(from: 0, to: logits.count, by: rowLength).flatMap { start -> [Int] in
            let row = logits[start..<start + rowLength].map(Int.init)
            let top = row.max()!
            let e = row.map { (expQ30[top - $0] + (1 << 14)) >> 15 }
            let sum = e.reduce(0, +)
            return e.map { Int(min(one - 1, (one * $0 * 2 + sum) / (2 * sum))) }
        }
    }

    /// The float softmax of each row of `x`.
    static func softmaxFloat(_ x: [Double], rowLength: Int) -> [Double] {
        stride(from: 0, to: x.count, by: rowLength).flatMap { start -> [Double] in
            let row = x[start..<start + rowLength]
            let top = row.max()!
            let e = row.map { exp($0 - top) }
            let sum = e.reduce(0, +)
            return e.map { $0 / sum }
        }
    }

    // MARK: Capsule length

    /// floor(|v| * 2^(outFrac - inFrac) + 1/2), saturated: the r with (2r-1)^2 <= 4 N 4^k < (2r+1)^2.
    static func length(_ v: [Int8], dim: Int, inFrac: Int, outFrac: Int) -> [Int8] {
        stride(from: 0, to: v.count, by: dim).map { start -> Int8 in
            let n = UInt128(v[start..<start + dim].reduce(0) { $0 + Int($1) * Int($1) })
            let k = outFrac - inFrac
            // Compare 4 N 4^k with (2r +- 1)^2 with both sides scaled to integers.
            let (lhs, scale): (UInt128, UInt128) = k >= 0 ? (4 * n << (2 * k), 1) : (4 * n, 1 << (-2 * k))
            var r = UInt128((Double(n).squareRoot() * pow2(k)).rounded())
            while r > 0 && (2 * r - 1) * (2 * r - 1) * scale > lhs { r -= 1 }
            while (2 * r + 1) * (2 * r + 1) * scale <= lhs { r += 1 }
            return Int8(min(127, r))
        }
    }
}
