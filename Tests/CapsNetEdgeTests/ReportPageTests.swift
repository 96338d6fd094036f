import Foundation
import Testing

@testable import CapsNetConverter
@testable import CapsNetRuntime
import CapsNetEdge

@Suite("report.html")
struct ReportPageTests {
    /// The bytes of a `data:image/bmp;base64,` URI.
    static func bitmapBytes(_ uri: String) throws -> [UInt8] {
        let prefix = "data:image/bmp;base64,"
        #expect(uri.hasPrefix(prefix))
        return try #require(Data(base64Encoded: String(uri.dropFirst(prefix.count)))).map { $0 }
    }

    static func little32(_ bytes: [UInt8], _ offset: Int) -> Int {
        (0..<4).reduce(0) { $0 | Int(bytes[offset + $1]) << (8 * $1) }
    }

    @Test("images are 24-bit BMPs: bottom row first, BGR, rows padded to 4 bytes, stretched to 0-255")
    func bitmap() throws {
        // 2 rows × 3 columns × RGB, values 0...17: the smallest black, the largest white.
        let values = (0..<18).map(Float.init)
        let bytes = try Self.bitmapBytes(BitmapImage.dataURI(values[...], height: 2, width: 3, channels: 3))
        let rowBytes = 12  // 9 bytes of pixels, padded
        #expect(Array(bytes[0..<2]) == Array("BM".utf8))
        #expect(Self.little32(bytes, 2) == 54 + 2 * rowBytes)
        #expect(bytes.count == 54 + 2 * rowBytes)
        #expect(Self.little32(bytes, 10) == 54)
        #expect(Self.little32(bytes, 18) == 3 && Self.little32(bytes, 22) == 2)
        #expect(bytes[28] == 24)
        func pixel(_ y: Int, _ x: Int) -> [UInt8] {
            let offset = 54 + (1 - y) * rowBytes + 3 * x
            return [bytes[offset + 2], bytes[offset + 1], bytes[offset]]  // RGB
        }
        func expected(_ value: Float) -> UInt8 { UInt8((value / 17 * 255).rounded()) }
        #expect(pixel(0, 0) == [0, expected(1), expected(2)])
        #expect(pixel(1, 2) == [expected(15), expected(16), 255])
        #expect(Array(bytes[54 + 9..<54 + 12]) == [0, 0, 0])

        // One channel is grey; a constant image does not divide by zero.
        let grey = try Self.bitmapBytes(BitmapImage.dataURI([0, 1, 2, 3][...], height: 2, width: 2, channels: 1))
        #expect(Array(grey[54..<57]) == [170, 170, 170])  // the bottom row's first value, 2 of 0...3
        let flat = try Self.bitmapBytes(BitmapImage.dataURI([5, 5, 5, 5][...], height: 2, width: 2, channels: 1))
        #expect(flat.count == 54 + 2 * 8)
    }

    @Test("bar charts: one bar per value, the axis in the middle when a value is negative, labels escaped")
    func barChart() {
        let svg = BarChart.svg(
            title: "t", series: ["a", "b"],
            rows: [BarChart.Row(label: "x<y", values: [1, nil]), BarChart.Row(label: "z", values: [-2, 3])])
        // Two legend squares and three bars.
        #expect(svg.components(separatedBy: "<rect").count - 1 == 2 + 3)
        #expect(svg.contains("x&lt;y") && !svg.contains("x<y"))
        let positive = BarChart.svg(title: "t", series: ["a"], rows: [BarChart.Row(label: "z", values: [2])])
        let labelWidth: Double = 1 * 6.6 + 12
        #expect(positive.contains("<line x1=\"\(labelWidth)\""))
        let threeCharacters: Double = 3 * 6.6 + 12
        let centre: Double = threeCharacters + (750 - threeCharacters) / 2
        #expect(svg.contains("<line x1=\"\(centre)\""))
    }

    @Test("the page draws each disagreeing image from its place in the file, with both models' lengths")
    func disagreements() throws {
        // Three 2×2 one-channel images, the first of them image 5 of their file.
        let images = Tensor(shape: [3, 2, 2, 1], values: (0..<12).map { Float($0 % 5) })
        let disagreement = QuantizationReport.Disagreement(
            image: 7, label: 1, floatClass: 1, int8Class: 2, floatLengths: [0.1, 0.8, 0.7],
            int8Lengths: [0.1, 0.7, 0.75])
        let layer = QuantizationReport.LayerFigures(
            name: "conv<1>", className: "Conv2D", format: "Q2.5", sqnrDb: 30, saturationPercent: 0.5, ramBytes: 100,
            flashBytes: 50)
        var report = QuantizationReport(
            model: "m.h5", scheme: .rules, calibration: "c", calibrationImages: 1, evaluation: "e", images: 3,
            floatTop1: 100, int8Top1: 66.7, lossPoints: 33.3, agreement: 66.7, flashBytes: 50, float32WeightBytes: 200,
            ramBytes: 100, ramBytesKeepingPredictions: 100, ramBytesRecomputingPredictions: 90, layers: [layer],
            disagreements: [disagreement], folds: [], search: nil, sensitivity: nil)
        let page = report.html(images: images, firstIndex: 5, inputShape: [2, 2, 1])
        #expect(page.contains("image 7: label 1, float 1, int8 2"))
        #expect(page.contains("src=\"" + BitmapImage.dataURI(images.values[8..<12], height: 2, width: 2, channels: 1)))
        #expect(page.contains("conv&lt;1&gt; (Q2.5)"))
        // SQNR, saturation, memory, and the lengths of the one image: no sensitivity measured.
        #expect(page.components(separatedBy: "<svg").count - 1 == 4)
        #expect(!page.contains("<script"))

        report.sensitivity = FormatSensitivity(
            images: 10, seconds: 1, budgetSeconds: 30,
            rows: [
                FormatSensitivity.Row(
                    layer: "conv", tensor: "weights", format: 6, saturationPercent: 0,
                    finer: FormatSensitivity.Effect(format: 7, disagreements: 2, lengthErrorRatio: 1.5), coarser: nil,
                    measured: true),
                FormatSensitivity.Row(
                    layer: "input", tensor: "output", format: 7, saturationPercent: 0, finer: nil, coarser: nil,
                    measured: false),
            ])
        let withSensitivity = report.html(images: images, firstIndex: 5, inputShape: [2, 2, 1])
        #expect(withSensitivity.components(separatedBy: "<svg").count - 1 == 5)
        #expect(withSensitivity.contains("+2 images, error ×1.50"))
        #expect(withSensitivity.contains("1 of the 2 formats were measured") && withSensitivity.contains("not measured"))
    }

    @Test(
        "the report lists the images float and int8 classify differently, as each model gives them alone",
        .needsSharedData, .datasetScale)
    func mnistDisagreements() throws {
        let model = try CapsNetModel(contentsOf: TestData.mnistModel)
        let calibration = try Dataset(TestData.shared("mnist") + "@0-999")
        let quantized = try Quantizer(scheme: .reference).quantize(model, calibration: calibration)
        let engine = try Int8Engine(quantized)
        let evaluation = try Dataset(TestData.shared("mnist") + "@1000-2999")
        let report = try QuantizationReport.measure(
            float: model, int8: engine, modelName: "mnist", calibration: calibration, evaluation: evaluation)
        let disagreeing = Int(((100 - report.agreement) / 100 * 2000).rounded())
        #expect(disagreeing > 0)
        #expect(report.disagreements.count == min(disagreeing, QuantizationReport.listedDisagreements))
        let reference = FloatReference(model.folded().model)
        for listed in report.disagreements {
            #expect((1000...2999).contains(listed.image))
            let image = try Dataset(TestData.shared("mnist") + "@\(listed.image)-\(listed.image)")
            #expect(image.labels[0] == listed.label)
            let lengths = try engine.run(engine.quantizeInput(image.images.values[...]))
            #expect(Int8Engine.predictedClass(lengths) == listed.int8Class)
            #expect(lengths.map { Double($0) * pow(2, -Double(quantized.layers.last?.outputFrac ?? 0)) } == listed.int8Lengths)
            let float = try reference.outputs(image.images(for: model))
            #expect(Evaluation.classes(of: float) == [listed.floatClass])
            #expect(listed.floatClass != listed.int8Class)
        }
    }
}
