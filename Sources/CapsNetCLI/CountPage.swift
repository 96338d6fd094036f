import CapsNetEdge
import Foundation

/// `count`'s page: per target, the instructions of each layer (and of each routing phase, when
/// counted) beside their lower bound, and every target's total.
enum CountPage {
    static func html(_ results: [TargetCount], model: String, image: String) -> String {
        var page = HTMLPage(title: "Instructions per layer: \((model as NSString).lastPathComponent)")
        let first = results.first
        page.paragraph(
            "\(model), one inference of \(image), -O2 (gcc; clang for rv32imcv and cv32e40p), "
                + (first?.portableOnly == true ? "portable C only" : "fast paths where the core has them")
                + ", routing predictions: \(first?.routing ?? ""). Executed instructions counted by QEMU's plugin: "
                + "exact and repeatable, but instructions, not cycles; on the CV32E40P (Verilator model of its RTL, "
                + "single-cycle memory) the firmware reads the core's own cycle counter, and its charts show cycles. "
                + "The lower bound is the MACs divided by the most MACs one instruction of the core does.")
        if results.count > 1 {
            page.raw(
                BarChart.svg(
                    title: "Instructions per inference", series: ["instructions", "lower bound"],
                    rows: results.map {
                        BarChart.Row(label: $0.target, values: [Double($0.instructions), Double($0.lowerBound)])
                    }, format: grouped))
        }
        for result in results {
            page.heading(result.target + (result.cores > 1 ? ", \(result.cores) cores" : ""))
            let unit = result.cycles == nil ? "instructions" : "cycles"
            var rows: [BarChart.Row] = []
            for layer in result.layers {
                rows.append(
                    BarChart.Row(
                        label: layer.name,
                        values: [Double(layer.cycles ?? layer.instructions), layer.macs > 0 ? Double(layer.lowerBound) : nil]))
                for phase in layer.phases ?? [] {
                    rows.append(
                        BarChart.Row(
                            label: "\(layer.name): \(phase.phase)",
                            values: [
                                Double(phase.cycles ?? phase.instructions), phase.macs > 0 ? Double(phase.lowerBound) : nil,
                            ]))
                }
            }
            page.raw(
                BarChart.svg(
                    title: "\(result.target): \(unit) per layer"
                        + (rows.count > result.layers.count ? " and phase" : ""),
                    series: [unit, "lower bound"], rows: rows, format: grouped))
            if let cycles = result.cycles, let milliseconds = result.milliseconds {
                page.paragraph(
                    "\(cycles.grouped) cycles (" + String(format: "%.2f", result.cyclesPerMac ?? 0) + " per MAC): "
                        + String(format: "%.2f ms at %g MHz", milliseconds, result.clockMhz)
                        + ", computed from the simulated cycles with single-cycle memory.")
            }
            page.paragraph(
                "Total \(result.instructions.grouped) instructions for \(result.macs.grouped) MACs ("
                    + String(format: "%.2f", result.instructionsPerMac) + " per MAC); firmware flash "
                    + "\(result.flashBytes.grouped) B, RAM \(result.ramBytes.grouped) B of which the arena "
                    + "\(result.arenaBytes.grouped) B.")
        }
        return page.html
    }

    private static func grouped(_ value: Double) -> String { Int(value).grouped }
}
