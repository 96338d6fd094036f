import Foundation

/// Which tensor limits a quantized model: for every format the quantizer chose, how much of its
/// values it saturates and what one fractional bit more or less would do to the int8 engine's
/// outputs on the calibration images (images of another class than float's, and the class-length
/// error), each measured as a whole candidate model like the format search's.
public struct FormatSensitivity: Sendable, Codable, Equatable {
    /// What moving one format by one bit does.
    public struct Effect: Sendable, Codable, Equatable, CustomStringConvertible {
        /// The format tried, in fractional bits.
        public var format: Int
        /// Images of another class than float's, minus the model's own.
        public var disagreements: Int
        /// The candidate's class-length error over the model's: below 1 is closer to float.
        public var lengthErrorRatio: Double

        public var description: String {
            let images = disagreements == 0 ? "±0" : String(format: "%+d", disagreements)
            return "\(images) images, error ×" + String(format: "%.2f", lengthErrorRatio)
        }
    }

    /// One format of the model.
    public struct Row: Sendable, Codable, Equatable {
        public var layer: String
        public var tensor: String
        /// Fractional bits.
        public var format: Int
        /// The percentage of the site's values (calibration outputs, or trained values) the format
        /// cannot hold.
        public var saturationPercent: Double
        /// One bit finer and one bit coarser; nil where the kernels take no such format, the
        /// layer kinds' clamps give the same model, or the row was not measured.
        public var finer: Effect?
        public var coarser: Effect?
        /// Whether the effects were measured: false when the time budget ran out first.
        public var measured: Bool

        /// `effect` (one of this row's) as a table cell.
        public func cell(_ effect: Effect?) -> String {
            guard measured else { return "not measured" }
            return effect?.description ?? "n/a"
        }
    }

    /// The calibration images the effects were measured on.
    public var images: Int
    public var seconds: Double
    /// The time the measurement was allowed; rows not reached within it are not measured.
    public var budgetSeconds: Double
    public var rows: [Row]

    /// The rows measured within the budget.
    public var measuredRows: Int { rows.filter(\.measured).count }

    /// Measures every format of `order` (whose current values are `formats`) against `judge`'s
    /// current model, within `budget`; `build` makes the model with some formats replaced,
    /// `statistics` says what a site holds. The last layers' formats go first: their candidates
    /// run only the layers after them, so a budget too short for a large model still covers the
    /// routing, and the first layers' formats are the ones left unmeasured.
    static func measure(
        judge: FormatSearch.Judge, formats: [FormatKey: Int], order: [FormatKey],
        statistics: [FormatKey: TensorStatistics], budget: Duration,
        build: ([FormatKey: Int]) throws -> QuantizedModel, names: (FormatKey) -> (layer: String, tensor: String)
    ) throws -> FormatSensitivity {
        let clock = ContinuousClock()
        let began = clock.now
        let current = judge.closeness
        var rows: [Row] = []
        for key in order.reversed() {
            guard let format = formats[key] else { continue }
            let (layer, tensor) = names(key)
            let saturation = 100 * (statistics[key]?.saturatedFraction(frac: format) ?? 0)
            guard clock.now - began < budget else {
                rows.append(
                    Row(
                        layer: layer, tensor: tensor, format: format, saturationPercent: saturation, finer: nil,
                        coarser: nil, measured: false))
                continue
            }
            func effect(_ step: Int) throws -> Effect? {
                let moved = format + step
                guard QFormat.supportedFractionalBits.contains(moved) else { return nil }
                var candidate = formats
                candidate[key] = moved
                let model = try build(candidate)
                guard model != judge.current, let trial = try? judge.trial(model) else { return nil }
                return Effect(
                    format: moved, disagreements: trial.closeness.disagreements - current.disagreements,
                    lengthErrorRatio: trial.closeness.lengthError / max(current.lengthError, .leastNonzeroMagnitude))
            }
            rows.append(
                Row(
                    layer: layer, tensor: tensor, format: format, saturationPercent: saturation,
                    finer: try effect(1), coarser: try effect(-1), measured: true))
        }
        return FormatSensitivity(
            images: judge.images.shape.first ?? 0, seconds: (clock.now - began).seconds,
            budgetSeconds: budget.seconds, rows: rows.reversed())
    }

    /// The row whose one-bit move costs the most images, if any costs any.
    public var mostSensitive: Row? {
        func cost(_ row: Row) -> Int { max(row.finer?.disagreements ?? 0, row.coarser?.disagreements ?? 0) }
        return rows.max { cost($0) < cost($1) }.flatMap { cost($0) > 0 ? $0 : nil }
    }
}
