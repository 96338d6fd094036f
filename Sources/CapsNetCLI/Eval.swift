import ArgumentParser
import CapsNetEdge
import Foundation

/// Scores a model on a labelled dataset.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure a model's top-1 accuracy on a labelled dataset.",
        discussion: """
            MODEL is a Keras model (.h5 or .keras), run by the float32 reference on OpenBLAS, or a quantized \
            model (.capsnet, written by convert), run by the int8 engine on the C kernels. DATASET is a path with an optional range, PATH@START-END \
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
        let dataset = try Dataset(input.data)
        let clock = ContinuousClock()
        var start = clock.now
        let evaluation: Evaluation
        let isQuantized = QuantizedModelFile.isQuantizedModel(input.model)
        let progress = ProgressBar(total: dataset.count, label: isQuantized ? "int8" : "float32")
        if isQuantized {
            let engine = try Int8Engine(QuantizedModelFile.read(input.model))
            let images = try dataset.batch(0..<dataset.count, inputShape: engine.model.inputShape).images
            let labels = try dataset.labels(classes: engine.model.outputShape.reduce(1, *))
            start = clock.now
            let outputs = try engine.outputs(images) { progress.update($0) }
            evaluation = Evaluation(predictions: outputs.map(Int8Engine.predictedClass), labels: labels)
        } else {
            let reference = FloatReference(try input.keras.load(input.model))
            _ = try dataset.images(for: reference.model)
            start = clock.now
            evaluation = try reference.evaluate(dataset, batchSize: batchSize) { progress.update($0) }
        }
        let seconds = (clock.now - start).seconds
        progress.finish()

        let result = EvalResult(
            model: input.model, data: input.data, images: evaluation.images, correct: evaluation.correct,
            floatTop1: isQuantized ? nil : evaluation.top1, int8Top1: isQuantized ? evaluation.top1 : nil,
            imagesPerSecond: Double(evaluation.images) / seconds, batchSize: isQuantized ? nil : batchSize)
        if input.json {
            print(try result.jsonString())
        } else {
            let kind = isQuantized ? "int8" : "float32"
            print("\(input.model) on \(input.data): \(evaluation.images.grouped) images")
            print("\(kind) top-1: \(String(format: "%.2f", evaluation.top1))% (\(evaluation.correct.grouped) correct)")
            let setting = isQuantized ? "one image per core" : "batch \(batchSize)"
            print("speed: \(Int(result.imagesPerSecond.rounded()).grouped) images/s (\(setting))")
        }
    }
}

/// What `eval --json` prints; accuracies are percentages, `float_top1` for a Keras model and
/// `int8_top1` for a quantized one.
struct EvalResult: Encodable {
    var model: String
    var data: String
    var images: Int
    var correct: Int
    var floatTop1: Double?
    var int8Top1: Double?
    var imagesPerSecond: Double
    var batchSize: Int?
}

