import ArgumentParser
import CapsNetEdge

extension ModelAndData {
    /// What `--config` is, for every command that takes a Keras model.
    static let configHelp = ArgumentHelp(
        "The architecture of a weights-only MODEL: the JSON of Keras's model.to_json().",
        valueName: "ARCH.json")
}

/// The model and labelled images that `eval` and `bench` take.
struct ModelAndData: ParsableArguments {
    @Argument(help: "The model file.")
    var model: String

    @Option(help: ModelAndData.configHelp)
    var config: String?

    @Option(help: "The labelled images: PATH or PATH@START-END.")
    var data: String

    @Flag(help: "Print JSON instead of text.")
    var json = false

    /// The model's float reference and the dataset, refused if its images do not fit the model.
    func load() throws -> (FloatReference, Dataset) {
        let reference = FloatReference(try CapsNetModel(contentsOf: model, config: config))
        let dataset = try Dataset(data)
        _ = try dataset.images(for: reference.model)
        return (reference, dataset)
    }
}
