import CapsNetEdge
import Foundation
import Testing

/// The largest absolute difference between two tensors, and the reference's range (max - min).
func difference(_ actual: Tensor, _ expected: Tensor) -> (maxAbs: Float, range: Float) {
    let maxAbs = zip(actual.values, expected.values).map { abs($0 - $1) }.max() ?? 0
    let range = expected.range.map { $0.upperBound - $0.lowerBound } ?? 0
    return (maxAbs, range)
}

func tensor(_ path: String) throws -> Tensor {
    let array = try NumPyArray(contentsOf: path)
    return Tensor(shape: array.shape, values: array.floats)
}

@Suite("Float reference")
struct FloatReferenceTests {
    @Test(
        "agrees with Keras 3's own outputs on the fixtures", .needsFixtures,
        arguments: [
            "tiny_sequential.keras", "tiny_sequential.h5", "tiny_functional.keras", "tiny_functional.h5",
            "tiny_leaky.keras", "tiny_leaky.h5", "tiny_bn_valid.keras", "tiny_bn_valid.h5", "tiny_bn_same.keras",
            "tiny_bn_same.h5",
        ])
    func matchesKeras(file: String) throws {
        let stem = file.split(separator: ".")[0]
        let model = try CapsNetModel(contentsOf: TestData.fixture(file))
        let input = try tensor(TestData.fixture("\(stem)_input.npy"))
        let expected = try tensor(TestData.fixture("\(stem)_output.npy"))
        let output = try FloatReference(model).outputs(input)
        #expect(output.shape == expected.shape)
        let (maxAbs, range) = difference(output, expected)
        #expect(maxAbs <= 1e-4 * range, "max abs difference \(maxAbs), range \(range)")
    }

    @Test("the trace holds every intermediate with its documented shape, consistent with the output", .needsFixtures)
    func traceShapes() throws {
        let model = try CapsNetModel(contentsOf: TestData.fixture("tiny_sequential.keras"))
        let input = try tensor(TestData.fixture("tiny_sequential_input.npy"))
        let reference = FloatReference(model)
        let trace = try reference.trace(input)
        #expect(trace.output == (try reference.outputs(input)))
        #expect(trace.layers.map(\.output.shape) == model.layers.map { [3] + $0.outputShape })
        #expect(trace.layers[0].preActivation?.shape == [3, 10, 10, 4])  // fused ReLU
        #expect(trace.layers[1].preActivation?.shape == [3, 32, 4])  // before squash
        let routing = try #require(trace.layers[2].routing)
        #expect(routing.predictions.shape == [3, 3, 32, 4])
        #expect(routing.iterations.count == 3)
        #expect(routing.iterations[0].logits == Tensor(zeros: [3, 3, 32]))
        for (index, iteration) in routing.iterations.enumerated() {
            #expect(iteration.couplings.shape == [3, 3, 32])
            #expect(iteration.preSquash.shape == [3, 3, 4])
            #expect(iteration.output.shape == [3, 3, 4])
            #expect((iteration.agreement == nil) == (index == 2))
            // Each input capsule's couplings sum to one over the output capsules.
            for image in 0..<3 {
                for i in 0..<32 {
                    let sum = (0..<3).map { iteration.couplings.values[(image * 3 + $0) * 32 + i] }.reduce(0, +)
                    #expect(abs(sum - 1) < 1e-5)
                }
            }
        }
        // The logits of iteration r + 1 are those of r plus its agreement.
        for index in 0..<2 {
            let next = routing.iterations[index].logits.values.enumerated().map {
                $1 + (routing.iterations[index].agreement?.values[$0] ?? 0)
            }
            #expect(next == routing.iterations[index + 1].logits.values)
        }
        #expect(routing.iterations[2].output == trace.layers[2].output)
    }

    @Test(
        "an image's output does not depend on the batch it is in or how the batch is split over cores", .needsFixtures)
    func batchIndependent() throws {
        let model = try CapsNetModel(contentsOf: TestData.fixture("tiny_functional.keras"))
        let input = try tensor(TestData.fixture("tiny_functional_input.npy"))
        let reference = FloatReference(model)
        let batch = try reference.outputs(input)
        for image in 0..<3 {
            #expect(try reference.outputs(input.batch(image..<image + 1)) == batch.batch(image..<image + 1))
        }
    }

    @Test("a batch of the wrong image shape is refused", .needsFixtures)
    func wrongShape() throws {
        let model = try CapsNetModel(contentsOf: TestData.fixture("tiny_sequential.keras"))
        #expect(throws: InputShapeError(expected: [12, 12, 1], actual: [12, 11, 1])) {
            try FloatReference(model).outputs(Tensor(zeros: [2, 12, 11, 1]))
        }
    }
}

@Suite("Float reference against TensorFlow on MNIST", .needsSharedData)
struct GoldenTests {
    static let golden = "golden/mnist_first100"

    @Test("every intermediate of the first 100 test images is within 1e-4 of its range")
    func firstHundred() throws {
        let model = try CapsNetModel(contentsOf: TestData.mnistModel)
        let input = try tensor(TestData.shared("\(Self.golden)/input.npy"))
        let trace = try FloatReference(model).trace(input)
        let conv = trace.layers[0]
        let checks: [(String, Tensor?)] = [
            ("conv2d_preact", conv.output),
            ("conv_relu", trace.layers[1].output),
            ("primary_caps_presquash", trace.layers[2].preActivation),
            ("primary_caps_squash", trace.layers[2].output),
            ("capsule_out", trace.layers[3].output),
            ("lengths", trace.layers[4].output),
        ]
        for (name, actual) in checks {
            let expected = try tensor(TestData.shared("\(Self.golden)/\(name).npy"))
            let actual = try #require(actual)
            #expect(actual.shape == expected.shape, "\(name)")
            let (maxAbs, range) = difference(actual, expected)
            print("golden \(name): max abs difference \(maxAbs) (\(maxAbs / range) of the range \(range))")
            #expect(maxAbs <= 1e-4 * range, "\(name): max abs difference \(maxAbs), range \(range)")
        }
    }

    @Test("the MNIST reader gives TensorFlow's input: pixel/255 as 28×28×1 float32")
    func mnistInput() throws {
        let dataset = try Dataset(TestData.shared("mnist") + "@0-99")
        let expected = try tensor(TestData.shared("\(Self.golden)/input.npy"))
        #expect(dataset.images == expected)
        let labels = try NumPyArray(contentsOf: TestData.shared("\(Self.golden)/labels.npy"))
        #expect(dataset.labels == labels.values.map { Int($0) })
    }

    @Test("all 10,000 test images: the same class as TensorFlow, 99.01% top-1", .datasetScale)
    func allLengths() throws {
        let model = try CapsNetModel(contentsOf: TestData.mnistModel)
        let dataset = try Dataset(TestData.shared("mnist"))
        let reference = FloatReference(model)
        let expected = try tensor(TestData.shared("golden/mnist_lengths.npy"))
        var lengths: [Float] = []
        for start in stride(from: 0, to: dataset.count, by: 500) {
            let (batch, _) = try dataset.batch(start..<start + 500, for: model)
            lengths += try reference.outputs(batch).values
        }
        let actual = Tensor(shape: [dataset.count, 10], values: lengths)
        #expect(Evaluation.classes(of: actual) == Evaluation.classes(of: expected))
        let (maxAbs, range) = difference(actual, expected)
        print("golden mnist_lengths: max abs difference \(maxAbs) over 10,000 images (range \(range))")
        #expect(maxAbs <= 1e-4 * range)
        let evaluation = Evaluation(predictions: Evaluation.classes(of: actual), labels: dataset.labels)
        #expect(evaluation.correct == 9_901)
        let labels = try NumPyArray(contentsOf: TestData.shared("golden/mnist_labels.npy"))
        #expect(dataset.labels == labels.values.map { Int($0) })
    }

    /// The float example of the README's "Using the library from Swift", with the values it shows.
    @Test("the README's float reference example prints what the README says", .datasetScale)
    func readmeExample() throws {
        let model = try CapsNetModel(contentsOf: TestData.mnistModel)
        let reference = FloatReference(model)
        let scored = try Dataset(TestData.shared("mnist") + "@1000-9999")
        #expect(String(describing: try reference.evaluate(scored).top1) == "99.03333333333333")
        let (images, _) = try scored.batch(0..<10, for: model)
        let trace = try reference.trace(images)
        #expect(String(describing: trace.layers[3].routing?.iterations.count) == "Optional(3)")
    }
}
