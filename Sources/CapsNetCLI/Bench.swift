import ArgumentParser
import CapsNetEdge
import Foundation

/// Times the float reference at batch 1 and at a large batch.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time the float32 reference (ms/image at batch 1 and 100), or a quantized model's int8 engine.",
        discussion: """
            With a quantized model (.capsnet), times the int8 engine on one image at a time, on one thread \
            and on a team of --threads threads that share every image PULP-style (the convolutions by output \
            rows, the capsule layer by input capsules, a barrier after each step), and prints the speed-up, \
            measured in this one run: 10 passes over the images run each image on the two in turn, and each \
            keeps every image's fastest pass; ms/image is the mean of those over the images. The median of \
            all runs is printed beside it.

            Runs the first --images images of DATASET once as a warm-up, then times them at each batch size \
            (wall clock on this machine). One image runs on one core; a batch is split over all cores. It \
            prints only what it measured in this run.
            """
    )

    @OptionGroup var input: ModelAndData

    @Option(help: "How many images to time at each batch size.")
    var images = 1_000

    @Option(help: "Threads for one image, with a quantized model.")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "What the capsule layer keeps of its predictions: keep (fastest) or recompute (lean memory).")
    var routing: RoutingMemory = .keepPredictions

    func validate() throws {
        guard images >= 1 else { throw ValidationError("--images must be at least 1") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        if QuantizedModelFile.isQuantizedModel(input.model) {
            try benchInt8()
            return
        }
        let (reference, dataset) = try input.load()
        let all = try dataset.images(for: reference.model)
        let count = min(images, dataset.count)
        let batch = all.batch(0..<count)

        _ = try reference.outputs(batch)  // warm-up: page in the weights and buffers
        var results: [BenchResult.Timing] = []
        for batchSize in [1, 100] {
            let clock = ContinuousClock()
            let start = clock.now
            for first in stride(from: 0, to: count, by: batchSize) {
                _ = try reference.outputs(batch.batch(first..<min(first + batchSize, count)))
            }
            let seconds = (clock.now - start).seconds
            results.append(.init(batchSize: batchSize, msPerImage: 1000 * seconds / Double(count)))
        }
        let result = BenchResult(model: input.model, images: count, float32: results)
        if input.json {
            print(try result.jsonString())
            return
        }
        print("float32 reference, \(count.grouped) images of \(input.data)\n")
        var table = TextTable(header: ["batch", "ms/image", "images/s"])
        for timing in results {
            table.rows.append([
                String(timing.batchSize), String(format: "%.3f", timing.msPerImage),
                Int((1000 / timing.msPerImage).rounded()).grouped,
            ])
        }
        print(table.render())
    }
}

/// What `bench --json` prints.
struct BenchResult: Encodable {
    struct Timing: Encodable {
        var batchSize: Int
        var msPerImage: Double
    }

    var model: String
    var images: Int
    var float32: [Timing]
}

extension Bench {
    /// Passes over the images in the int8 timing: each image runs once per pass on each configuration.
    static let int8Passes = 10

    /// One image at a time through the int8 engine, on one thread and on `threads`.
    func benchInt8() throws {
        let engine = try Int8Engine(QuantizedModelFile.read(input.model), routing: routing)
        let dataset = try Dataset(input.data)
        let count = min(images, dataset.count)
        let batch = try dataset.batch(0..<count, inputShape: engine.model.inputShape).images
        let size = engine.model.inputShape.reduce(1, *)
        let inputs = (0..<count).map { engine.quantizeInput(batch.values[$0 * size..<($0 + 1) * size]) }
        let configurations = [1, threads]
        let runners = configurations.map { engine.runner(on: CoreTeam(cores: $0)) }
        for runner in runners { _ = try runner.run(inputs[0]) }  // warm-up
        // Every image runs once on each configuration in turn, in each pass over the images, and each
        // configuration keeps each image's fastest run. This shared machine's cores slow down for
        // stretches at a time: runs seconds apart see a core in different states, and the two
        // configurations of one image in one pass see it in the same state.
        var runs = [[Double]](repeating: [], count: runners.count)
        var fastest = [[Double]](repeating: [Double](repeating: .infinity, count: count), count: runners.count)
        let clock = ContinuousClock()
        let progress = ProgressBar(total: Self.int8Passes * count, label: "timing 1 and \(threads) threads")
        for pass in 0..<Self.int8Passes {
            for (image, input) in inputs.enumerated() {
                progress.update(pass * count + image)
                for (index, runner) in runners.enumerated() {
                    let start = clock.now
                    _ = try runner.run(input)
                    let seconds = (clock.now - start).seconds
                    runs[index].append(seconds)
                    fastest[index][image] = min(fastest[index][image], seconds)
                }
            }
        }
        progress.finish()
        let timings = configurations.indices.map { index in
            Int8Timing(
                threads: configurations[index], msPerImage: 1000 * fastest[index].reduce(0, +) / Double(count),
                medianMsPerRun: 1000 * runs[index].sorted()[runs[index].count / 2],
                arenaBytes: runners[index].plan.bytes)
        }
        let speedUp = timings[0].msPerImage / timings[1].msPerImage
        if input.json {
            print(
                try Int8BenchResult(
                    model: input.model, images: count, routing: routing.rawValue, int8: timings, speedUp: speedUp
                ).jsonString())
            return
        }
        print(
            "int8 engine, one image at a time, \(count.grouped) images of \(input.data), "
                + "routing predictions: \(routing.rawValue); each image's fastest of \(Self.int8Passes) passes, "
                + "the configurations taking turns image by image\n")
        var table = TextTable(header: ["threads", "ms/image", "speed-up", "median run (ms)", "arena (B)"])
        for timing in timings {
            table.rows.append([
                String(timing.threads), String(format: "%.3f", timing.msPerImage),
                String(format: "%.2fx", timings[0].msPerImage / timing.msPerImage),
                String(format: "%.3f", timing.medianMsPerRun), timing.arenaBytes.grouped,
            ])
        }
        print(table.render())
    }
}

struct Int8Timing: Encodable {
    var threads: Int
    /// The mean over the images of each image's fastest run.
    var msPerImage: Double
    /// The median of all runs, every image's included.
    var medianMsPerRun: Double
    var arenaBytes: Int
}

/// What `bench --json` prints for a quantized model.
struct Int8BenchResult: Encodable {
    var model: String
    var images: Int
    /// `keep` or `recompute`.
    var routing: String
    var int8: [Int8Timing]
    /// One thread's time over `threads` threads' time, in this run.
    var speedUp: Double
}

extension RoutingMemory: ExpressibleByArgument {}
