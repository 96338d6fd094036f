import CCapsNet

/// A power-of-two fixed-point format of int8 values ("Qm.n"): `fractionalBits` n means a stored
/// integer q represents q * 2^-n. n may be negative for large ranges.
public struct QFormat: Hashable, Sendable, CustomStringConvertible {
    /// Fractional bits the kernels accept.
    public static let supportedFractionalBits = Int(CAPSNET_FRAC_MIN)...Int(CAPSNET_FRAC_MAX)
    /// The format of softmax outputs (coupling coefficients): Q0.7, with 1.0 saturated to 127.
    public static let softmaxOutput = QFormat(fractionalBits: Int(CAPSNET_SOFTMAX_FRAC))

    public let fractionalBits: Int

    public init(fractionalBits: Int) {
        self.fractionalBits = fractionalBits
    }

    /// The finest supported format that holds `maxAbs` without saturating, or the coarsest one if
    /// none does. An all-zero range gets the finest format.
    public init(covering maxAbs: Double) {
        let bits = Self.supportedFractionalBits
        let fits = { (n: Int) in (maxAbs * Self.scale(n) + 0.5).rounded(.down) <= 127 }
        self.init(fractionalBits: bits.reversed().first(where: fits) ?? bits.lowerBound)
    }

    /// The value of one step, 2^-n.
    public var step: Double { 1 / Self.scale(fractionalBits) }

    /// round(x * 2^n), rounding halves up, saturated to [-128, 127]; NaN becomes 0.
    public func quantize(_ x: Double) -> Int8 {
        guard !x.isNaN else { return 0 }
        let scaled = (x * Self.scale(fractionalBits) + 0.5).rounded(.down)
        return Int8(min(127, max(-128, scaled)))
    }

    public func quantize(_ values: [Double]) -> [Int8] { values.map(quantize) }

    public func quantize(_ values: [Float]) -> [Int8] { values.map { quantize(Double($0)) } }

    public func dequantize(_ q: Int8) -> Double { Double(q) * step }

    public func dequantize(_ values: [Int8]) -> [Double] { values.map(dequantize) }

    /// "Qm.n" with m = 7 - n integer bits beside the sign.
    public var description: String { "Q\(7 - fractionalBits).\(fractionalBits)" }

    private static func scale(_ n: Int) -> Double { Double(sign: .plus, exponent: n, significand: 1) }
}
