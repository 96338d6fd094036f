import Foundation

/// What quantization cost, measured on an evaluation set: accuracy of both models, their
/// agreement, the signal-to-quantization-noise ratio of every layer's output, flash and RAM.
public struct QuantizationReport: Sendable, Codable, Equatable {
    public struct LayerFigures: Sendable, Codable, Equatable {
        public var name: String
        public var className: String
        /// The output's format, `Qm.n`.
        public var format: String
        /// `10·log10(Σ float² / Σ (float − int8)²)` over the evaluation set, the int8 output
        /// dequantized; nil where the output is all zeros in float.
        public var sqnrDb: Double?
        /// The percentage of the float output's values, over the evaluation set, that the layer's
        /// format cannot hold (beyond -128.5 or 127.5 steps): how much the format clips.
        public var saturationPercent: Double
        /// Bytes of the arena in use while the layer runs: input, output and scratch.
        public var ramBytes: Int
        /// Weights, biases and parameters in flash.
        public var flashBytes: Int
    }

    public var model: String
    public var scheme: QuantizationScheme
    public var calibration: String
    public var calibrationImages: Int
    public var evaluation: String
    public var images: Int
    /// Top-1 accuracy in percent.
    public var floatTop1: Double
    public var int8Top1: Double
    /// `floatTop1 − int8Top1`, in percentage points.
    public var lossPoints: Double
    /// Images on which both models predict the same class, in percent.
    public var agreement: Double
    public var flashBytes: Int
    /// The float model's weights and biases as float32.
    public var float32WeightBytes: Int
    /// The arena of one inference with the engine's routing memory.
    public var ramBytes: Int
    /// The arena with the capsule layers' predictions kept, and with them recomputed (lean-memory routing).
    public var ramBytesKeepingPredictions: Int
    public var ramBytesRecomputingPredictions: Int
    public var layers: [LayerFigures]
    /// Images on which float and int8 predict different classes (the first
    /// ``QuantizationReport/listedDisagreements`` of them), with both models' class lengths.
    public var disagreements: [Disagreement]
    /// What became of each layer a convolution could absorb (``CapsNetModel/folded()``).
    public var folds: [String]
    /// What the format search did (`search` scheme).
    public var search: FormatSearchSummary?
    /// Every format's saturation and one-bit neighbours (when measured).
    public var sensitivity: FormatSensitivity?

    /// One image of the evaluation set on which the two models disagree.
    public struct Disagreement: Sendable, Codable, Equatable {
        /// Its position in the evaluation images' file (`PATH@START-END` starts at START).
        public var image: Int
        public var label: Int
        public var floatClass: Int
        public var int8Class: Int
        /// Both models' class lengths (int8's dequantized).
        public var floatLengths: [Double]
        public var int8Lengths: [Double]
    }

    /// How many disagreeing images a report lists.
    public static let listedDisagreements = 48

    /// Runs both models over `dataset` in batches of `batchSize` (the int8 one on all cores) and
    /// measures; `progress` is told how many images are done. The float side is `model` with its
    /// folds done, as the quantizer saw it: the same function up to float rounding, whose layers
    /// compute what the int8 layers of the same index approximate.
    public static func measure(
        float original: CapsNetModel, int8 engine: Int8Engine, modelName: String, calibration: Dataset,
        evaluation dataset: Dataset, search: FormatSearchSummary? = nil, sensitivity: FormatSensitivity? = nil,
        batchSize: Int = 100,
        progress: @Sendable (Int) -> Void = { _ in }
    ) throws -> QuantizationReport {
        let quantized = engine.model
        let (model, folds) = original.folded()
        let reference = FloatReference(model)
        let images = try dataset.images(for: model)
        let labels = try dataset.labels(classes: model.outputShape.reduce(1, *))
        var signal = [Double](repeating: 0, count: quantized.layers.count)
        var noise = [Double](repeating: 0, count: quantized.layers.count)
        var saturated = [Int](repeating: 0, count: quantized.layers.count)
        var valueCounts = [Int](repeating: 0, count: quantized.layers.count)
        var floatPredictions: [Int] = []
        var int8Predictions: [Int] = []
        var disagreements: [Disagreement] = []
        let outputStep = pow(2, -Double(quantized.layers.last?.outputFrac ?? 0))
        for start in stride(from: 0, to: dataset.count, by: batchSize) {
            let range = start..<min(start + batchSize, dataset.count)
            let batch = images.batch(range)
            let trace = try reference.trace(batch)
            let int8 = try engine.layerOutputs(batch) { progress(start + $0) }
            floatPredictions += Evaluation.classes(of: trace.output)
            for (image, layers) in int8.enumerated() {
                let int8Class = Int8Engine.predictedClass(layers.last ?? [])
                int8Predictions.append(int8Class)
                let floatClass = floatPredictions[start + image]
                if int8Class != floatClass, disagreements.count < listedDisagreements {
                    let classes = trace.output.values.count / range.count
                    disagreements.append(
                        Disagreement(
                            image: dataset.firstIndex + start + image, label: labels[start + image],
                            floatClass: floatClass,
                            int8Class: int8Class,
                            floatLengths: trace.output.values[image * classes..<(image + 1) * classes].map(Double.init),
                            int8Lengths: (layers.last ?? []).map { Double($0) * outputStep }))
                }
                for (index, values) in layers.enumerated() {
                    let floats = trace.layers[index].output
                    let size = floats.count / range.count
                    let step = pow(2, -Double(quantized.layers[index].outputFrac))
                    let steps = pow(2, Double(quantized.layers[index].outputFrac))
                    valueCounts[index] += values.count
                    for (offset, value) in values.enumerated() {
                        let exact = Double(floats.values[image * size + offset])
                        if exact * steps > 127.5 || exact * steps < -128.5 { saturated[index] += 1 }
                        signal[index] += exact * exact
                        let difference = exact - Double(value) * step
                        noise[index] += difference * difference
                    }
                }
            }
        }
        let float = Evaluation(predictions: floatPredictions, labels: labels)
        let int8 = Evaluation(predictions: int8Predictions, labels: labels)
        let agreeing = zip(floatPredictions, int8Predictions).filter { $0 == $1 }.count
        let layers = quantized.layers.enumerated().map { index, layer in
            LayerFigures(
                name: layer.name, className: layer.className,
                format: QFormat(fractionalBits: layer.outputFrac).description,
                sqnrDb: signal[index] > 0 ? 10 * log10(signal[index] / max(noise[index], .leastNonzeroMagnitude)) : nil,
                saturationPercent: valueCounts[index] > 0
                    ? 100 * Double(saturated[index]) / Double(valueCounts[index]) : 0,
                ramBytes: engine.plan.layers[index].peakBytes, flashBytes: quantized.flashBytes(ofLayer: index))
        }
        return QuantizationReport(
            model: modelName, scheme: quantized.scheme, calibration: calibration.name,
            calibrationImages: calibration.count, evaluation: dataset.name, images: dataset.count,
            floatTop1: float.top1, int8Top1: int8.top1, lossPoints: float.top1 - int8.top1,
            agreement: dataset.count == 0 ? 0 : 100 * Double(agreeing) / Double(dataset.count),
            flashBytes: quantized.flashBytes,
            float32WeightBytes: 4 * original.layers.map(\.parameterCount).reduce(0, +),
            ramBytes: engine.ramBytes, ramBytesKeepingPredictions: engine.arenaBytes(routing: .keepPredictions),
            ramBytesRecomputingPredictions: engine.arenaBytes(routing: .recomputePredictions), layers: layers,
            disagreements: disagreements, folds: folds, search: search, sensitivity: sensitivity)
    }

    /// The report as Markdown.
    public var markdown: String {
        func percent(_ value: Double) -> String { String(format: "%.2f%%", value) }
        var lines = [
            "# Quantization report: \(model)", "",
            "Scheme `\(scheme.rawValue)`, calibrated on `\(calibration)` (\(calibrationImages) images), "
                + "scored on `\(evaluation)` (\(images) images).", "",
            "| | float32 | int8 |", "|---|---|---|",
            "| top-1 | \(percent(floatTop1)) | \(percent(int8Top1)) |",
            "| loss | | \(String(format: "%.2f", lossPoints)) percentage points |",
            "| agreement with float | | \(percent(agreement)) |",
            "| weights (flash) | \(float32WeightBytes) B | \(flashBytes) B "
                + "(\(String(format: "%.1f", 100 * Double(flashBytes) / Double(max(float32WeightBytes, 1))))%) |",
            "| RAM peak (arena) | | \(ramBytes) B |",
            "| RAM peak, lean-memory routing (`--routing recompute`) | | \(ramBytesRecomputingPredictions) B |", "",
            "| layer | class | format | SQNR (dB) | saturated | RAM while running (B) | flash (B) |",
            "|---|---|---|---|---|---|---|",
        ]
        for layer in layers {
            let sqnr = layer.sqnrDb.map { String(format: "%.1f", $0) } ?? "n/a"
            lines.append(
                "| \(layer.name) | \(layer.className) | \(layer.format) | \(sqnr) | "
                    + String(format: "%.3f%%", layer.saturationPercent) + " | \(layer.ramBytes) | \(layer.flashBytes) |"
            )
        }
        if !folds.isEmpty {
            lines += ["", "Batch normalization: " + folds.joined(separator: "; ") + "."]
        }
        if let search {
            lines += [
                "",
                "Format search on the \(search.images) calibration images (\(search.candidatesTried) candidates, "
                    + String(format: "%.1f", search.seconds) + " s, "
                    + (search.converged ? "until a pass moved nothing" : "stopped by its time budget") + "): "
                    + "\(search.before) with the rules' formats, \(search.after) with these.",
            ]
            if search.changes.isEmpty {
                lines.append("No format moved from the rules'.")
            } else {
                lines += ["", "| layer | tensor | rules | chosen |", "|---|---|---|---|"]
                for change in search.changes {
                    lines.append(
                        "| \(change.layer) | \(change.tensor) | \(QFormat(fractionalBits: change.rules)) | "
                            + "\(QFormat(fractionalBits: change.chosen)) |")
                }
            }
        }
        if let sensitivity {
            lines += [
                "",
                "## Sensitivity",
                "",
                "Every format, how much of its values it saturates, and what one fractional bit more (finer) or "
                    + "less (coarser) does on the \(sensitivity.images) calibration images: images of another class "
                    + "than float's (more is worse) and the class-length error against this model's "
                    + "(measured in " + String(format: "%.1f", sensitivity.seconds) + " s"
                    + (sensitivity.measuredRows < sensitivity.rows.count
                        ? "; \(sensitivity.measuredRows) of the \(sensitivity.rows.count) formats, the last layers' first, "
                            + "within the budget of " + String(format: "%g", sensitivity.budgetSeconds)
                            + " s: --sensitivity-seconds gives more" : "")
                    + ").",
                "",
                "| layer | tensor | format | saturated | one bit finer | one bit coarser |",
                "|---|---|---|---|---|---|",
            ]
            for row in sensitivity.rows {
                lines.append(
                    "| \(row.layer) | \(row.tensor) | \(QFormat(fractionalBits: row.format)) | "
                        + String(format: "%.3f%%", row.saturationPercent)
                        + " | \(row.cell(row.finer)) | \(row.cell(row.coarser)) |")
            }
            if let worst = sensitivity.mostSensitive {
                lines += ["", "The format whose one-bit move costs the most images: \(worst.layer), \(worst.tensor)."]
            }
        }
        if scheme.usesRules {
            lines += [
                "",
                "Under this project's rules a convolution followed by a ReLU is stored in the ReLU's range: its "
                    + "negative outputs saturate, and the ReLU would zero them anyway. The ReLU's row is what reaches "
                    + "the next layer.",
            ]
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
