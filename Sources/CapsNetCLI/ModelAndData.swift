import ArgumentParser
import CapsNetEdge

/// The model and labelled images that `eval` and `bench` take.
struct ModelAndData: ParsableArguments {
    @Argument(help: "The model file.")
    var model: String

    @Option(help: "The labelled images: PATH or PATH@START-END.")
    var data: String

    @Flag(help: "Print JSON instead of text.")
    var json = false

    /// The model's float reference and the dataset, refused if its images do not fit the model.
    func load() throws -> (FloatReference, Dataset) {
        let reference = FloatReference(try CapsNetModel(contentsOf: model))
        let dataset = try Dataset(data)
        _ = try dataset.images(for: reference.model)
        return (reference, dataset)
    }
}
