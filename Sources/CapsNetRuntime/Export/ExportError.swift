/// Why a model could not be exported.
public enum ExportError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidName(String)

    public var description: String {
        switch self {
        case .invalidName(let name):
            "'\(name)' is not a C identifier: use letters, digits and '_', not starting with a digit"
        }
    }
}
