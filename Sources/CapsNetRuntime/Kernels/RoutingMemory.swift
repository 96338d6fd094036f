/// What the capsule layer keeps of its prediction vectors `u_hat` between routing iterations
/// (`capsnet_routing_memory`). Both give the same output.
public enum RoutingMemory: String, Sendable, CaseIterable, Codable {
    /// Keep all J·I·D predictions, and the J·I logits and couplings of the current iteration:
    /// every routing phase runs along the input capsules, the fewest instructions, the most RAM.
    case keepPredictions = "keep"
    /// Recompute each input capsule's predictions in every iteration: lean-memory routing.
    case recomputePredictions = "recompute"

    /// The enumerator, as an export names it.
    var cName: String {
        switch self {
        case .keepPredictions: "CAPSNET_ROUTING_KEEP_PREDICTIONS"
        case .recomputePredictions: "CAPSNET_ROUTING_RECOMPUTE_PREDICTIONS"
        }
    }

    var cValue: capsnet_routing_memory {
        switch self {
        case .keepPredictions: CAPSNET_ROUTING_KEEP_PREDICTIONS
        case .recomputePredictions: CAPSNET_ROUTING_RECOMPUTE_PREDICTIONS
        }
    }
}
