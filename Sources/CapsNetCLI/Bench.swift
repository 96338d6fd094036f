import ArgumentParser
import CapsNetEdge
import Foundation

/// Times the float reference at batch 1 and at a large batch.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time the float32 reference: milliseconds per image at batch 1 and batch 100.",
        discussion: """
            Runs the first --images images of DATASET once as a warm-up, then times them at each batch size \
            (wall clock on this machine). One image runs on one core; a batch is split over all cores. The \
            anchor is TensorFlow's 1.88 ms per image at batch 1 on this 2-core machine (DESIGN section 8), \
            measured there, not in this run.
            """
    )

    @OptionGroup var input: ModelAndData

    @Option(help: "How many images to time at each batch size.")
    var images = 1_000

    func validate() throws {
        guard images >= 1 else { throw ValidationError("--images must be at least 1") }
    }

    func run() throws {
        let (reference, dataset) = try input.load()
        let all = try dataset.images(for: reference.model)
        let count = min(images, dataset.count)
        let batch = all.batch(0..<count)

        _ = try reference.outputs(batch)  // warm-up: page in the weights and buffers
        var results: [BenchResult.Timing] = []
        for batchSize in [1, 100] {
            let clock = ContinuousClock()
            let start = clock.now
            for first in stride(from: 0, to: count, by: batchSize) {
                _ = try reference.outputs(batch.batch(first..<min(first + batchSize, count)))
            }
            let seconds = (clock.now - start).seconds
            results.append(.init(batchSize: batchSize, msPerImage: 1000 * seconds / Double(count)))
        }
        let result = BenchResult(model: input.model, images: count, float32: results, tensorflowMsPerImageBatch1: 1.88)
        if input.json {
            print(try result.jsonString())
            return
        }
        print("float32 reference, \(count.grouped) images of \(input.data)\n")
        var table = TextTable(header: ["batch", "ms/image", "images/s", "vs TensorFlow at batch 1 (1.88 ms)"])
        for timing in results {
            table.rows.append([
                String(timing.batchSize), String(format: "%.3f", timing.msPerImage),
                Int((1000 / timing.msPerImage).rounded()).grouped,
                String(format: "%.2fx faster", result.tensorflowMsPerImageBatch1 / timing.msPerImage),
            ])
        }
        print(table.render())
    }
}

/// What `bench --json` prints.
struct BenchResult: Encodable {
    struct Timing: Encodable {
        var batchSize: Int
        var msPerImage: Double
    }

    var model: String
    var images: Int
    var float32: [Timing]
    /// DESIGN section 8's anchor, measured there, not in this run.
    var tensorflowMsPerImageBatch1: Double
}
