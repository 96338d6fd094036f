/// Why a dataset could not be read or used. The description names the file.
public struct DatasetError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Reason: Error, Equatable, Sendable {
        case fileNotFound
        /// No reader knows the file or folder.
        case unrecognized(detail: String)
        /// The file is in a known format but its contents are wrong or cut short.
        case malformed(detail: String)
        case labelCount(images: Int, labels: Int)
        /// The text after `@` is not `START-END`.
        case badRange(text: String)
        /// `END` is before `START`.
        case emptyRange(start: Int, end: Int)
        /// The file holds no images.
        case noImages
        case rangeOutOfBounds(start: Int, end: Int, count: Int)
        /// The images do not fit the model's input.
        case imageShape(images: [Int], model: [Int])
        /// A label that is not one of the model's classes (`0..<classes`).
        case labelOutOfRange(image: Int, label: Int, classes: Int)
    }

    /// The dataset as given, `PATH` or `PATH@START-END`.
    public let path: String
    public let reason: Reason

    public init(path: String, reason: Reason) {
        self.path = path
        self.reason = reason
    }

    public var description: String {
        let detail: String
        switch reason {
        case .fileNotFound: detail = "no such file or folder"
        case .unrecognized(let reader): detail = reader
        case .malformed(let reader): detail = reader
        case .labelCount(let images, let labels): detail = "\(images) images but \(labels) labels"
        case .badRange(let text):
            detail = "'@\(text)' is not a range; write PATH@START-END with zero-based, inclusive indices"
        case .emptyRange(let start, let end):
            detail = "the range \(start)-\(end) selects no images: END must not be before START"
        case .noImages: detail = "the dataset holds no images"
        case .rangeOutOfBounds(let start, let end, let count):
            detail =
                "the range \(start)-\(end) goes past the last image (the dataset holds \(count), indices 0-\(count - 1))"
        case .imageShape(let images, let model):
            detail = "the images are \(images.shapeDescription), but the model takes \(model.shapeDescription)"
        case .labelOutOfRange(let image, let label, let classes):
            detail = "image \(image) has the label \(label), but the model has \(classes) classes (0-\(classes - 1))"
        }
        return "\(path): \(detail)"
    }
}
