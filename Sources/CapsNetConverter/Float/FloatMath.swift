import Foundation

/// The element-wise float32 functions several layer kinds share.
enum FloatMath {
    /// `s·‖s‖ / (1 + ‖s‖²)` over the last axis, with no epsilon, as the reference defines it; with
    /// an `epsilon`, `‖s‖² / (1 + ‖s‖²) / sqrt(‖s‖² + epsilon) · s`, as CapsNet-Keras computes it.
    static func squash(_ input: Tensor, epsilon: Float = 0) -> Tensor {
        scaled(input) { norm2 in
            epsilon == 0 ? norm2.squareRoot() / (1 + norm2) : norm2 / (1 + norm2) / (norm2 + epsilon).squareRoot()
        }
    }

    /// Efficient-CapsNet's squash over the last axis: `(1 - 1/(e^‖s‖ + ε)) · s/(‖s‖ + ε)`, ε =
    /// 1e-20 as its layers define it.
    static func exponentialSquash(_ input: Tensor, epsilon: Float = 1e-20) -> Tensor {
        scaled(input) { norm2 in
            let norm = norm2.squareRoot()
            return (1 - 1 / (exp(norm) + epsilon)) / (norm + epsilon)
        }
    }

    /// Each vector of the last axis times `scale(‖s‖²)`.
    private static func scaled(_ input: Tensor, by scale: (Float) -> Float) -> Tensor {
        let dimension = input.shape.last ?? 1
        var values = input.values
        values.withUnsafeMutableBufferPointer { vectors in
            for start in stride(from: 0, to: vectors.count, by: dimension) {
                var norm2: Float = 0
                for d in 0..<dimension { norm2 += vectors[start + d] * vectors[start + d] }
                let factor = scale(norm2)
                for d in 0..<dimension { vectors[start + d] *= factor }
            }
        }
        return Tensor(shape: input.shape, values: values)
    }

    /// The Euclidean length over the last axis.
    static func lengths(_ input: Tensor) -> Tensor {
        let dimension = input.shape.last ?? 1
        let values = stride(from: 0, to: input.count, by: dimension).map { start in
            var norm2: Float = 0
            for d in 0..<dimension { norm2 += input.values[start + d] * input.values[start + d] }
            return norm2.squareRoot()
        }
        return Tensor(shape: Array(input.shape.dropLast()), values: values)
    }
}
