import Foundation
import Testing

@testable import CapsNetConverter
@testable import CapsNetRuntime
import CapsNetEdge

@Suite("Format search")
struct FormatSearchTests {
    /// The tiny fixture CapsNet and the digits it is calibrated on.
    static func tiny() throws -> (CapsNetModel, Dataset) {
        (try CapsNetModel(contentsOf: TestData.fixture("tiny_sequential.keras")), try Dataset(GeneratedData.digits))
    }

    @Test("the search ends no further from float than the rules, on its own images, and only moves formats", .needsFixtures)
    func neverWorse() throws {
        let (model, digits) = try Self.tiny()
        let rules = try Quantizer(scheme: .rules).quantize(model, calibration: digits)
        let result = try Quantizer(scheme: .search, searchSeconds: 60).run(model, calibration: digits)
        let summary = try #require(result.search)
        #expect(result.model.scheme == .search)
        #expect(summary.after == summary.before || summary.after.isCloser(than: summary.before))
        // The rules' model, judged the same way, is where the search started, and the chosen model,
        // run whole, is as close as the search measured it from its kept layer outputs.
        let folded = model.folded().model
        let images = try digits.images(for: folded)
        let float = try FloatReference(folded).outputs(images)
        #expect(try FormatSearch.Judge(images: images, float: float, start: rules).closeness == summary.before)
        #expect(try FormatSearch.Judge(images: images, float: float, start: result.model).closeness == summary.after)
        // Same layers, same shapes, same weights' count: only formats (and the values they give) differ.
        #expect(result.model.layers.map(\.name) == rules.layers.map(\.name))
        #expect(result.model.flashBytes == rules.flashBytes)
        if summary.changes.isEmpty {
            #expect(result.model.layers == rules.layers)
        }
        for change in summary.changes { #expect(change.rules != change.chosen) }
    }

    @Test("with no time to search, the rules' formats are kept", .needsFixtures)
    func noBudget() throws {
        let (model, digits) = try Self.tiny()
        let rules = try Quantizer(scheme: .rules).quantize(model, calibration: digits)
        let result = try Quantizer(scheme: .search, searchSeconds: 0).run(model, calibration: digits)
        #expect(result.model.layers == rules.layers)
        #expect(result.search?.changes == [])
        #expect(result.search?.candidatesTried == 0)
    }

    @Test("a search that ends before its budget gives the same model every time", .needsFixtures)
    func deterministic() throws {
        let (model, digits) = try Self.tiny()
        let first = try Quantizer(scheme: .search, searchSeconds: 120).run(model, calibration: digits)
        let second = try Quantizer(scheme: .search, searchSeconds: 120).run(model, calibration: digits)
        #expect(first.search?.converged == true)
        #expect(first.model == second.model)
    }

    @Test("the sensitivity table has every format the rules chose, each moved one bit either way", .needsFixtures)
    func sensitivity() throws {
        let (model, digits) = try Self.tiny()
        let result = try Quantizer(scheme: .rules, sensitivitySeconds: 600).run(model, calibration: digits)
        let table = try #require(result.sensitivity)
        #expect(try Quantizer(scheme: .rules).run(model, calibration: digits).sensitivity == nil)
        #expect(table.images == 5)
        #expect(table.measuredRows == table.rows.count)
        // input, then per layer its formats in the order the kinds choose them.
        #expect(table.rows.first.map { "\($0.layer) \($0.tensor) \($0.format)" } == "input output \(result.model.inputFrac)")
        #expect(table.rows.last?.layer == "length")
        #expect(table.rows.last?.format == result.model.layers.last?.outputFrac)
        #expect(Set(table.rows.map { "\($0.layer) \($0.tensor)" }).count == table.rows.count)
        #expect(table.rows.contains { $0.layer == "capsule" && $0.tensor == "weights" })
        #expect(table.rows.contains { $0.layer == "capsule" && $0.tensor == "predictions" })
        for row in table.rows {
            #expect((0...100).contains(row.saturationPercent))
            #expect(row.finer == nil || row.finer?.format == row.format + 1)
            #expect(row.coarser == nil || row.coarser?.format == row.format - 1)
            if row.format == QFormat.supportedFractionalBits.upperBound { #expect(row.finer == nil) }
            for effect in [row.finer, row.coarser].compactMap({ $0 }) {
                #expect(effect.lengthErrorRatio >= 0 && effect.lengthErrorRatio.isFinite)
                #expect(effect.disagreements >= -5 && effect.disagreements <= 5)
            }
        }
        // The effects are measured, not assumed: the input's format changes every layer after it.
        let input = try #require(table.rows.first)
        #expect([input.finer, input.coarser].contains { $0 != nil && $0?.lengthErrorRatio != 1 })
    }

    @Test("a sensitivity budget too short for every format measures the last layers' first", .needsFixtures)
    func sensitivityBudget() throws {
        let (model, digits) = try Self.tiny()
        let table = try #require(
            try Quantizer(scheme: .rules, sensitivitySeconds: 1e-9).run(model, calibration: digits).sensitivity)
        #expect(table.budgetSeconds < 1e-6)
        // The first row checked finds the budget already spent: no row is measured, every row is listed.
        #expect(table.measuredRows == 0 && !table.rows.isEmpty)
        #expect(table.rows.allSatisfy { $0.finer == nil && $0.coarser == nil && $0.cell($0.finer) == "not measured" })
        #expect(table.rows.first?.layer == "input")
        #expect(try Quantizer(scheme: .rules).run(model, calibration: digits).sensitivity == nil)
    }

    @Test("saturation of a format, from the calibration histogram")
    func saturation() {
        var statistics = TensorStatistics()
        statistics.add([0.5, -1, 2, -4, 0])
        // Q1.6 holds up to 127.5 / 64 = 1.99: 2 and -4 saturate.
        #expect(statistics.saturatedFraction(frac: 6) == 0.4)
        #expect(statistics.saturatedFraction(frac: 4) == 0)
        #expect(statistics.saturatedFraction(frac: 7) == 0.6)
        #expect(TensorStatistics().saturatedFraction(frac: 0) == 0)
    }

    @Test("files written before the search existed read their scheme 'default' as the rules")
    func oldSchemeName() {
        #expect(QuantizationScheme(rawValue: "default") == .rules)
        #expect(QuantizationScheme.allCases.map(\.rawValue) == ["reference", "rules", "search"])
    }

    @Test("closer means a smaller length error and no more images of another class")
    func closenessRule() {
        let start = OutputCloseness(disagreements: 2, lengthError: 1.0)
        #expect(OutputCloseness(disagreements: 2, lengthError: 0.9).isCloser(than: start))
        #expect(OutputCloseness(disagreements: 1, lengthError: 0.9).isCloser(than: start))
        #expect(!OutputCloseness(disagreements: 3, lengthError: 0.1).isCloser(than: start))
        #expect(!OutputCloseness(disagreements: 0, lengthError: 1.0).isCloser(than: start))
        #expect(!start.isCloser(than: start))
    }
}
