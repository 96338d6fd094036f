import Foundation
import Testing

/// The checked-in fixtures (written by Fixtures/make_fixtures.py) and the shared data beside the checkout.
enum TestData {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func fixture(_ name: String) -> String {
        packageRoot.appendingPathComponent("Tests/CapsNetEdgeTests/Fixtures").appendingPathComponent(name).path
    }

    /// `../shared/data`, read in place and never copied into the repository.
    static let shared = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/data")

    static func shared(_ name: String) -> String { shared.appendingPathComponent(name).path }

    static var mnistModel: String { shared("models/caps_net_mnist.h5") }

    /// Whether the shared data is here. CI sets CAPSNET_REQUIRE_SHARED_DATA=1, which makes the tests
    /// that need it run (and fail) when it is missing instead of being skipped.
    static var sharedDataAvailable: Bool {
        FileManager.default.fileExists(atPath: mnistModel)
            || ProcessInfo.processInfo.environment["CAPSNET_REQUIRE_SHARED_DATA"] == "1"
    }

    /// A temporary folder for one test, removed by `cleanUp`.
    static func temporaryFolder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("capsnet-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }
}

extension Trait where Self == ConditionTrait {
    /// Skips a test when `../shared/data` is absent, unless CI requires it.
    static var needsSharedData: Self {
        .enabled(
            if: TestData.sharedDataAvailable, "needs ../shared/data (the MNIST model, test set and golden outputs)")
    }
}
