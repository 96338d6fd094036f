import Foundation

/// The bytes of the file at `path`.
func readFile(_ path: String) throws(DatasetError.Reason) -> [UInt8] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
        throw .fileNotFound
    }
    guard let data = FileManager.default.contents(atPath: path) else {
        throw .unrecognized(detail: "the file cannot be read")
    }
    return [UInt8](data)
}
