import ArgumentParser
import CapsNetEdge

/// How every command that takes a Keras model reads it: `--config` for a weights-only file,
/// `--squash-lambda` for a squash the file does not name.
struct KerasReading: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The architecture of a weights-only MODEL: the JSON of Keras's model.to_json().", valueName: "ARCH.json"))
    var config: String?

    @Option(
        name: .customLong("squash-lambda"),
        help: ArgumentHelp(
            "A Lambda layer (its layer or function name) to run as squash over the last axis; repeatable. "
                + "Lambdas whose function is named squash are recognized without it.",
            valueName: "NAME"))
    var squashLambdas: [String] = []

    /// The model in `path`, read with these options.
    func load(_ path: String) throws -> CapsNetModel {
        try CapsNetModel(contentsOf: path, config: config, squashLambdas: Set(squashLambdas))
    }
}

/// The model and labelled images that `eval` and `bench` take.
struct ModelAndData: ParsableArguments {
    @Argument(help: "The model file.")
    var model: String

    @OptionGroup var keras: KerasReading

    @Option(help: "The labelled images: PATH or PATH@START-END.")
    var data: String

    @Flag(help: "Print JSON instead of text.")
    var json = false

    /// The model's float reference and the dataset, refused if its images do not fit the model.
    func load() throws -> (FloatReference, Dataset) {
        let reference = FloatReference(try keras.load(model))
        let dataset = try Dataset(data)
        _ = try dataset.images(for: reference.model)
        return (reference, dataset)
    }
}
