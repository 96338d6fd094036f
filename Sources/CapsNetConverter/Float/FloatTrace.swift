/// Every tensor the float reference computed for a batch, layer by layer. The quantizer calibrates
/// its formats on these.
public struct FloatTrace: Sendable {
    /// The batch of images, `[N, H, W, C]`.
    public var input: Tensor
    /// One entry per model layer, in order.
    public var layers: [LayerTrace]

    /// The model's output for the batch.
    public var output: Tensor { layers.last?.output ?? input }
}

/// What one layer computed for a batch.
public struct LayerTrace: Sendable {
    public var name: String
    /// The layer's output, `[N] + outputShape`.
    public var output: Tensor
    /// A convolution with an activation: its output before the activation. Primary capsules: the capsules
    /// before squash, `[N, I, D]`. Nil for other layers.
    public var preActivation: Tensor?
    /// A capsule layer's prediction vectors and routing iterations.
    public var routing: RoutingTrace?
}

/// The tensors of one capsule layer's dynamic routing.
public struct RoutingTrace: Sendable {
    /// The prediction vectors `u_hat[n, j, i, :] = W[j, i] · u[n, i]`, `[N, J, I, D]`.
    public var predictions: Tensor
    /// One entry per routing iteration.
    public var iterations: [RoutingIteration]
}

/// One routing iteration.
public struct RoutingIteration: Sendable {
    /// The logits `b` the iteration starts from (zeros in the first), `[N, J, I]`.
    public var logits: Tensor
    /// The coupling coefficients `c = softmax over j of b`, `[N, J, I]`.
    public var couplings: Tensor
    /// The weighted sums `s[j] = Σ_i c[j, i] u_hat[j, i]` before squash, `[N, J, D]`.
    public var preSquash: Tensor
    /// The squashed outputs `v = squash(s)`, `[N, J, D]`.
    public var output: Tensor
    /// The agreements `u_hat[j, i] · v[j]` added to the logits for the next iteration, `[N, J, I]`;
    /// nil in the last iteration.
    public var agreement: Tensor?
}
