/// Why the engine refused a model or an input.
public enum EngineError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A kernel refused its arguments (a format or shape the model file should not hold).
    case kernel(layer: String, KernelError)
    case inputLength(expected: Int, actual: Int)

    public var description: String {
        switch self {
        case .kernel(let layer, let error): "layer '\(layer)': \(error)"
        case .inputLength(let expected, let actual): "the model takes \(expected) input values, got \(actual)"
        }
    }
}
