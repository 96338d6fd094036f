import ArgumentParser
import CapsNetEdge
import Foundation

/// Counts the instructions an exported model executes on emulated microcontrollers.
struct Count: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "count",
        abstract:
            "Count the instructions a quantized model executes on emulated Cortex-M and RISC-V cores, and the cycles on the CV32E40P RTL.",
        discussion: """
            Exports MODEL with the first image of --data, builds it for each --target with the cross \
            compilers (gcc -O2; the fast paths where the core has them, unless --portable-only), runs one \
            inference in QEMU under the instruction-counting plugin (CSources/firmware/qemu-plugin), and \
            prints per layer: executed instructions, MACs and \
            instructions per MAC, with the firmware's flash (text + data) and RAM (data + bss) from size. \
            These are instruction counts from QEMU, exact and repeatable, not cycles. The output must also \
            equal the host engine's. --routing recompute counts lean-memory routing. --phases splits each \
            routing layer into its phases (predictions, agreements and logits, softmax, weighted sums, squash), \
            marked inside the kernels. Beside each count is the core's lower bound: the MACs divided by the \
            most MACs one instruction of the core can do (1 for the Cortex-M3's MLA, 2 for SMLAD, 16 for \
            Helium's VMLADAVA on int8, VLEN/8 = 16 for RVV at VLEN 128, 0.5 for rv32imc's MUL and ADD, 8 for \
            NEON's SMLAL on aarch64, 4 for the CV32E40P's CV.SDOTSP.B). aarch64 is a static Linux program in \
            QEMU's user mode, not a board. cv32e40p (named only, not in the default: it needs the core's RTL in \
            ../shared/cv32e40p) is the OpenHW CV32E40P core's RTL under Verilator, built with the CORE-V \
            extensions: there the firmware reads the core's own counters, so each layer gets exact cycles \
            (mcycle) beside its retired instructions (minstret), with a single-cycle memory; --cores N runs \
            it as a cluster of N cores (NAME_run_split) and --clock-mhz converts cycles to time. Writes the \
            same figures as charts to --chart (count.html beside MODEL). Needs the packages of .ci/install-deps.
            """
    )

    /// The QEMU targets, counted when no --target is named.
    static let qemuTargets = [
        "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55", "rv32imc", "rv32imcv", "aarch64",
    ]
    /// The cores whose firmware reads its own cycle counters (a Verilator model of the RTL).
    static let cycleTargets = ["cv32e40p"]
    static let allTargets = qemuTargets + cycleTargets

    /// The most int8 MACs one instruction of each core does, whatever path the build takes: MLA (one),
    /// SMLAD (two), Helium's VMLADAVA (16 lanes), RVV at VLEN 128 (16 int8 lanes), rv32imc's MUL + ADD,
    /// ARMv8-A NEON's SMLAL (eight int8 lanes; no SDOT before ARMv8.2's dot product extension).
    static let macsPerInstruction: [String: Double] = [
        "cortex-m3": 1, "cortex-m4": 2, "cortex-m7": 2, "cortex-m33": 2, "cortex-m55": 16, "rv32imc": 0.5,
        "rv32imcv": 16, "aarch64": 8, "cv32e40p": 4,
    ]

    @Argument(help: "The quantized model (.capsnet).")
    var model: String

    @Option(help: "The image to run: PATH or PATH@START-END (its first image).")
    var data: String

    @Option(
        help: "A target (repeatable): \(allTargets.joined(separator: ", ")). Default: all but \(cycleTargets.joined(separator: ", ")).")
    var target: [String] = []

    @Option(help: "Cores of the CV32E40P cluster, 1 to 8 (the model runs split across them; only with --target cv32e40p).")
    var cores = 1

    @Option(help: "The clock at which cycles are shown as time (GAP-8's cluster runs at 170 MHz).")
    var clockMhz = 170.0

    @Option(help: "The firmware folder (CSources/firmware of this package).")
    var firmware = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("CSources/firmware").path

    @Flag(help: "Build the portable C path even where a fast path exists (-DCAPSNET_PORTABLE_ONLY), to compare.")
    var portableOnly = false

    @Option(help: "What the capsule layer keeps of its predictions: keep or recompute (lean memory).")
    var routing: RoutingMemory = .keepPredictions

    @Flag(
        help: "Split each routing layer's count into its phases (marked inside the kernels, a few instructions each).")
    var phases = false

    @Flag(help: "Print JSON instead of tables.")
    var json = false

    @Option(
        help:
            "The page of charts to write (instructions per layer and phase, per target). Default: count.html beside MODEL."
    )
    var chart: String?

    /// Where the page goes.
    var chartPath: String {
        chart ?? ((model as NSString).deletingLastPathComponent as NSString).appendingPathComponent("count.html")
    }

    func validate() throws {
        for name in target where !Self.allTargets.contains(name) {
            throw ValidationError("unknown target '\(name)'; choose from \(Self.allTargets.joined(separator: ", "))")
        }
        guard (1...8).contains(cores) else { throw ValidationError("--cores must be 1 to 8, not \(cores)") }
        guard cores == 1 || (!target.isEmpty && target.allSatisfy(Self.cycleTargets.contains)) else {
            throw ValidationError("--cores \(cores) needs --target cv32e40p alone: only its testbench is a cluster")
        }
        guard clockMhz > 0, clockMhz.isFinite else { throw ValidationError("--clock-mhz must be positive") }
        guard FileManager.default.fileExists(atPath: firmware + "/Makefile") else {
            throw ValidationError("no firmware Makefile in \(firmware); give --firmware path/to/CSources/firmware")
        }
    }

    func run() throws {
        let quantized = try QuantizedModelFile.read(model)
        let engine = try Int8Engine(quantized, routing: routing)
        let dataset = try Dataset(data)
        let image = try dataset.batch(0..<1, inputShape: quantized.inputShape).images
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("capsnet-count-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        let exportDir = work.appendingPathComponent("export")
        try FileManager.default.createDirectory(at: exportDir, withIntermediateDirectories: true)
        let exporter = try FirmwareExporter(quantized, name: "counted_model", routing: routing, cores: cores)
        var files = exporter.files()
        files.merge(
            exporter.testDataFiles(
                inputs: [engine.quantizeInput(image.values[...])], expected: try engine.outputs(image))
        ) { $1 }
        for (name, contents) in files {
            try Data(contents.utf8).write(to: exportDir.appendingPathComponent(name))
        }

        // The page's folder must be writable before minutes of builds and emulation.
        guard
            FileManager.default.isWritableFile(
                atPath: (chartPath as NSString).deletingLastPathComponent.isEmpty
                    ? "." : (chartPath as NSString).deletingLastPathComponent)
        else {
            throw CommandFailure("\(chartPath): cannot write the chart page there; name another with --chart FILE")
        }
        var results: [TargetCount] = []
        for name in target.isEmpty ? Self.qemuTargets : target {
            let build = work.appendingPathComponent(name)
            let flags = (portableOnly ? ["-DCAPSNET_PORTABLE_ONLY"] : []) + (phases ? ["-DCAPSNET_PROFILE_PHASES"] : [])
            let status = try runMake(
                [
                    "-s", "-C", firmware, "TARGET=\(name)", "BUILD=\(build.path)", "EXPORT_DIR=\(exportDir.path)",
                    "MODEL=counted_model", "EXTRA_CFLAGS=\(flags.joined(separator: " "))", "count",
                ] + (Self.cycleTargets.contains(name) ? ["CORES=\(cores)"] : []))
            // The boards' memories are the emulated boards' own (the Cortex-M55's 512 KiB ITCM is the
            // smallest): a model too big for one is a fact about the board, not a failed run.
            if status.code != 0,
                let overflow = status.output.split(separator: "\n").first(where: {
                    $0.contains("overflowed by") || $0.contains("overlaps the eight cores' stacks")
                })
            {
                let detail = overflow.split(separator: ":").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
                throw CommandFailure(
                    "\(name): the firmware does not fit the emulated board's memory (\(detail)); "
                        + "the model's weights alone are \(quantized.flashBytes) B; leave this target out or count on one with more"
                )
            }
            // The firmware Makefile's own one-line errors (no RTL for the CV32E40P, no Verilator).
            if status.code != 0, let line = status.output.split(separator: "\n").first(where: { $0.hasPrefix("error: ") }) {
                throw CommandFailure("\(name): \(line.dropFirst("error: ".count))")
            }
            guard status.code == 0, status.output.contains("count: output identical to the host") else {
                throw CommandFailure("\(name): the firmware run failed or differs from the host:\n\(status.output)")
            }
            let regions = try String(contentsOf: build.appendingPathComponent("count.txt"), encoding: .utf8)
            let size = try String(contentsOf: build.appendingPathComponent("size.txt"), encoding: .utf8)
            var count = try TargetCount(
                target: name, model: quantized, regions: regions, size: size,
                macsPerInstruction: (Self.macsPerInstruction[name] ?? 1) * Double(cores))
            if count.cycles != nil {
                count.cores = cores
                count.clockMhz = clockMhz
                count.milliseconds = Double(count.cycles ?? 0) / (clockMhz * 1000)
            }
            count.portableOnly = portableOnly
            count.routing = routing.rawValue
            count.arenaBytes = exporter.arenaBytes(routing: routing)
            results.append(count)
        }
        do {
            try Data(CountPage.html(results, model: model, image: data).utf8).write(
                to: URL(fileURLWithPath: chartPath), options: .atomic)
        } catch {
            throw CommandFailure("\(chartPath): cannot write the chart page: \(error.localizedDescription)")
        }
        if json {
            print(try results.jsonString())
            return
        }
        for result in results {
            let path = portableOnly ? "portable C only" : "fast paths where the core has them"
            let counted = result.cycles == nil
                ? "executed instructions (QEMU count, not cycles)"
                : "cycles (mcycle) and retired instructions (minstret) of the CV32E40P RTL under Verilator, "
                    + (result.cores > 1 ? "a cluster of \(result.cores) cores (core 0's counters)" : "one core")
                    + ", single-cycle memory"
            let compiler = Self.cycleTargets.contains(result.target) || result.target == "rv32imcv" ? "clang" : "gcc"
            print(
                "\(result.target): \(counted), one inference, \(compiler) -O2, \(path), "
                    + "routing predictions: \(routing.rawValue)\n")
            let hasCycles = result.cycles != nil
            var table = TextTable(
                header: ["layer", "class", result.cores > 1 ? "instructions (core 0)" : "instructions"]
                    + (hasCycles ? ["cycles"] : []) + [
                    "MACs", hasCycles ? "cycles/MAC" : "instructions/MAC", "lower bound",
                ])
            func row(_ name: String, _ className: String, _ instructions: Int, _ cycles: Int?, _ macs: Int, _ bound: Int)
                -> [String]
            {
                [name, className, instructions.grouped] + (hasCycles ? [(cycles ?? 0).grouped] : []) + [
                    macs.grouped,
                    macs > 0 ? String(format: "%.2f", Double(cycles ?? instructions) / Double(macs)) : "",
                    macs > 0 ? bound.grouped : "",
                ]
            }
            for layer in result.layers {
                table.rows.append(
                    row(layer.name, layer.className, layer.instructions, layer.cycles, layer.macs, layer.lowerBound))
                for phase in layer.phases ?? [] {
                    table.rows.append(
                        row("  " + phase.phase, "", phase.instructions, phase.cycles, phase.macs, phase.lowerBound))
                }
            }
            table.footer.append(row("total", "", result.instructions, result.cycles, result.macs, result.lowerBound))
            print(table.render())
            print(
                "lower bound: MACs / \(Self.macsPerInstruction[result.target].map { String(format: "%g", $0) } ?? "?") "
                    + (result.cores > 1 ? "/ \(result.cores) cores " : "")
                    + "(the most MACs one instruction of this core does)")
            if let milliseconds = result.milliseconds {
                print(
                    String(format: "time at %g MHz: %.2f ms, computed from the simulated cycles ", result.clockMhz, milliseconds)
                        + "(single-cycle memory, no bank conflicts, no instruction cache misses)")
            }
            print(
                "firmware: flash \(result.flashBytes.grouped) B (text + data), RAM \(result.ramBytes.grouped) B (data + bss), "
                    + "of which the arena \(result.arenaBytes.grouped) B\n"
            )
        }
        print("Wrote the charts to \(chartPath).")
    }

    private func runMake(_ arguments: [String]) throws -> (code: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["make"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
}

/// One target's counts.
struct TargetCount: Encodable {
    struct LayerCount: Encodable {
        var name: String
        var className: String
        var instructions: Int
        var macs: Int
        /// MACs divided by the most MACs one instruction of the core does.
        var lowerBound: Int
        /// The core's cycles, where the firmware reads its cycle counter (cv32e40p).
        var cycles: Int?
        /// A routing layer's phases, when the kernels marked them (`--phases`).
        var phases: [PhaseCount]?
    }

    struct PhaseCount: Encodable {
        var phase: String
        var instructions: Int
        var macs: Int
        var lowerBound: Int
        var cycles: Int?
    }

    var target: String
    var portableOnly = false
    /// `keep` or `recompute`.
    var routing = RoutingMemory.keepPredictions.rawValue
    var arenaBytes = 0
    /// Cores of the cluster (cv32e40p).
    var cores = 1
    var layers: [LayerCount]
    var instructions: Int
    /// Cycles of one inference, cycles per MAC, and the time at `clockMhz`, where the core counts cycles.
    var cycles: Int?
    var cyclesPerMac: Double?
    var clockMhz = 0.0
    var milliseconds: Double?
    var macs: Int
    var instructionsPerMac: Double
    var lowerBound: Int
    var flashBytes: Int
    var ramBytes: Int

    /// From the plugin's "region <k> <count>" and "phase <k> <p> <count>" lines, each with the
    /// cycles after the count where the firmware counted them ("region <k> <instructions> <cycles>"),
    /// and `size`'s Berkeley output.
    init(target: String, model: QuantizedModel, regions: String, size: String, macsPerInstruction: Double) throws {
        var counts: [Int: (instructions: Int, cycles: Int?)] = [:]
        var phaseCounts: [Int: [Int: (instructions: Int, cycles: Int?)]] = [:]
        for line in regions.split(separator: "\n") {
            let fields = line.split(separator: " ").compactMap { Int($0) }
            if line.hasPrefix("region "), fields.count == 2 || fields.count == 3 {
                counts[fields[0]] = (fields[1], fields.count == 3 ? fields[2] : nil)
            }
            if line.hasPrefix("phase "), fields.count == 3 || fields.count == 4 {
                phaseCounts[fields[0], default: [:]][fields[1]] = (fields[2], fields.count == 4 ? fields[3] : nil)
            }
        }
        let counted = counts.values.contains { $0.cycles != nil }
        func bound(_ macs: Int) -> Int { Int((Double(macs) / macsPerInstruction).rounded(.up)) }
        layers = model.layers.enumerated().map { index, layer in
            let phaseMacs = layer.kind.phaseMacs(layer)
            let phases = phaseCounts[index].map { counted in
                RoutingPhase.allCases.compactMap { phase -> PhaseCount? in
                    let macs = phaseMacs[phase] ?? 0
                    let count = counted[phase.rawValue]
                    let instructions = count?.instructions ?? 0
                    return instructions == 0 && macs == 0
                        ? nil
                        : PhaseCount(
                            phase: phase.name, instructions: instructions, macs: macs, lowerBound: bound(macs),
                            cycles: count?.cycles)
                }
            }
            return LayerCount(
                name: layer.name, className: layer.className, instructions: counts[index]?.instructions ?? 0,
                macs: layer.macs, lowerBound: bound(layer.macs), cycles: counted ? counts[index]?.cycles ?? 0 : nil,
                phases: phases)
        }
        let sizes = size.split(separator: "\n").dropFirst().first?.split(separator: "\t").map {
            Int($0.trimmingCharacters(in: .whitespaces)) ?? 0
        }
        guard let sizes, sizes.count >= 3 else { throw CommandFailure("\(target): cannot read the firmware's size") }
        self.target = target
        instructions = layers.map(\.instructions).reduce(0, +)
        macs = layers.map(\.macs).reduce(0, +)
        instructionsPerMac = Double(instructions) / Double(max(macs, 1))
        if counted {
            let cycles = layers.map { $0.cycles ?? 0 }.reduce(0, +)
            self.cycles = cycles
            cyclesPerMac = Double(cycles) / Double(max(macs, 1))
        }
        lowerBound = bound(macs)
        flashBytes = sizes[0] + sizes[1]
        ramBytes = sizes[1] + sizes[2]
    }
}

/// A failure while running a command, with its message.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) { self.description = description }
}
