import ArgumentParser
import CapsNetEdge
import Foundation

/// Prints a model's layers with their shapes and costs.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a model's layers, output shapes, parameters, MACs and weight bytes.",
        discussion: """
            MODEL is a Keras HDF5 file (.h5) or a Keras 3 archive (.keras). MACs are the multiply-accumulates \
            of one inference: convolutions, prediction vectors and routing products. Weight bytes are the \
            parameters stored as float32 and as int8.
            """
    )

    @Argument(help: "The model file (.h5 or .keras).")
    var model: String

    @OptionGroup var keras: KerasReading

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func validate() throws {
        if QuantizedModelFile.isQuantizedModel(model) {
            throw ValidationError(
                "\(model) is a quantized model; inspect reads the trained Keras model (.h5 or .keras), and "
                    + "eval, bench, export and count read .capsnet files")
        }
    }

    func run() throws {
        let loaded = try keras.load(model)
        let summary = ModelSummary(loaded)
        if json {
            print(try summary.jsonString())
            return
        }
        print("\(loaded.name): input \(loaded.inputShape.shapeText), output \(loaded.outputShape.shapeText)\n")
        var table = TextTable(header: ["layer", "class", "output", "parameters", "MACs", "float32 bytes", "int8 bytes"])
        for layer in summary.layers {
            table.rows.append([
                layer.name, layer.className, layer.outputShape.shapeText, layer.parameters.grouped, layer.macs.grouped,
                layer.float32Bytes.grouped, layer.int8Bytes.grouped,
            ])
        }
        let total = summary.total
        table.footer.append([
            "total", "", "", total.parameters.grouped, total.macs.grouped, total.float32Bytes.grouped,
            total.int8Bytes.grouped,
        ])
        print(table.render())
        if !loaded.leftOut.isEmpty { print("\n" + loaded.leftOutNote) }
    }
}

/// The figures `inspect` prints, per layer and in total.
struct ModelSummary: Encodable {
    struct LayerFigures: Encodable {
        var name: String
        var className: String
        var outputShape: [Int]
        var parameters: Int
        var macs: Int
        var float32Bytes: Int
        var int8Bytes: Int
    }

    struct Totals: Encodable {
        var parameters = 0
        var macs = 0
        var float32Bytes = 0
        var int8Bytes = 0
    }

    var name: String
    var inputShape: [Int]
    var layers: [LayerFigures]
    var total: Totals
    /// The Keras layers off the path from the image input to the class lengths.
    var leftOut: [String]

    init(_ model: CapsNetModel) {
        name = model.name
        inputShape = model.inputShape
        layers = model.layers.map { layer in
            LayerFigures(
                name: layer.name, className: layer.className, outputShape: layer.outputShape,
                parameters: layer.parameterCount, macs: layer.macs, float32Bytes: 4 * layer.parameterCount,
                int8Bytes: layer.parameterCount)
        }
        total = Totals()
        leftOut = model.leftOut
        for layer in layers {
            total.parameters += layer.parameters
            total.macs += layer.macs
            total.float32Bytes += layer.float32Bytes
            total.int8Bytes += layer.int8Bytes
        }
    }
}

extension Encodable {
    /// Pretty-printed JSON with snake_case keys in a stable order.
    func jsonString() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}

extension [Int] {
    var shapeText: String { map(String.init).joined(separator: "×") }
}
