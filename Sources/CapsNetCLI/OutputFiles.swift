import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The files one command writes into a folder, as one set: each is written into a staging folder
/// inside it, and all are renamed into place only once every one is written, so a failure
/// (a full disk, a name too long for the file system) leaves the previous outputs whole and
/// nothing new. The staging folder is made before the work starts: an output folder that cannot
/// be written fails the command at once, not after minutes of calibration.
///
/// Errors name the path and the operating system's cause in one line.
final class OutputFiles {
    let folder: String
    private let staging: String
    /// The folders this set made, deepest last: removed again if nothing is committed.
    private let madeFolders: [String]
    private var staged: [String] = []
    private var committed = false

    init(folder: String) throws(CommandFailure) {
        self.folder = folder
        var made: [String] = []
        do {
            try Self.makeFolders(folder, made: &made)
        } catch {
            Self.removeFolders(made)
            throw error
        }
        staging = (folder as NSString).appendingPathComponent(".capsnet-staging-\(UUID().uuidString)")
        guard mkdir(staging, 0o755) == 0 else {
            let cause = Self.cause()
            Self.removeFolders(made)
            throw CommandFailure("\(folder): cannot write into the output folder: \(cause)")
        }
        madeFolders = made
    }

    /// Writes `bytes` as `name` into the staging folder.
    func write(_ name: String, _ bytes: [UInt8]) throws(CommandFailure) {
        let path = (staging as NSString).appendingPathComponent(name)
        let target = (folder as NSString).appendingPathComponent(name)
        guard let file = fopen(path, "wb") else { throw CommandFailure("\(target): cannot write: \(Self.cause())") }
        let written = bytes.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, file) }
        let closed = fclose(file) == 0
        guard written == bytes.count, closed else { throw CommandFailure("\(target): cannot write: \(Self.cause())") }
        staged.append(name)
    }

    func write(_ name: String, _ text: String) throws(CommandFailure) {
        try write(name, Array(text.utf8))
    }

    /// Moves every written file into place (each rename replaces the previous file whole).
    func commit() throws(CommandFailure) {
        // A rename cannot replace a folder: find that before moving anything.
        for name in staged {
            var isDirectory: ObjCBool = false
            let target = (folder as NSString).appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: target, isDirectory: &isDirectory), isDirectory.boolValue {
                throw CommandFailure("\(target): a folder is in the way of the output file")
            }
        }
        for name in staged {
            let target = (folder as NSString).appendingPathComponent(name)
            guard rename((staging as NSString).appendingPathComponent(name), target) == 0 else {
                throw CommandFailure("\(target): cannot move into place: \(Self.cause())")
            }
        }
        committed = true
        rmdir(staging)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: staging)
        if !committed { Self.removeFolders(madeFolders) }
    }

    /// `mkdir -p`, recording the folders it made.
    private static func makeFolders(_ path: String, made: inout [String]) throws(CommandFailure) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw CommandFailure("\(path): not a folder, cannot write into it") }
            return
        }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty, parent != path { try makeFolders(parent, made: &made) }
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
            throw CommandFailure("\(path): cannot create the output folder: \(cause())")
        }
        made.append(path)
    }

    private static func removeFolders(_ folders: [String]) {
        for folder in folders.reversed() { rmdir(folder) }
    }

    private static func cause() -> String { String(cString: strerror(errno)) }
}
