/// SplitMix64: a small, fast generator whose sequence depends only on its seed, so that every
/// randomized case can be replayed from the seed printed on failure.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &self) }

    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &self) < p }

    /// int8 values; some arrays are all at an edge (-128, 127 or 0) and others mix edges in.
    mutating func int8s(_ count: Int) -> [Int8] {
        switch int(0...9) {
        case 0: return [Int8](repeating: -128, count: count)
        case 1: return [Int8](repeating: 127, count: count)
        case 2: return [Int8](repeating: 0, count: count)
        case 3: return (0..<count).map { _ in [Int8.min, Int8.max, 0, -1, 1].randomElement(using: &self)! }
        default: return (0..<count).map { _ in Int8.random(in: .min ... .max, using: &self) }
        }
    }

    /// A format in the supported range.
    mutating func frac() -> Int { int(-8...15) }

    /// An output format for a product of formats a and b: its shift a + b - out lies in 0...31.
    /// Returns nil when no supported format qualifies (a + b < -8).
    mutating func productFrac(_ a: Int, _ b: Int) -> Int? {
        let low = max(-8, a + b - 31)
        let high = min(15, a + b)
        return low <= high ? int(low...high) : nil
    }
}
