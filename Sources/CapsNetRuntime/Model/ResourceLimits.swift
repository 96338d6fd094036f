/// The largest inputs the tool accepts. Each limit is checked where a size is read from a file
/// (a `.capsnet` model, a Keras configuration, a dataset header, a compressed stream), before it
/// is multiplied with anything, so that a crafted file gets an error naming it instead of an
/// arithmetic trap, an allocation that cannot succeed or a run that never ends.
///
/// Every limit is far above what a CapsNet for a microcontroller needs: the paper's MNIST model's
/// largest size is 1,024 capsules, its largest tensor 8 Ki values.
public enum ResourceLimits {
    /// The largest single size: an axis of a tensor, a kernel, stride or padding, a filter or
    /// channel count, a capsule count or dimension: 2^15, the C convolution's `CAPSNET_DIM_MAX` for
    /// its spatial sizes (the kernels bound channels by element counts alone). A product of four
    /// checked sizes stays below 2^60, so it cannot overflow `Int`.
    public static let size = Int(CAPSNET_DIM_MAX)
    /// The most values of one tensor, a layer's output or its weights: 2^26 (64 MiB in int8).
    public static let tensorValues = 1 << 26
    /// The most routing iterations of a capsule layer: the C kernels' `CAPSNET_ROUTINGS_MAX`.
    public static let routings = Int(CAPSNET_ROUTINGS_MAX)
    /// The most bytes the tool reads from one file, or inflates from one compressed stream: 1 GiB.
    public static let fileBytes = 1 << 30
    /// The most values (pixels times images) of a dataset held in memory: 2^28 (1 GiB as float32).
    public static let datasetValues = 1 << 28

    /// The largest magnitude of a float weight: trained weights are far smaller, and float32
    /// products of larger ones overflow to infinity within a few layers.
    public static let weightMagnitude: Float = 1e8

    /// The number of values of a tensor of `shape`, or nil if a size is outside `1...size` or the
    /// count is above `tensorValues`.
    public static func values(of shape: [Int]) -> Int? {
        var count = 1
        for axis in shape {
            guard (1...size).contains(axis) else { return nil }
            count *= axis  // at most 2^26 * 2^15
            guard count <= tensorValues else { return nil }
        }
        return count
    }

    /// The product of `factors` if each is positive and the product is at most `limit`, else nil;
    /// for sizes that come from outside (a dataset's image count) and need no per-axis bound.
    public static func product(_ factors: [Int], limit: Int) -> Int? {
        var result = 1
        for factor in factors {
            guard factor >= 1 else { return nil }
            let (next, overflow) = result.multipliedReportingOverflow(by: factor)
            guard !overflow, next <= limit else { return nil }
            result = next
        }
        return result
    }
}
