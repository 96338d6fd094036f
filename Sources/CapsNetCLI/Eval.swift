import ArgumentParser
import CapsNetEdge
import Foundation

/// Scores a model on a labelled dataset.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure a model's top-1 accuracy on a labelled dataset.",
        discussion: """
            The float32 reference runs on OpenBLAS. DATASET is a path with an optional range, PATH@START-END \
            (zero-based, inclusive): MNIST idx files (plain or .gz) or their folder, a CIFAR-10 .bin batch \
            or its folder, or a NumPy .npy image array with labels.npy beside it.
            Example: capsnet eval ../shared/data/models/caps_net_mnist.h5 --data ../shared/data/mnist@1000-9999
            """
    )

    @OptionGroup var input: ModelAndData

    @Option(help: "Images per batch.")
    var batchSize = 100

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
    }

    func run() throws {
        let (reference, dataset) = try input.load()

        let progress = ProgressBar(total: dataset.count, label: "float32")
        let clock = ContinuousClock()
        let start = clock.now
        let evaluation = try reference.evaluate(dataset, batchSize: batchSize) { progress.update($0) }
        let seconds = (clock.now - start).seconds
        progress.finish()

        let result = EvalResult(
            model: input.model, data: input.data, images: evaluation.images, correct: evaluation.correct,
            floatTop1: evaluation.top1, imagesPerSecond: Double(evaluation.images) / seconds, batchSize: batchSize)
        if input.json {
            print(try result.jsonString())
        } else {
            print("\(input.model) on \(input.data): \(evaluation.images.grouped) images")
            print("float32 top-1: \(String(format: "%.2f", evaluation.top1))% (\(evaluation.correct.grouped) correct)")
            print("speed: \(Int(result.imagesPerSecond.rounded()).grouped) images/s at batch \(batchSize)")
        }
    }
}

/// What `eval --json` prints; accuracies are percentages.
struct EvalResult: Encodable {
    var model: String
    var data: String
    var images: Int
    var correct: Int
    var floatTop1: Double
    var imagesPerSecond: Double
    var batchSize: Int
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
