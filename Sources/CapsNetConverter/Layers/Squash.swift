import Foundation

/// Squash over the last axis as a layer of its own: a `Lambda` whose function is a squash, as
/// CapsNet-Keras builds its primary capsules (`Conv2D`, `Reshape([-1, D])`, `Lambda(squash)`):
/// `‖s‖² / (1 + ‖s‖²) / sqrt(‖s‖² + epsilon) · s`. Right after such a convolution and reshape it
/// becomes part of a ``PrimaryCapsule`` (``PrimaryCapsule/recognized(in:)``).
///
/// The function is recognized by its name: Keras 3 stores a named function's name, and a lambda's
/// (or Keras 2's any function's) bytecode, whose names are read for `squash`. A `Lambda` named
/// otherwise can be declared a squash by its layer or function name (`--squash-lambda`).
public struct Squash: LayerKind {
    /// Keras's `epsilon()`, which CapsNet-Keras's squash adds under the square root.
    public static let kerasEpsilon: Float = 1e-7

    public var epsilon: Float

    public init(epsilon: Float = Squash.kerasEpsilon) {
        self.epsilon = epsilon
    }

    // MARK: - Keras

    public static let kerasClassNames = ["Lambda"]

    public static func load(
        _ keras: KerasLayerBuilder
    ) throws(KerasModelError.Reason) -> (kind: any LayerKind, outputShape: [Int]) {
        let (name, identifiers) = function(keras.layer.config["function"])
        let declared =
            keras.squashLambdas.contains(keras.layer.name) || identifiers.contains(where: keras.squashLambdas.contains)
        guard declared || identifiers.contains(where: { $0.lowercased().contains("squash") }) else {
            throw .unsupportedLambda(layer: keras.layer.name, function: name)
        }
        if let arguments = keras.layer.config["arguments"], case .object(let members) = arguments {
            for (key, value) in members where !(key == "axis" && value.int == -1) {
                throw keras.unsupported("arguments", arguments)
            }
        }
        guard keras.inputShape.count == 2 else { throw keras.inputError("capsules [count, dimension]") }
        try keras.expectWeights([])
        return (Squash(), keras.inputShape)
    }

    /// What a `Lambda`'s `function` records: a name, or the identifiers of its bytecode (the
    /// function's own name and those it calls). Keras 3 writes a named function as
    /// `{"class_name": "function", "config": "squash"}` and a lambda as `{"class_name": "__lambda__",
    /// "config": {"code": BASE64}}`; Keras 2 writes `["BASE64", defaults, closure]`, or the name
    /// with `function_type: "function"`. BASE64 is the marshalled bytecode.
    static func function(_ function: JSONValue?) -> (name: String?, identifiers: [String]) {
        guard let function else { return (nil, []) }
        if let text = function.string {
            // Keras 2's function_type "function" stores the name; a lone BASE64 string is bytecode.
            let isName = text.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." }
            return isName ? (text, [text]) : (nil, marshalNames(text))
        }
        if let items = function.array, let code = items.first?.string { return (nil, marshalNames(code)) }
        if function["class_name"]?.string == "__lambda__", let code = function["config"]?["code"]?.string {
            return (nil, marshalNames(code))
        }
        if let name = function["config"]?.string { return (name, [name]) }
        return (nil, [])
    }

    /// The identifiers among the short strings of marshalled Python bytecode: a type byte of
    /// `z` or `Z` (short ASCII, perhaps interned, perhaps with the reference flag 0x80), a length
    /// byte, then the characters.
    static func marshalNames(_ base64: String) -> [String] {
        guard let data = Data(base64Encoded: base64, options: .ignoreUnknownCharacters) else { return [] }
        let bytes = [UInt8](data)
        var names: [String] = []
        var index = 0
        while index + 1 < bytes.count {
            let type = bytes[index] & 0x7F
            let length = Int(bytes[index + 1])
            if type == UInt8(ascii: "z") || type == UInt8(ascii: "Z"), length > 0, index + 2 + length <= bytes.count {
                let characters = bytes[(index + 2)..<(index + 2 + length)]
                let isIdentifier = characters.allSatisfy {
                    ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F
                }
                if isIdentifier, let first = characters.first, !(first >= 0x30 && first <= 0x39) {
                    names.append(String(decoding: characters, as: UTF8.self))
                    index += 2 + length
                    continue
                }
            }
            index += 1
        }
        return names
    }

    // MARK: - Float

    public func forward(_ input: Tensor, _ layer: Layer, recording: Bool) -> LayerTrace {
        LayerTrace(name: layer.name, output: FloatMath.squash(input, epsilon: epsilon))
    }

    // MARK: - Quantization

    /// In place, into a format of at least 0 fractional bits (the values lie in [-1, 1]); the
    /// int8 squash has no epsilon, which moves a squashed length by at most 5e-8.
    public func quantize(_ context: QuantizationContext) -> (kind: any QuantizedLayerKind, outputFrac: Int) {
        let outputFrac = min(max(context.activationFormat(.output), 0), QFormat.supportedFractionalBits.upperBound)
        return (QuantizedSquash(), outputFrac)
    }
}
