/// Top-1 accuracy of a model's class outputs on a labelled dataset.
public struct Evaluation: Sendable, Equatable {
    /// The predicted class of each image: the index of its largest output (the first on a tie).
    public var predictions: [Int]
    public var labels: [Int]

    public init(predictions: [Int], labels: [Int]) {
        self.predictions = predictions
        self.labels = labels
    }

    public var images: Int { labels.count }
    public var correct: Int { zip(predictions, labels).filter { $0 == $1 }.count }
    /// Top-1 accuracy in percent.
    public var top1: Double { images == 0 ? 0 : 100 * Double(correct) / Double(images) }

    /// The class of each row of a `[N, classes]` output.
    public static func classes(of outputs: Tensor) -> [Int] {
        let classes = outputs.shape.dropFirst().reduce(1, *)
        return (0..<(outputs.shape.first ?? 0)).map { row in
            let base = row * classes
            var best = 0
            for index in 1..<max(classes, 1) where outputs.values[base + index] > outputs.values[base + best] {
                best = index
            }
            return best
        }
    }
}

extension FloatReference {
    /// Runs the dataset in batches of `batchSize` and scores the classes against its labels;
    /// `progress` is told how many images are done after each batch.
    public func evaluate(
        _ dataset: Dataset, batchSize: Int = 100, progress: (Int) -> Void = { _ in }
    )
        throws(DatasetError) -> Evaluation
    {
        let images = try dataset.images(for: model)
        let labels = try dataset.labels(classes: model.outputShape.reduce(1, *))
        var predictions: [Int] = []
        predictions.reserveCapacity(dataset.count)
        for start in stride(from: 0, to: dataset.count, by: max(batchSize, 1)) {
            let batch = images.batch(start..<min(start + max(batchSize, 1), dataset.count))
            // The batch was shaped for this model above, so the shape check cannot fail here.
            guard let outputs = try? outputs(batch) else { break }
            predictions += Evaluation.classes(of: outputs)
            progress(predictions.count)
        }
        return Evaluation(predictions: predictions, labels: labels)
    }
}
