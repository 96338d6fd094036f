import Foundation

/// How close an int8 model's outputs are to the float model's on a set of images: how many images
/// change class, and the mean squared error of the class lengths (dequantized).
public struct OutputCloseness: Sendable, Codable, Equatable, CustomStringConvertible {
    /// Images on which int8 and float predict different classes.
    public var disagreements: Int
    /// Mean over the images of the summed squared differences of the class lengths.
    public var lengthError: Double

    /// Whether these outputs are closer than `other`'s: a smaller length error, and no more images
    /// of another class. The error, a sum over every image, moves with every format; the classes of
    /// the few images near a tie move by chance, and chasing them alone fits the calibration images.
    public func isCloser(than other: Self) -> Bool {
        lengthError < other.lengthError && disagreements <= other.disagreements
    }

    public var description: String {
        "\(disagreements) images of another class, length error \(String(format: "%.3g", lengthError))"
    }
}

/// What a format search did: the formats it changed from the rules', and the closeness on the
/// search images before and after.
public struct FormatSearchSummary: Sendable, Codable, Equatable {
    /// One format the search moved.
    public struct Change: Sendable, Codable, Equatable {
        public var layer: String
        public var tensor: String
        public var rules: Int
        public var chosen: Int
    }

    public var images: Int
    public var candidatesTried: Int
    public var seconds: Double
    /// Whether the search ended because a whole pass moved nothing, rather than by its time
    /// budget: only then is its model the same on a faster or slower machine.
    public var converged: Bool
    public var before: OutputCloseness
    public var after: OutputCloseness
    public var changes: [Change]
}

/// The `search` scheme's second half: starting from the rules' formats, each format is tried one
/// bit finer and one bit coarser, in the order the model chooses them (its input first), and the
/// change is kept when the int8 engine's outputs on the search images come closer to float's
/// (``OutputCloseness/isCloser(than:)``); a kept change is pushed one more bit the same way. Passes
/// repeat until one changes nothing or the time budget is spent. Every candidate is a whole model
/// built by the layer kinds, so every clamp the kernels need still holds; candidates the clamps make
/// identical to the current model are not run, and a candidate runs only from its first layer that
/// differs, on the current model's outputs of the layers before it.
struct FormatSearch {
    /// The time the search may take; the rules' model is kept if not even its first run fits.
    var budget: Duration
    /// Formats are kept within what the kernels take.
    var formats = QFormat.supportedFractionalBits

    /// The best model found, starting from `judge`'s current model (the rules'), whose formats are
    /// `start` (in `order`); the judge ends on the best model, and `overrides` are the formats
    /// moved from `start`.
    func run(
        judge: Judge, start: [FormatKey: Int], order: [FormatKey],
        build: ([FormatKey: Int]) throws -> QuantizedModel, names: (FormatKey) -> (layer: String, tensor: String)
    ) throws -> (model: QuantizedModel, overrides: [FormatKey: Int], summary: FormatSearchSummary) {
        let clock = ContinuousClock()
        let began = clock.now
        var best = judge.current
        var closeness = judge.closeness
        let initial = closeness
        var overrides: [FormatKey: Int] = [:]
        var tried = 0
        var improved = true
        var converged = false
        search: while improved {
            improved = false
            for key in order {
                guard let base = start[key] else { continue }
                for step in [1, -1] {
                    var format = (overrides[key] ?? base) + step
                    while formats.contains(format) {
                        if clock.now - began > budget { break search }
                        var candidate = overrides
                        candidate[key] = format
                        let model = try build(candidate)
                        if model == best { break }
                        tried += 1
                        // A candidate the engine refuses (a shift its kernels do not take) is not closer.
                        guard let trial = try? judge.trial(model), trial.closeness.isCloser(than: closeness) else {
                            break
                        }
                        try judge.accept(trial)
                        (best, closeness, overrides, improved) = (model, trial.closeness, candidate, true)
                        format += step
                    }
                }
            }
            converged = !improved
        }
        let changes = order.compactMap { key -> FormatSearchSummary.Change? in
            guard let chosen = overrides[key], let rule = start[key], chosen != rule else { return nil }
            let (layer, tensor) = names(key)
            return FormatSearchSummary.Change(layer: layer, tensor: tensor, rules: rule, chosen: chosen)
        }
        let summary = FormatSearchSummary(
            images: judge.images.shape.first ?? 0, candidatesTried: tried, seconds: (clock.now - began).seconds,
            converged: converged, before: initial, after: closeness, changes: changes)
        return (best, overrides, summary)
    }

    /// Runs candidates on the search images and compares them with the float outputs, keeping
    /// every layer's int8 outputs of the current model.
    final class Judge {
        let images: Tensor
        let float: Tensor
        /// The float model's class of each image.
        let floatClasses: [Int]
        private(set) var current: QuantizedModel
        /// Per image, every layer's output under `current`.
        private var outputs: [[[Int8]]]
        private(set) var closeness: OutputCloseness

        /// A candidate, its engine, the first of its layers that differs from the current model's,
        /// and its closeness.
        struct Trial {
            let model: QuantizedModel
            let engine: Int8Engine
            let first: Int
            let closeness: OutputCloseness
        }

        init(images: Tensor, float: Tensor, start: QuantizedModel) throws {
            self.images = images
            self.float = float
            floatClasses = Evaluation.classes(of: float)
            current = start
            outputs = try Int8Engine(start).layerOutputs(images)
            closeness = Self.closeness(
                outputs.map { $0.last ?? [] }, float: float, classes: floatClasses,
                outputFrac: start.layers.last?.outputFrac ?? 0)
        }

        /// `model` run from its first layer that differs from the current model's, keeping only
        /// its final outputs.
        func trial(_ model: QuantizedModel) throws -> Trial {
            let engine = try Int8Engine(model)
            let first =
                model.inputFrac != current.inputFrac
                ? 0 : model.layers.indices.first { model.layers[$0] != current.layers[$0] } ?? model.layers.count
            let final: [[Int8]]
            if first == 0 {
                final = try engine.outputs(images)
            } else if first == model.layers.count {
                final = outputs.map { $0.last ?? [] }
            } else {
                final = try engine.outputs(from: first, inputs: outputs.map { $0[first - 1] })
            }
            let closeness = Self.closeness(
                final, float: float, classes: floatClasses, outputFrac: model.layers.last?.outputFrac ?? 0)
            return Trial(model: model, engine: engine, first: first, closeness: closeness)
        }

        /// `trial`'s model becomes the current one: its layers' outputs from the first that
        /// differs are run again and kept.
        func accept(_ trial: Trial) throws {
            if trial.first == 0 {
                outputs = try trial.engine.layerOutputs(images)
            } else if trial.first < trial.model.layers.count {
                let suffixes = try trial.engine.layerOutputs(
                    from: trial.first, inputs: outputs.map { $0[trial.first - 1] })
                outputs = zip(outputs, suffixes).map { Array($0.prefix(trial.first)) + $1 }
            }
            (current, closeness) = (trial.model, trial.closeness)
        }

        /// The closeness of final outputs (class lengths in `outputFrac`, one row per image) to
        /// `float`, whose classes are `classes`.
        static func closeness(_ runs: [[Int8]], float: Tensor, classes: [Int], outputFrac: Int) -> OutputCloseness {
            let width = float.shape.dropFirst().reduce(1, *)
            let step = pow(2, -Double(outputFrac))
            var disagreements = 0
            var error = 0.0
            for (image, lengths) in runs.enumerated() {
                if Int8Engine.predictedClass(lengths) != classes[image] { disagreements += 1 }
                let row = image * width
                for (offset, value) in lengths.enumerated() {
                    let difference = Double(float.values[row + offset]) - Double(value) * step
                    error += difference * difference
                }
            }
            return OutputCloseness(disagreements: disagreements, lengthError: error / Double(max(runs.count, 1)))
        }
    }
}

extension Duration {
    /// The duration in seconds.
    public var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }
}
