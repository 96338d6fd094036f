import Foundation

/// `report.html`: the quantization report as charts (per-layer SQNR, saturation, RAM and flash,
/// each format's sensitivity) and the images on which float and int8 disagree, drawn with both
/// models' class lengths.
enum ReportPage {
    /// The page for `report`; `images` are the evaluation images (`inputShape` each), the first of
    /// them image `firstIndex` of its file.
    static func html(_ report: QuantizationReport, images: Tensor, firstIndex: Int, inputShape: [Int]) -> String {
        var page = HTMLPage(title: "Quantization report: \((report.model as NSString).lastPathComponent)")
        page.paragraph(
            "\(report.model), scheme '\(report.scheme.rawValue)', calibrated on \(report.calibration) "
                + "(\(report.calibrationImages) images), scored on \(report.evaluation) (\(report.images) images).")
        func percent(_ value: Double) -> String { String(format: "%.2f%%", value) }
        page.table(
            header: ["", "float32", "int8"],
            rows: [
                ["top-1", percent(report.floatTop1), percent(report.int8Top1)],
                ["loss", "", String(format: "%.2f percentage points", report.lossPoints)],
                ["agreement with float", "", percent(report.agreement)],
                ["weights (flash)", "\(report.float32WeightBytes) B", "\(report.flashBytes) B"],
                ["RAM peak (arena)", "", "\(report.ramBytes) B"],
                ["RAM peak, lean-memory routing", "", "\(report.ramBytesRecomputingPredictions) B"],
            ], numericColumns: [1, 2])

        page.heading("Layers")
        let names = report.layers.map { "\($0.name) (\($0.format))" }
        page.raw(
            BarChart.svg(
                title: "Signal-to-quantization-noise ratio of each layer's output (dB, higher is better)",
                series: ["SQNR"],
                rows: zip(names, report.layers).map { BarChart.Row(label: $0, values: [$1.sqnrDb]) },
                format: { String(format: "%.1f dB", $0) }))
        page.raw(
            BarChart.svg(
                title: "Float values each layer's format cannot hold (% of its outputs)", series: ["saturated"],
                rows: zip(names, report.layers).map { BarChart.Row(label: $0, values: [$1.saturationPercent]) },
                format: { String(format: "%.3f%%", $0) }))
        page.raw(
            BarChart.svg(
                title: "Memory per layer (bytes)",
                series: ["RAM while running (arena)", "flash (weights, parameters)"],
                rows: zip(names, report.layers).map {
                    BarChart.Row(label: $0, values: [Double($1.ramBytes), Double($1.flashBytes)])
                },
                format: { String(Int($0)) }))
        page.table(
            header: ["layer", "class", "format", "SQNR (dB)", "saturated", "RAM (B)", "flash (B)"],
            rows: report.layers.map {
                [
                    $0.name, $0.className, $0.format, $0.sqnrDb.map { String(format: "%.1f", $0) } ?? "n/a",
                    String(format: "%.3f%%", $0.saturationPercent), "\($0.ramBytes)", "\($0.flashBytes)",
                ]
            }, numericColumns: [3, 4, 5, 6])

        if let sensitivity = report.sensitivity {
            page.heading("Sensitivity")
            page.paragraph(
                "What one fractional bit more (finer) or less (coarser) in each format does on the "
                    + "\(sensitivity.images) calibration images: images of another class than float's, against this "
                    + "model's (more is worse). A format the kernels do not take, or that gives the same model, has "
                    + "no bar"
                    + (sensitivity.measuredRows < sensitivity.rows.count
                        ? "; \(sensitivity.measuredRows) of the \(sensitivity.rows.count) formats were measured within "
                            + "the time budget (the last layers' first), the others have none" : "")
                    + ".")
            page.raw(
                BarChart.svg(
                    title: "Images changing to another class than float's, one bit either way",
                    series: ["one bit finer", "one bit coarser"],
                    rows: sensitivity.rows.map {
                        BarChart.Row(
                            label: "\($0.layer): \($0.tensor)",
                            values: [
                                $0.finer.map { Double($0.disagreements) }, $0.coarser.map { Double($0.disagreements) },
                            ])
                    },
                    format: { String(format: "%+.0f", $0) }))
            page.table(
                header: ["layer", "tensor", "format", "saturated", "one bit finer", "one bit coarser"],
                rows: sensitivity.rows.map {
                    [
                        $0.layer, $0.tensor, QFormat(fractionalBits: $0.format).description,
                        String(format: "%.3f%%", $0.saturationPercent), $0.cell($0.finer), $0.cell($0.coarser),
                    ]
                }, numericColumns: [3])
        }

        page.heading("Images float and int8 classify differently")
        let disagreeing = Int((100 - report.agreement) / 100 * Double(report.images) + 0.5)
        if report.disagreements.isEmpty {
            page.paragraph("None: both models give every one of the \(report.images) images the same class.")
        } else {
            page.paragraph(
                "\(disagreeing) of \(report.images) images"
                    + (disagreeing > report.disagreements.count
                        ? ", the first \(report.disagreements.count) drawn" : "")
                    + "; beside each, both models' class lengths (blue: float, orange: int8; the two classes in bold).")
            page.raw(
                disagreementFigures(
                    report.disagreements, images: images, firstIndex: firstIndex, inputShape: inputShape))
        }
        return page.html
    }

    private static func disagreementFigures(
        _ disagreements: [QuantizationReport.Disagreement], images: Tensor, firstIndex: Int, inputShape: [Int]
    ) -> String {
        let (height, width, channels) =
            inputShape.count == 3
            ? (inputShape[0], inputShape[1], inputShape[2])
            : inputShape.count == 2 ? (inputShape[0], inputShape[1], 1) : (0, 0, 0)
        let size = inputShape.reduce(1, *)
        var figures = ["<div class=\"images\">"]
        for disagreement in disagreements {
            var figure = "<figure>"
            let start = (disagreement.image - firstIndex) * size
            if height > 0, start >= 0, start + size <= images.values.count {
                figure +=
                    "<img alt=\"image \(disagreement.image)\" src=\""
                    + BitmapImage.dataURI(
                        images.values[start..<start + size], height: height, width: width, channels: channels) + "\">"
            }
            figure +=
                "<figcaption>image \(disagreement.image): label \(disagreement.label), "
                + "float \(disagreement.floatClass), int8 \(disagreement.int8Class)</figcaption>"
            figure += lengthsChart(disagreement)
            figures.append(figure + "</figure>")
        }
        return figures.joined(separator: "\n") + "</div>"
    }

    /// Both models' class lengths as paired columns, the two predicted classes marked.
    private static func lengthsChart(_ disagreement: QuantizationReport.Disagreement) -> String {
        let classes = max(disagreement.floatLengths.count, disagreement.int8Lengths.count)
        let column = 18.0
        let plot = 70.0
        let top = max((disagreement.floatLengths + disagreement.int8Lengths).filter(\.isFinite).max() ?? 1, 1e-6)
        var svg = [
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(column * Double(classes)) + 4)\" "
                + "height=\"\(Int(plot) + 16)\" role=\"img\" aria-label=\"class lengths\">"
        ]
        for index in 0..<classes {
            let x = Double(index) * column + 2
            for (slot, lengths) in [disagreement.floatLengths, disagreement.int8Lengths].enumerated() {
                guard index < lengths.count, lengths[index].isFinite else { continue }
                let barHeight = max(lengths[index], 0) / top * plot
                svg.append(
                    "<rect x=\"\(x + Double(slot) * 7)\" y=\"\(plot - barHeight)\" width=\"6\" height=\"\(max(barHeight, 0.5))\" "
                        + "fill=\"\(BarChart.palette[slot])\"><title>class \(index), \(slot == 0 ? "float" : "int8"): "
                        + String(format: "%.3f", lengths[index]) + "</title></rect>")
            }
            let marked = index == disagreement.floatClass || index == disagreement.int8Class
            svg.append(
                "<text x=\"\(x + 6)\" y=\"\(plot + 12)\" text-anchor=\"middle\" "
                    + "style=\"font-size:10px\(marked ? ";font-weight:700" : "")\">\(index)</text>")
        }
        svg.append("</svg>")
        return svg.joined(separator: "\n")
    }
}

extension QuantizationReport {
    /// `report.html`, one self-contained page (``ReportPage``): the evaluation images are `images`
    /// (`inputShape` each), the first of them image `firstIndex` of its file.
    public func html(images: Tensor, firstIndex: Int, inputShape: [Int]) -> String {
        ReportPage.html(self, images: images, firstIndex: firstIndex, inputShape: inputShape)
    }
}
