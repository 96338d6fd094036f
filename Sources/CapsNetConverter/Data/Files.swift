import Foundation

/// The bytes of the file at `path`.
func readFile(_ path: String) throws(DatasetError.Reason) -> [UInt8] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
        throw .fileNotFound
    }
    let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    guard size <= ResourceLimits.fileBytes else {
        throw .malformed(detail: "the file holds \(size) bytes, more than the \(ResourceLimits.fileBytes) this tool reads")
    }
    guard let data = FileManager.default.contents(atPath: path) else {
        throw .unrecognized(detail: "the file cannot be read")
    }
    return [UInt8](data)
}
