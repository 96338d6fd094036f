import Foundation

/// A self-contained HTML page: inline style, inline SVG charts and images as data URIs, no script
/// and nothing fetched, so the file can be mailed, archived or opened offline.
public struct HTMLPage: Sendable {
    public var title: String
    private var body: [String] = []

    public init(title: String) { self.title = title }

    public mutating func heading(_ text: String, level: Int = 2) {
        body.append("<h\(level)>\(HTMLPage.escape(text))</h\(level)>")
    }

    public mutating func paragraph(_ text: String) { body.append("<p>\(HTMLPage.escape(text))</p>") }

    /// Markup the caller built (escaped already).
    public mutating func raw(_ markup: String) { body.append(markup) }

    public mutating func table(header: [String], rows: [[String]], numericColumns: Set<Int> = []) {
        func cells(_ row: [String], tag: String) -> String {
            row.enumerated().map { column, text in
                let align = numericColumns.contains(column) ? " class=\"n\"" : ""
                return "<\(tag)\(align)>\(HTMLPage.escape(text))</\(tag)>"
            }.joined()
        }
        body.append(
            "<table><thead><tr>\(cells(header, tag: "th"))</tr></thead><tbody>"
                + rows.map { "<tr>\(cells($0, tag: "td"))</tr>" }.joined() + "</tbody></table>")
    }

    public var html: String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>\(HTMLPage.escape(title))</title>
        <style>
        body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 64em; color: #1d1d1f; padding: 0 1em; }
        h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; }
        table { border-collapse: collapse; margin: 0.8em 0; }
        th, td { padding: 0.2em 0.7em; border-bottom: 1px solid #e4e4e4; text-align: left; }
        td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
        svg { display: block; margin: 0.6em 0 1.2em; }
        svg text { font: 12px system-ui, sans-serif; fill: #1d1d1f; }
        .images { display: flex; flex-wrap: wrap; gap: 1em; }
        figure { margin: 0; border: 1px solid #ddd; padding: 0.5em; }
        figure img { image-rendering: pixelated; width: 112px; height: 112px; display: block; }
        figcaption { font-size: 12px; }
        </style>
        </head>
        <body>
        <h1>\(HTMLPage.escape(title))</h1>
        \(body.joined(separator: "\n"))
        </body>
        </html>

        """
    }
}

extension HTMLPage {
    /// Text made safe inside HTML and SVG.
    public static func escape(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}

/// Horizontal bar charts as inline SVG.
public enum BarChart {
    /// One row: a label and one value per series (nil: no bar).
    public struct Row: Sendable {
        public var label: String
        public var values: [Double?]

        public init(label: String, values: [Double?]) {
            self.label = label
            self.values = values
        }
    }

    public static let palette = ["#3b6fb6", "#e08a2c", "#5a9e4b", "#b04a5a"]

    /// Rows of bars, one per series, scaled to the largest magnitude; negative values extend left of
    /// the axis (a chart with negative values centres it). `format` writes each value's label.
    public static func svg(
        title: String, series: [String], rows: [Row], format: (Double) -> String = { String(format: "%.3g", $0) }
    ) -> String {
        // Labels of about 6.6 px per character at 12 px, within a page of 840 px.
        let labelWidth = min(Double(rows.map(\.label.count).max() ?? 0) * 6.6 + 12, 360)
        let plotWidth = 750 - labelWidth
        let valueWidth = 90.0
        let bar = 14.0
        let rowHeight = bar * Double(max(series.count, 1)) + 8
        let top = 40.0
        let values = rows.flatMap { $0.values.compactMap { $0 } }.filter(\.isFinite)
        let hasNegative = values.contains { $0 < 0 }
        let largest = max(values.map(abs).max() ?? 0, .leastNonzeroMagnitude)
        let axis = labelWidth + (hasNegative ? plotWidth / 2 : 0)
        let scale = (hasNegative ? plotWidth / 2 : plotWidth) / largest
        let height = top + rowHeight * Double(rows.count) + 10
        var svg = [
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(labelWidth + plotWidth + valueWidth))\" "
                + "height=\"\(Int(height))\" role=\"img\" aria-label=\"\(HTMLPage.escape(title))\">",
            "<text x=\"0\" y=\"14\" style=\"font-weight:600\">\(HTMLPage.escape(title))</text>",
        ]
        var legend = labelWidth
        for (index, name) in series.enumerated() where series.count > 1 {
            svg.append(
                "<rect x=\"\(legend)\" y=\"22\" width=\"10\" height=\"10\" fill=\"\(palette[index % palette.count])\"/>"
                    + "<text x=\"\(legend + 14)\" y=\"31\">\(HTMLPage.escape(name))</text>")
            legend += 20 + Double(name.count) * 7
        }
        for (index, row) in rows.enumerated() {
            let y = top + Double(index) * rowHeight
            svg.append(
                "<text x=\"\(labelWidth - 6)\" y=\"\(y + rowHeight / 2 + 2)\" text-anchor=\"end\">"
                    + "\(HTMLPage.escape(row.label))</text>")
            for (slot, value) in row.values.enumerated() {
                guard let value, value.isFinite else { continue }
                let width = abs(value) * scale
                let x = value < 0 ? axis - width : axis
                let barY = y + 4 + Double(slot) * bar
                svg.append(
                    "<rect x=\"\(x)\" y=\"\(barY)\" width=\"\(max(width, 0.5))\" height=\"\(bar - 2)\" "
                        + "fill=\"\(palette[slot % palette.count])\"><title>\(HTMLPage.escape(row.label)): "
                        + "\(HTMLPage.escape(format(value)))</title></rect>")
                let textX = value < 0 ? x - 4 : x + width + 4
                svg.append(
                    "<text x=\"\(textX)\" y=\"\(barY + bar - 4)\" text-anchor=\"\(value < 0 ? "end" : "start")\" "
                        + "style=\"font-size:11px\">\(HTMLPage.escape(format(value)))</text>")
            }
        }
        svg.append(
            "<line x1=\"\(axis)\" y1=\"\(top - 2)\" x2=\"\(axis)\" y2=\"\(height - 8)\" stroke=\"#888\" stroke-width=\"1\"/>"
        )
        svg.append("</svg>")
        return svg.joined(separator: "\n")
    }
}

/// An image as a 24-bit BMP data URI (every browser draws BMP; no compressor needed).
public enum BitmapImage {
    /// `values` holds `height × width × channels` samples (HWC); each image is stretched from its own
    /// smallest to largest value. One channel is grey, three are RGB, others show their first.
    public static func dataURI(_ values: ArraySlice<Float>, height: Int, width: Int, channels: Int) -> String {
        let finite = values.filter(\.isFinite)
        let low = finite.min() ?? 0
        let span = max((finite.max() ?? 1) - low, .leastNonzeroMagnitude)
        let rowBytes = (width * 3 + 3) / 4 * 4
        let pixelBytes = rowBytes * height
        var bytes: [UInt8] = [0x42, 0x4D]
        func append32(_ value: Int) {
            for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8((value >> shift) & 0xFF)) }
        }
        func append16(_ value: Int) { bytes += [UInt8(value & 0xFF), UInt8(value >> 8)] }
        append32(54 + pixelBytes)
        append32(0)
        append32(54)
        append32(40)
        append32(width)
        append32(height)
        append16(1)
        append16(24)
        append32(0)
        append32(pixelBytes)
        append32(2835)
        append32(2835)
        append32(0)
        append32(0)
        let base = values.startIndex
        func sample(_ y: Int, _ x: Int, _ c: Int) -> UInt8 {
            let value = values[base + (y * width + x) * channels + min(c, channels - 1)]
            guard value.isFinite else { return 0 }
            return UInt8(max(0, min(255, ((value - low) / span * 255).rounded())))
        }
        for y in (0..<height).reversed() {  // BMP rows run bottom-up
            var written = 0
            for x in 0..<width {
                let (red, green, blue) =
                    channels == 3
                    ? (sample(y, x, 0), sample(y, x, 1), sample(y, x, 2))
                    : (sample(y, x, 0), sample(y, x, 0), sample(y, x, 0))
                bytes += [blue, green, red]
                written += 3
            }
            bytes += [UInt8](repeating: 0, count: rowBytes - written)
        }
        return "data:image/bmp;base64," + Data(bytes).base64EncodedString()
    }
}
