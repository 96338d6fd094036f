/// Why a model could not be exported.
public enum ExportError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidName(String)
    /// A team size outside 1 to `FirmwareExporter.maxCores`.
    case invalidCores(Int)

    public var description: String {
        switch self {
        case .invalidName(let name):
            "'\(name)' is not a C identifier: use letters, digits and '_', not starting with a digit"
        case .invalidCores(let cores):
            "an export plans for 1 to \(FirmwareExporter.maxCores) cores, not \(cores)"
        }
    }
}
