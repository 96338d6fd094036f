/// A kind of quantized layer, and everything the runtime does with it: its encoding in the
/// `.capsnet` file, its MACs, its arena needs, its int8 kernel call on one core or a share of a
/// core team, and the C an export emits for it (from which its flash bytes are counted).
///
/// The engine, the team runner, the arena planner, the model file and the exporter only go
/// through this interface. A new kind is one conforming type in `Layers/` and one line in
/// ``QuantizedLayerKinds/all``; the converter's `LayerKind` is its float side.
public protocol QuantizedLayerKind: Sendable, Equatable {
    /// Its operation tag in the `.capsnet` file; unique among the registered kinds.
    static var fileTag: UInt8 { get }
    /// The C function that runs it, for messages.
    static var kernelName: String { get }

    /// Reads the kind's fields, which follow the common layer fields in the file, and checks them
    /// against the layer's shapes, so that a model that decodes is one the engine can plan.
    static func decode(
        from reader: inout ModelFileReader, layer: QuantizedLayer.Header
    ) throws(QuantizedModelFileError.Reason) -> Self
    /// Writes the fields `decode` reads.
    func encode(to writer: inout ModelFileWriter)

    /// Multiply-accumulates of one inference.
    func macs(_ layer: QuantizedLayer) -> Int
    /// A routing layer's MACs by phase (they add up to ``macs(_:)``); empty for the other kinds.
    func phaseMacs(_ layer: QuantizedLayer) -> [RoutingPhase: Int]
    /// Its scratch on `cores` cores together, and whether it works in place.
    func arenaNeed(_ layer: QuantizedLayer, routing: RoutingMemory, cores: Int) -> ArenaNeed
    /// Whether every core of a team takes a share of it; otherwise core 0 runs it alone.
    var splitsOverCores: Bool { get }
    /// Runs the kernel, or this core's share of it.
    func run(_ call: KernelCall) -> capsnet_status
    /// The layer as C: its constants and its kernel call.
    func lower(_ layer: QuantizedLayer, _ context: LoweringContext) -> LoweredLayer
}

extension QuantizedLayerKind {
    public func phaseMacs(_ layer: QuantizedLayer) -> [RoutingPhase: Int] { [:] }

    /// Whether `other` is the same kind with the same values.
    public func isEqual(to other: any QuantizedLayerKind) -> Bool { (other as? Self) == self }
}

/// The registry of quantized layer kinds: the one place that lists them.
public enum QuantizedLayerKinds {
    public static let all: [any QuantizedLayerKind.Type] = [
        QuantizedConvolution.self, QuantizedReLU.self, QuantizedPrimaryCapsule.self, QuantizedCapsule.self,
        QuantizedLength.self, QuantizedReshape.self, QuantizedLeakyReLU.self, QuantizedChannelAffine.self,
        QuantizedSquash.self, QuantizedDepthwisePrimaryCapsule.self, QuantizedSelfAttentionCapsule.self,
        QuantizedInstanceNormalization.self,
    ]

    /// The kind with file tag `tag`.
    static func kind(fileTag tag: UInt8) -> (any QuantizedLayerKind.Type)? {
        all.first { $0.fileTag == tag }
    }
}

/// What a layer needs of the arena besides its input and output.
public struct ArenaNeed: Sendable, Equatable {
    /// Scratch bytes for all cores together.
    public var scratchBytes: Int
    /// Whether the layer leaves its output where its input is (ReLU, reshapes).
    public var inPlace: Bool
    /// Whether its kernel runs faster with more scratch than it needs (the convolution's filter
    /// bank), so that the plan gives it the arena bytes no tensor uses while it runs.
    public var usesSpareScratch: Bool

    public init(scratchBytes: Int = 0, inPlace: Bool = false, usesSpareScratch: Bool = false) {
        self.scratchBytes = scratchBytes
        self.inPlace = inPlace
        self.usesSpareScratch = usesSpareScratch
    }
}

/// One kernel call of one layer on one core: where its tensors and scratch are in the arena.
public struct KernelCall {
    let layer: QuantizedLayer
    /// The input's fractional bits (the previous layer's output format).
    let inputFrac: Int
    let input: UnsafeMutablePointer<Int8>
    let output: UnsafeMutablePointer<Int8>
    let scratch: UnsafeMutableRawPointer
    let scratchBytes: Int
    /// This core's share; `{0, 1, NULL, NULL}` on one core.
    let split: capsnet_core_split
    let routing: RoutingMemory

    /// The scratch as the kernels take it.
    var context: capsnet_context { capsnet_context(buf: scratch, size: Int32(clamping: scratchBytes)) }

    /// An element-wise kernel in place on this core's share of the input: `body(start, count)`.
    func inPlaceShare(_ body: (UnsafeMutablePointer<Int8>, Int32) -> capsnet_status) -> capsnet_status {
        let share = share(of: layer.inputCount)
        guard !share.isEmpty else { return CAPSNET_OK }
        return body(input + share.lowerBound, Int32(share.count))
    }

    /// This core's contiguous share `[begin, end)` of `count` items, as `capsnet_split_range` cuts it.
    func share(of count: Int) -> Range<Int> {
        let cores = Int(split.num_cores)
        let chunk = (count + cores - 1) / cores
        let begin = min(count, chunk * Int(split.core_id))
        return begin..<min(count, begin + chunk)
    }
}

extension QuantizedLayer {
    /// The fields every kind's encoding follows, for `QuantizedLayerKind.decode` to check against.
    public struct Header: Sendable, Equatable {
        public var name: String
        public var className: String
        public var inputShape: [Int]
        /// The format of the input: the previous layer's output format, or the model's input format.
        public var inputFrac: Int
        public var outputShape: [Int]
        public var outputFrac: Int

        /// The check of a kind that stores the format it reads its input in: the one it gets.
        func checkInputFormat(_ frac: Int) throws(QuantizedModelFileError.Reason) {
            guard frac == inputFrac else {
                throw .malformed("layer '\(name)' reads its input as Q\(frac), but the layer before it writes Q\(inputFrac)")
            }
        }

        /// A size the kind reads from the file, before anything multiplies it: `1...ResourceLimits.size`.
        func checkSizes(_ sizes: [Int], _ what: String) throws(QuantizedModelFileError.Reason) {
            for size in sizes where !(1...ResourceLimits.size).contains(size) {
                throw .malformed("layer '\(name)': \(what) has a size of \(size), outside 1 to \(ResourceLimits.size)")
            }
        }

        /// The sizes a capsule layer stores, `[J, D, I, Din]`, read and checked before anything
        /// multiplies them: each in range, and the J·I·D predictions the layer keeps within a tensor's limit.
        func readCapsuleSizes(_ reader: inout ModelFileReader) throws(QuantizedModelFileError.Reason) -> [Int] {
            let sizes = try reader.ints(expected: 4)
            try checkSizes(sizes, "the capsule layer")
            guard ResourceLimits.values(of: [sizes[0], sizes[2], sizes[1]]) != nil else {
                throw .malformed("layer '\(name)': \(sizes[0] * sizes[2] * sizes[1]) prediction values, more than \(ResourceLimits.tensorValues)")
            }
            return sizes
        }

        /// The check of a capsule layer's sizes `[J, D, I, Din]` against its shapes and its
        /// `W[J][I][D][Din]`, with anything else the kind requires (`consistent`).
        func checkCapsuleShapes(
            _ sizes: [Int], weights: Int, consistent: Bool = true
        ) throws(QuantizedModelFileError.Reason) {
            guard inputShape == [sizes[2], sizes[3]], outputShape == [sizes[0], sizes[1]],
                weights == sizes.reduce(1, *), consistent
            else { throw .malformed("layer '\(name)': the capsule layer's sizes disagree") }
        }

        /// The check of a kind that keeps its input's values: as many out as in.
        func checkSameCount() throws(QuantizedModelFileError.Reason) {
            guard outputShape.reduce(1, *) == inputShape.reduce(1, *) else {
                throw .malformed("layer '\(name)' changes the number of values")
            }
        }
    }
}

extension capsnet_hwc {
    /// `[H, W, C]`, or `[H, W]` with one channel.
    init(_ shape: [Int]) {
        self.init(h: Int32(shape[0]), w: Int32(shape[1]), c: Int32(shape.count > 2 ? shape[2] : 1))
    }
}

/// `body` with the array's base address, or NULL for nil.
func withOptionalPointer(_ array: [Int8]?, _ body: (UnsafePointer<Int8>?) -> capsnet_status) -> capsnet_status {
    guard let array else { return body(nil) }
    return array.withUnsafeBufferPointer { body($0.baseAddress) }
}
