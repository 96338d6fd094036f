/// A plain-text table: the first column left-aligned, the others right-aligned, as numbers read best.
struct TextTable {
    var header: [String]
    var rows: [[String]] = []
    /// Rows after a rule, such as totals.
    var footer: [[String]] = []

    func render() -> String {
        let all = [header] + rows + footer
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { column, cell in
                let padding = String(repeating: " ", count: widths[column] - cell.count)
                return column == 0 ? cell + padding : padding + cell
            }.joined(separator: "  ")
        }
        let rule = String(repeating: "-", count: widths.reduce(0, +) + 2 * (widths.count - 1))
        var lines = [line(header), rule] + rows.map(line)
        if !footer.isEmpty { lines += [rule] + footer.map(line) }
        return lines.joined(separator: "\n")
    }
}

extension Int {
    /// The number with thousands separated by commas, as `1,187,200`.
    var grouped: String {
        let digits = String(magnitude)
        var groups: [Substring] = []
        var end = digits.endIndex
        while end > digits.startIndex {
            let start = digits.index(end, offsetBy: -3, limitedBy: digits.startIndex) ?? digits.startIndex
            groups.insert(digits[start..<end], at: 0)
            end = start
        }
        return (self < 0 ? "-" : "") + groups.joined(separator: ",")
    }
}
