import Foundation
import Testing

/// The Keras fixtures that `make fixtures` writes and the shared data beside the checkout.
enum TestData {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Where `.ci/make-fixtures` writes the Keras models (Fixtures/make_fixtures.py): `.build-fixtures`,
    /// or the folder CAPSNET_FIXTURES names.
    static let fixtures = ProcessInfo.processInfo.environment["CAPSNET_FIXTURES"].map { URL(fileURLWithPath: $0) }
        ?? packageRoot.appendingPathComponent(".build-fixtures")

    static func fixture(_ name: String) -> String { fixtures.appendingPathComponent(name).path }

    /// A file that is not a model: the script that writes the fixtures.
    static let notAModel = packageRoot.appendingPathComponent("Tests/CapsNetEdgeTests/Fixtures/make_fixtures.py").path

    /// `../shared/data`, read in place and never copied into the repository.
    static let shared = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/data")

    static func shared(_ name: String) -> String { shared.appendingPathComponent(name).path }

    static var mnistModel: String { shared("models/caps_net_mnist.h5") }

    /// CI sets CAPSNET_REQUIRE_SHARED_DATA=1, which makes the tests that need the shared data or the
    /// fixtures run (and fail) when they are missing instead of being skipped.
    static var required: Bool { ProcessInfo.processInfo.environment["CAPSNET_REQUIRE_SHARED_DATA"] == "1" }

    /// The sanitizer runs of `make test` set CAPSNET_SANITIZER_RUN=1: they run the tests that exercise
    /// memory and leave the dataset-scale checks to the release run.
    static var sanitizerRun: Bool { ProcessInfo.processInfo.environment["CAPSNET_SANITIZER_RUN"] == "1" }

    static var sharedDataAvailable: Bool { FileManager.default.fileExists(atPath: mnistModel) || required }

    static var fixturesAvailable: Bool {
        FileManager.default.fileExists(atPath: fixture("tiny_sequential.keras")) || required
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

    /// A check over thousands of images: it runs in the release test run, not under the sanitizers,
    /// where it would take most of CI's time and exercise no memory that the smaller tests do not.
    static var datasetScale: Self {
        .enabled(if: !TestData.sanitizerRun, "dataset-scale: runs in the release test run (make test-swift)")
    }

    /// Skips a test when the Keras fixtures have not been written (`make fixtures`), unless CI requires them.
    static var needsFixtures: Self {
        .enabled(if: TestData.fixturesAvailable, "needs the Keras fixtures: run `make fixtures` (make test does)")
    }
}
