import ArgumentParser
import CapsNetEdge
import Foundation

/// The main job: quantize a trained CapsNet and report what it cost.
struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Quantize a trained CapsNet to int8 and report its accuracy loss, flash and RAM.",
        discussion: """
            Calibrates the formats on --calibration, runs the float32 reference and the int8 engine (the C \
            kernels) on --eval, and writes DIR/model.capsnet (the quantized model), DIR/report.json and \
            DIR/report.md and DIR/report.html (charts and the images the two models classify differently, one \
            self-contained file), all four only once everything has run. Calibrate and score on different images; \
            for MNIST: --calibration ../shared/data/mnist@0-999 --eval ../shared/data/mnist@1000-9999.
            """
    )

    @Argument(help: "The trained model (.h5 or .keras).")
    var model: String

    @OptionGroup var keras: KerasReading

    @Option(help: "Images to calibrate the formats on: PATH or PATH@START-END.")
    var calibration: String

    @Option(name: .customLong("eval"), help: "Labelled images to score both models on: PATH or PATH@START-END.")
    var evaluation: String

    @Option(help: "The output folder, created if missing.")
    var out: String

    @Option(
        help: """
            How formats are chosen: 'rules' (this project's rules), 'search' (the rules, then each format tried \
            a bit either way against the int8 engine's outputs on the calibration images) or 'reference' (the \
            paper's rule).
            """)
    var scheme: QuantizationScheme = Quantizer.recommended.scheme

    @Option(help: "Seconds the 'search' scheme may spend trying formats.")
    var searchSeconds: Double = Quantizer.recommended.searchSeconds

    @Option(help: "Seconds the sensitivity table may take (each format one bit either way); 0 leaves it out.")
    var sensitivitySeconds: Double = Quantizer.recommended.sensitivitySeconds

    @Option(
        help: """
            Weight formats: 'per-layer' (one per layer) or 'per-filter' (each convolution filter and each \
            routing layer's output capsule in its own format where that halves the layer's weight error, one \
            shift each in the kernels; the 'rules' and 'search' schemes, 'reference' is always per layer).
            """)
    var weightFormats: WeightFormats = .perLayer

    @Option(
        help: """
            Bits of the dynamic-routing layers' predictions and couplings: 8, or 16 (int16 kernels: \
            twice their RAM, finer routing).
            """)
    var routingBits: Int = Quantizer.recommended.routingPrecision.bits

    func validate() throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: out, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw ValidationError("--out \(out) is a file; give a folder")
        }
        guard searchSeconds >= 0, searchSeconds.isFinite else {
            throw ValidationError("--search-seconds must be a number of seconds, 0 or more")
        }
        guard RoutingPrecision.allCases.contains(where: { $0.bits == routingBits }) else {
            throw ValidationError("--routing-bits must be 8 or 16, not \(routingBits)")
        }
        guard sensitivitySeconds >= 0, sensitivitySeconds.isFinite else {
            throw ValidationError("--sensitivity-seconds must be a number of seconds, 0 or more")
        }
        if QuantizedModelFile.isQuantizedModel(model) {
            throw ValidationError(
                "\(model) is already quantized; convert takes the trained Keras model (.h5 or .keras)")
        }
    }

    func run() throws {
        let clock = ContinuousClock()
        let start = clock.now
        let outputs = try OutputFiles(folder: out)
        let float = try keras.load(model)
        if !float.leftOut.isEmpty { print(float.leftOutNote + "\n") }
        let calibrationSet = try Dataset(calibration)
        let evaluationSet = try Dataset(evaluation)
        _ = try evaluationSet.images(for: float)

        let calibrating = ProgressBar(total: calibrationSet.count, label: "calibrating")
        if scheme == .search {
            print("Calibrating, then searching formats for up to \(String(format: "%g", searchSeconds)) s.")
        }
        let quantizer = Quantizer(
            scheme: scheme, searchSeconds: searchSeconds, sensitivitySeconds: sensitivitySeconds,
            perFilterWeights: weightFormats == .perFilter,
            routingPrecision: routingBits == 16 ? .q15 : .q7)
        let result = try quantizer.run(float, calibration: calibrationSet) { calibrating.update($0) }
        calibrating.finish()
        let quantized = result.model
        let engine = try Int8Engine(quantized)

        let scoring = ProgressBar(total: evaluationSet.count, label: "scoring float32 and int8")
        let report = try QuantizationReport.measure(
            float: float, int8: engine, modelName: model, calibration: calibrationSet, evaluation: evaluationSet,
            search: result.search, sensitivity: result.sensitivity
        ) { scoring.update($0) }
        scoring.finish()

        try outputs.write("model.capsnet", QuantizedModelFile.encode(quantized))
        try outputs.write("report.json", try report.jsonString())
        try outputs.write("report.md", report.markdown)
        try outputs.write(
            "report.html",
            report.html(
                images: try evaluationSet.images(for: float), firstIndex: evaluationSet.firstIndex,
                inputShape: float.inputShape))
        try outputs.commit()

        print(report.markdown)
        let seconds = String(format: "%.1f", (clock.now - start).seconds)
        print("Wrote \(out)/model.capsnet, report.json, report.md and report.html in \(seconds) s.")
    }
}

extension QuantizationScheme: ExpressibleByArgument {}

/// How many formats a convolution's weights get.
enum WeightFormats: String, ExpressibleByArgument, CaseIterable {
    case perFilter = "per-filter"
    case perLayer = "per-layer"
}
