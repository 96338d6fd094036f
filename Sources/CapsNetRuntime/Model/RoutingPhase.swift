/// The phases of a routing layer, as the kernels mark them for per-phase instruction counts
/// (`CAPSNET_PHASE_*` in `capsnet_support.h`, with the same numbers).
public enum RoutingPhase: Int, Sendable, CaseIterable, Codable {
    /// Argument checks and set-up.
    case other = 0
    /// The prediction vectors `u_hat = W u`.
    case predictions
    /// The agreements and the logits built from them.
    case agreements
    /// The couplings, and their exponential table.
    case softmax
    /// The sums of couplings times predictions, reduced over the cores.
    case weightedSums
    /// The squash of the sums.
    case squash

    /// Its name in tables.
    public var name: String {
        switch self {
        case .other: "other"
        case .predictions: "predictions"
        case .agreements: "agreements, logits"
        case .softmax: "softmax"
        case .weightedSums: "weighted sums"
        case .squash: "squash"
        }
    }
}
