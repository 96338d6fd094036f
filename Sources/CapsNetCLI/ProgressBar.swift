import Foundation
import Synchronization

/// A one-line progress bar on standard error, drawn only when it is a terminal so that logs and
/// pipes stay clean. Safe to update from several threads.
final class ProgressBar: Sendable {
    private let total: Int
    private let label: String
    private let enabled: Bool
    private let lastDrawn = Mutex(-1)

    init(total: Int, label: String) {
        self.total = max(total, 1)
        self.label = label
        enabled = isatty(STDERR_FILENO) != 0
    }

    func update(_ done: Int) {
        guard enabled else { return }
        let width = 30
        let filled = min(width, done * width / total)
        let changed = lastDrawn.withLock { last in
            defer { last = filled }
            return last != filled || done == total
        }
        guard changed else { return }
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(done.grouped)/\(total.grouped)".utf8))
    }

    /// Clears the line.
    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
    }
}
