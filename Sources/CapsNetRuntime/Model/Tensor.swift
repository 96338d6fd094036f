/// A dense float32 tensor in row-major order; batched tensors have the batch as their first axis.
public struct Tensor: Sendable, Equatable {
    public var shape: [Int]
    public var values: [Float]

    /// A tensor of `shape` holding `values`; their counts must agree.
    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "tensor of shape \(shape) given \(values.count) values")
        self.shape = shape
        self.values = values
    }

    /// A tensor of zeros.
    public init(zeros shape: [Int]) {
        self.init(shape: shape, values: [Float](repeating: 0, count: shape.reduce(1, *)))
    }

    /// The number of values.
    public var count: Int { values.count }

    /// The smallest and the largest value, or nil for an empty tensor.
    public var range: ClosedRange<Float>? {
        guard var low = values.first else { return nil }
        var high = low
        for value in values {
            low = min(low, value)
            high = max(high, value)
        }
        return low...high
    }

    /// Items `range` of the first axis, as a tensor with the same trailing shape.
    public func batch(_ range: Range<Int>) -> Tensor {
        let stride = shape.dropFirst().reduce(1, *)
        return Tensor(
            shape: [range.count] + shape.dropFirst(),
            values: Array(values[range.lowerBound * stride..<range.upperBound * stride])
        )
    }
}

extension [Int] {
    /// The shape written as `28×28×1`.
    public var shapeDescription: String { isEmpty ? "scalar" : map(String.init).joined(separator: "×") }
}
