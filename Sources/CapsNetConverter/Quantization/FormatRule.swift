import Foundation

/// The range statistics of one tensor over the calibration set: its largest magnitude and a
/// histogram of magnitudes fine enough to estimate the quantization error of any format.
struct TensorStatistics: Sendable {
    /// Bins per octave of magnitude, from 2^-24 to 2^24.
    static let binsPerOctave = 16
    static let lowestOctave = -24
    static let octaves = 48

    private(set) var maxAbs: Float = 0
    private(set) var count = 0
    private var binCount = [Double](repeating: 0, count: octaves * binsPerOctave)
    private var binSum = [Double](repeating: 0, count: octaves * binsPerOctave)
    private var binSquares = [Double](repeating: 0, count: octaves * binsPerOctave)
    private(set) var hasNaN = false

    mutating func add(_ values: [Float]) {
        count += values.count
        for value in values {
            let magnitude = abs(value)
            guard magnitude.isFinite else {
                hasNaN = true
                continue
            }
            maxAbs = max(maxAbs, magnitude)
            guard magnitude > 0 else { continue }
            let position = (log2(Double(magnitude)) - Double(Self.lowestOctave)) * Double(Self.binsPerOctave)
            let bin = min(max(Int(position), 0), binCount.count - 1)
            binCount[bin] += 1
            binSum[bin] += Double(magnitude)
            binSquares[bin] += Double(magnitude) * Double(magnitude)
        }
    }

    /// The mean squared error of storing the tensor with `frac` fractional bits: rounding noise
    /// (a step squared over 12) below the clipping level, the clipped distance above it.
    func meanSquaredError(frac: Int) -> Double {
        guard count > 0 else { return 0 }
        let step = pow(2, -Double(frac))
        let clip = 127 * step
        var error = 0.0
        for bin in binCount.indices where binCount[bin] > 0 {
            let mean = binSum[bin] / binCount[bin]
            if mean <= clip {
                error += binCount[bin] * step * step / 12
            } else {
                error += binSquares[bin] - 2 * clip * binSum[bin] + clip * clip * binCount[bin]
            }
        }
        return error / Double(count)
    }
}

extension TensorStatistics {
    /// The fraction of the values that `frac` fractional bits cannot hold (a magnitude beyond 127.5
    /// steps), estimated per histogram bin from its mean.
    func saturatedFraction(frac: Int) -> Double {
        guard count > 0 else { return 0 }
        let clip = 127.5 * pow(2, -Double(frac))
        var saturated = 0.0
        for bin in binCount.indices where binCount[bin] > 0 && binSum[bin] / binCount[bin] > clip {
            saturated += binCount[bin]
        }
        return saturated / Double(count)
    }
}

/// Rules that turn a range into a format.
enum FormatRule {
    /// The published reference's rule: `int_bits = ceil(log2(max|x|))` (at least 0),
    /// `frac = 7 - int_bits`, then raised while `round(max|x| * 2^frac) <= 128`.
    static func reference(maxAbs: Float) -> Int {
        guard maxAbs > 0, maxAbs.isFinite else { return QFormat.supportedFractionalBits.upperBound }
        let integerBits = max(0, Int(ceil(log2(Double(maxAbs)))))
        var frac = 7 - integerBits
        while frac < QFormat.supportedFractionalBits.upperBound
            && (Double(maxAbs) * pow(2, Double(frac + 1))).rounded() <= 128
        {
            frac += 1
        }
        return clamp(frac)
    }

    /// The largest format in which `max|x|` does not saturate.
    static func noSaturation(maxAbs: Float) -> Int {
        guard maxAbs > 0, maxAbs.isFinite else { return QFormat.supportedFractionalBits.upperBound }
        var frac = QFormat.supportedFractionalBits.upperBound
        while frac > QFormat.supportedFractionalBits.lowerBound
            && (Double(maxAbs) * pow(2, Double(frac))).rounded() > 127
        {
            frac -= 1
        }
        return frac
    }

    /// The format with the least mean squared error, searched from the one that saturates nothing
    /// to three bits finer (clipping the rarest large values).
    static func leastError(_ statistics: TensorStatistics) -> Int {
        let start = noSaturation(maxAbs: statistics.maxAbs)
        let candidates = start...min(start + 3, QFormat.supportedFractionalBits.upperBound)
        return candidates.min { statistics.meanSquaredError(frac: $0) < statistics.meanSquaredError(frac: $1) } ?? start
    }

    static func clamp(_ frac: Int) -> Int {
        min(max(frac, QFormat.supportedFractionalBits.lowerBound), QFormat.supportedFractionalBits.upperBound)
    }
}

/// For a tensor that feeds squash: the error, after squash, of storing it in each candidate format.
/// Squash flattens large capsules to unit length, so a format that clips their rare large
/// components can cost less than one too coarse for the many small capsules; only the outcome says.
struct SquashStatistics: Sendable {
    let dimension: Int
    let squash: SquashFunction
    /// Every calibration capsule, kept until the range, and so the candidates, are known.
    private var values: [Float] = []
    private var maxAbs: Float = 0

    init(dimension: Int, squash: SquashFunction) {
        self.dimension = dimension
        self.squash = squash
    }

    mutating func add(_ batch: [Float]) {
        for value in batch where value.isFinite { maxAbs = max(maxAbs, abs(value)) }
        values += batch
    }

    /// The format with the least squared error after squash, among the one that saturates nothing
    /// and up to six bits finer.
    var bestFormat: Int {
        let start = FormatRule.noSaturation(maxAbs: maxAbs)
        let candidates = Array(start...min(start + 6, QFormat.supportedFractionalBits.upperBound))
        var errors = [Double](repeating: 0, count: candidates.count)
        var exact = [Double](repeating: 0, count: dimension)
        var stored = [Double](repeating: 0, count: dimension)
        for capsule in stride(from: 0, to: values.count - dimension + 1, by: dimension) {
            for d in 0..<dimension { exact[d] = Double(values[capsule + d]) }
            let exactScale = scale(exact)
            for (index, frac) in candidates.enumerated() {
                let format = QFormat(fractionalBits: frac)
                for d in 0..<dimension { stored[d] = format.dequantize(format.quantize(exact[d])) }
                let storedScale = scale(stored)
                for d in 0..<dimension {
                    let difference = stored[d] * storedScale - exact[d] * exactScale
                    errors[index] += difference * difference
                }
            }
        }
        return candidates[errors.indices.min { errors[$0] < errors[$1] } ?? 0]
    }

    /// squash(s) = s · scale(s).
    private func scale(_ s: [Double]) -> Double { squash.scale(norm2: s.reduce(0) { $0 + $1 * $1 }) }
}
