import Foundation

/// Labelled images for evaluation or calibration, channels-last and scaled as the models were
/// trained: 8-bit pixels divided by 255, float arrays taken as they are.
public struct Dataset: Sendable {
    /// The dataset as given, `PATH` or `PATH@START-END`, for messages and reports.
    public var name: String
    /// The file the images were read from.
    public var imageFile: String
    /// The images, `[N, H, W, C]`.
    public var images: Tensor
    public var labels: [Int]
    /// The position in its file of the first image (`PATH@START-END` selects from START).
    public var firstIndex = 0

    /// The number of images.
    public var count: Int { labels.count }
    /// The shape of one image, `[H, W, C]`.
    public var imageShape: [Int] { Array(images.shape.dropFirst()) }

    public init(name: String, imageFile: String, images: Tensor, labels: [Int]) {
        self.name = name
        self.imageFile = imageFile
        self.images = images
        self.labels = labels
    }

    /// Reads `PATH` or `PATH@START-END` (zero-based, inclusive). `PATH` is one of:
    /// - an MNIST idx image file, plain or `.gz`, with its labels file beside it (`images` and
    ///   `idx3` in the name become `labels` and `idx1`), or a folder holding such a pair (the
    ///   `t10k` test set if the folder holds several);
    /// - a CIFAR-10 binary batch (`*.bin`), or a folder holding `test_batch.bin`;
    /// - a NumPy `.npy` file of uint8 or float images `[N, H, W]` or `[N, H, W, C]`, with integer
    ///   labels in `labels.npy` beside it.
    public init(_ specification: String) throws(DatasetError) {
        let (path, range) = try Self.split(specification)
        do throws(DatasetError.Reason) {
            var dataset = try Self.read(path)
            dataset.name = specification
            if let range { dataset = try dataset.selecting(range) }
            guard dataset.count > 0 else { throw .noImages }
            self = dataset
        } catch {
            throw DatasetError(path: specification, reason: error)
        }
    }

    /// Images `range` (zero-based, inclusive), keeping the name.
    func selecting(_ range: ClosedRange<Int>) throws(DatasetError.Reason) -> Dataset {
        guard range.upperBound < count else {
            throw .rangeOutOfBounds(start: range.lowerBound, end: range.upperBound, count: count)
        }
        let selection = range.lowerBound..<range.upperBound + 1
        var selected = Dataset(
            name: name, imageFile: imageFile, images: images.batch(selection), labels: Array(labels[selection]))
        selected.firstIndex = firstIndex + range.lowerBound
        return selected
    }

    /// The images as a batch the model takes, or an error if their shape does not fit it. A
    /// missing trailing channel of 1 on either side counts as a fit.
    public func images(for model: CapsNetModel) throws(DatasetError) -> Tensor {
        try batch(0..<count, inputShape: model.inputShape).images
    }

    /// The labels, each checked to be one of `classes` classes: a label outside them would only
    /// count as a wrong answer, and a score with it would mean nothing. Image indices are
    /// positions in the dataset as selected.
    public func labels(classes: Int) throws(DatasetError) -> [Int] {
        if let image = labels.firstIndex(where: { !(0..<classes).contains($0) }) {
            throw DatasetError(path: name, reason: .labelOutOfRange(image: image, label: labels[image], classes: classes))
        }
        return labels
    }

    /// Items `range` of the dataset as a model batch, and their labels.
    public func batch(
        _ range: Range<Int>, for model: CapsNetModel
    ) throws(DatasetError)
        -> (images: Tensor, labels: [Int])
    {
        try batch(range, inputShape: model.inputShape)
    }

    /// Items `range` as a batch of `inputShape` images, and their labels.
    public func batch(_ range: Range<Int>, inputShape: [Int]) throws(DatasetError) -> (images: Tensor, labels: [Int]) {
        let dropOne = { (shape: [Int]) in shape.last == 1 ? Array(shape.dropLast()) : shape }
        guard imageShape == inputShape || dropOne(imageShape) == dropOne(inputShape) else {
            throw DatasetError(path: name, reason: .imageShape(images: imageShape, model: inputShape))
        }
        let selected = images.batch(range)
        return (Tensor(shape: [range.count] + inputShape, values: selected.values), Array(labels[range]))
    }

    // MARK: - Specification

    private static func split(_ specification: String) throws(DatasetError) -> (String, ClosedRange<Int>?) {
        guard let at = specification.lastIndex(of: "@") else { return (specification, nil) }
        let path = String(specification[..<at])
        let text = String(specification[specification.index(after: at)...])
        // A path may itself hold '@'; only a suffix of digits and dashes is a range.
        guard !text.isEmpty, text.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "-") }) else {
            if FileManager.default.fileExists(atPath: specification) { return (specification, nil) }
            throw DatasetError(path: specification, reason: .badRange(text: text))
        }
        let bounds = text.split(separator: "-", omittingEmptySubsequences: false)
        guard bounds.count == 2, let start = Int(bounds[0]), let end = Int(bounds[1]) else {
            throw DatasetError(path: specification, reason: .badRange(text: text))
        }
        guard start <= end else { throw DatasetError(path: specification, reason: .emptyRange(start: start, end: end)) }
        return (path, start...end)
    }

    // MARK: - Formats

    private static func read(_ path: String) throws(DatasetError.Reason) -> Dataset {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw .fileNotFound }
        let file = isDirectory.boolValue ? try pickFile(in: path) : path
        let name = (file as NSString).lastPathComponent
        if name.contains("idx3") { return try readIDX(file) }
        if name.hasSuffix(".bin") { return try readCIFAR(file) }
        if name.hasSuffix(".npy") { return try readNumPy(file) }
        throw .unrecognized(
            detail: "not a known dataset: expected MNIST idx files, a CIFAR-10 .bin batch or a NumPy .npy array")
    }

    /// The image file a folder stands for.
    private static func pickFile(in folder: String) throws(DatasetError.Reason) -> String {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
        let candidates = names.filter { $0.contains("images-idx3") || $0.contains("images.idx3") }
        let preferred = candidates.filter { $0.hasPrefix("t10k") }
        // A folder may hold the same file plain and compressed; either will do.
        if let chosen = (preferred.isEmpty ? candidates : preferred).first {
            let others = (preferred.isEmpty ? candidates : preferred).map {
                $0.replacingOccurrences(of: ".gz", with: "")
            }
            if Set(others).count == 1 { return (folder as NSString).appendingPathComponent(chosen) }
            throw .unrecognized(
                detail: "the folder holds several MNIST image files (\(others.joined(separator: ", "))); name one")
        }
        if names.contains("test_batch.bin") { return (folder as NSString).appendingPathComponent("test_batch.bin") }
        if names.contains("images.npy") { return (folder as NSString).appendingPathComponent("images.npy") }
        throw .unrecognized(
            detail: "the folder holds no MNIST idx files, CIFAR-10 test_batch.bin or images.npy")
    }

    /// The file's bytes, gunzipped if they are gzip-compressed. A format whose header announces
    /// its size passes `announcedBytes`, which reads the first `headerBytes` bytes: a compressed
    /// file then inflates no further than it announced (one byte more, to show it holds more).
    private static func contents(
        _ path: String, headerBytes: Int = 0, announcedBytes: (ArraySlice<UInt8>) throws(DatasetError.Reason) -> Int? = { _ in nil }
    ) throws(DatasetError.Reason) -> [UInt8] {
        let bytes = try readFile(path)
        guard Zlib.isGzip(bytes) else { return bytes }
        func gunzip(limit: Int, prefix: Bool) throws(DatasetError.Reason) -> [UInt8] {
            do { return try Zlib.inflate(bytes[...], .gzip, limit: limit, prefix: prefix) } catch {
                throw .malformed(detail: error.message)
            }
        }
        guard headerBytes > 0, let announced = try announcedBytes(try gunzip(limit: headerBytes, prefix: true)[...]) else {
            return try gunzip(limit: ResourceLimits.fileBytes, prefix: false)
        }
        return try gunzip(limit: min(ResourceLimits.fileBytes, announced + 1), prefix: true)
    }

    /// MNIST's idx format: a big-endian header (magic 0x0000_08NN for unsigned bytes and N
    /// dimensions, then each dimension) and the bytes.
    private static func readIDX(_ path: String) throws(DatasetError.Reason) -> Dataset {
        let images = try idxArray(path, rank: 3)
        let labelPath = labelFile(forIDX: path)
        let labels: (shape: [Int], bytes: ArraySlice<UInt8>)
        do {
            labels = try idxArray(labelPath, rank: 1)
        } catch .fileNotFound {
            throw .malformed(
                detail: "no labels file beside it (looked for \((labelPath as NSString).lastPathComponent))")
        }
        guard labels.shape[0] == images.shape[0] else {
            throw .labelCount(images: images.shape[0], labels: labels.shape[0])
        }
        return Dataset(
            name: path, imageFile: path,
            images: Tensor(shape: images.shape + [1], values: images.bytes.map { Float($0) / 255 }),
            labels: labels.bytes.map { Int($0) })
    }

    private static func labelFile(forIDX path: String) -> String {
        let folder = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent.replacingOccurrences(of: "images", with: "labels")
            .replacingOccurrences(of: "idx3", with: "idx1")
        let plain = name.hasSuffix(".gz") ? String(name.dropLast(3)) : name
        for candidate in [name, plain, plain + ".gz"] {
            let candidatePath = (folder as NSString).appendingPathComponent(candidate)
            if FileManager.default.fileExists(atPath: candidatePath) { return candidatePath }
        }
        return (folder as NSString).appendingPathComponent(name)
    }

    private static func idxArray(
        _ path: String, rank: Int
    ) throws(DatasetError.Reason) -> (shape: [Int], bytes: ArraySlice<UInt8>) {
        let file = (path as NSString).lastPathComponent
        let start = 4 + 4 * rank
        // The header: the magic, then each dimension; their product, bounded before it is formed.
        func header(_ bytes: ArraySlice<UInt8>) throws(DatasetError.Reason) -> (shape: [Int], count: Int) {
            let bytes = Array(bytes)
            guard bytes.count >= start, bytes[0] == 0, bytes[1] == 0, bytes[2] == 0x08, Int(bytes[3]) == rank else {
                throw .malformed(detail: "\(file) is not an idx file of unsigned bytes with \(rank) dimensions")
            }
            let shape = (0..<rank).map { dimension in
                (0..<4).reduce(0) { $0 << 8 | Int(bytes[4 + 4 * dimension + $1]) }
            }
            guard let count = ResourceLimits.product(shape, limit: ResourceLimits.datasetValues) else {
                throw .malformed(
                    detail: "\(file) announces \(shape.shapeDescription): an empty size, or more than the \(ResourceLimits.datasetValues) values this tool reads")
            }
            return (shape, count)
        }
        let bytes = try contents(path, headerBytes: start) { (prefix) throws(DatasetError.Reason) -> Int? in
            start + (try header(prefix)).count
        }
        let (shape, count) = try header(bytes[...])
        guard bytes.count - start == count else {
            throw .malformed(
                detail: "\(file) holds \(bytes.count - start > count ? "more than \(count)" : "\(bytes.count - start)") data bytes, its header announces \(count)")
        }
        return (shape, bytes[start...])
    }

    /// CIFAR-10's binary batches: records of one label byte and 3×32×32 pixel bytes, channel-major.
    private static func readCIFAR(_ path: String) throws(DatasetError.Reason) -> Dataset {
        let bytes = try contents(path)
        let side = 32
        let plane = side * side
        let record = 1 + 3 * plane
        guard !bytes.isEmpty, bytes.count % record == 0 else {
            throw .malformed(
                detail: "\(bytes.count) bytes is not a whole number of CIFAR-10 records (\(record) bytes each)")
        }
        let count = bytes.count / record
        guard count * 3 * plane <= ResourceLimits.datasetValues else {
            throw .malformed(detail: "\(count) images are more than the \(ResourceLimits.datasetValues) values this tool reads")
        }
        var images = [Float](repeating: 0, count: count * 3 * plane)
        var labels: [Int] = []
        for image in 0..<count {
            let base = image * record
            guard bytes[base] < 10 else {
                throw .malformed(detail: "record \(image) has label \(bytes[base]), not 0-9")
            }
            labels.append(Int(bytes[base]))
            for channel in 0..<3 {
                for pixel in 0..<plane {
                    images[(image * plane + pixel) * 3 + channel] =
                        Float(bytes[base + 1 + channel * plane + pixel]) / 255
                }
            }
        }
        return Dataset(
            name: path, imageFile: path, images: Tensor(shape: [count, side, side, 3], values: images), labels: labels)
    }

    /// A NumPy image array and the integer `labels.npy` beside it.
    private static func readNumPy(_ path: String) throws(DatasetError.Reason) -> Dataset {
        let array = try NumPyArray(bytes: contents(path))
        guard array.shape.count == 3 || array.shape.count == 4 else {
            throw .malformed(
                detail: "the images are \(array.shape.shapeDescription); expected [N, H, W] or [N, H, W, C]")
        }
        let labelPath = ((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent("labels.npy")
        let labelArray: NumPyArray
        do {
            labelArray = try NumPyArray(bytes: readFile(labelPath))
        } catch .fileNotFound {
            throw .malformed(detail: "no labels.npy beside the images")
        }
        guard labelArray.elementType.isInteger, labelArray.shape.count == 1 else {
            throw .malformed(
                detail:
                    "labels.npy must hold one integer per image, not \(labelArray.elementType) \(labelArray.shape.shapeDescription)"
            )
        }
        guard labelArray.shape[0] == array.shape[0] else {
            throw .labelCount(images: array.shape[0], labels: labelArray.shape[0])
        }
        let pixels = array.elementType == .uint8 ? array.values.map { Float($0) / 255 } : array.floats
        let imageSize = array.shape.dropFirst().reduce(1, *)
        if let index = pixels.firstIndex(where: { !$0.isFinite }) {
            throw .malformed(detail: "image \(index / max(imageSize, 1)) holds a pixel that is \(pixels[index]), not a number")
        }
        let shape = array.shape.count == 3 ? array.shape + [1] : array.shape
        return Dataset(
            name: path, imageFile: path, images: Tensor(shape: shape, values: pixels),
            labels: labelArray.values.map { Int($0) })
    }
}
