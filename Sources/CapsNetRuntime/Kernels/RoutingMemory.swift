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

/// How wide a capsule layer holds its prediction vectors and couplings (`capsnet_routing_precision`).
/// A property of the quantized model, chosen by the quantizer; the input, weights, logits and
/// outputs are int8 either way.
public enum RoutingPrecision: String, Sendable, CaseIterable, Codable {
    /// int8 predictions, Q0.7 couplings.
    case q7
    /// int16 predictions, Q0.15 couplings and 64-bit weighted sums: twice the scratch of the
    /// predictions and couplings.
    case q15

    /// Bits of a prediction or a coupling.
    public var bits: Int { self == .q7 ? 8 : 16 }

    /// The enumerator, as an export names it.
    var cName: String { self == .q7 ? "CAPSNET_ROUTING_Q7" : "CAPSNET_ROUTING_Q15" }

    var cValue: capsnet_routing_precision { self == .q7 ? CAPSNET_ROUTING_Q7 : CAPSNET_ROUTING_Q15 }
}
