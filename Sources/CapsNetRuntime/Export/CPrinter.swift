/// Writes lowered C (`LoweredLayer`) as text: the only place that knows C syntax for constants and
/// calls.
enum CPrinter {
    /// `static const TYPE NAME = ...;` with its comment, as lines.
    static func definition(_ constant: CConstant) -> [String] {
        let comment = constant.comment.map { ["/* \($0) */"] } ?? []
        switch constant.value {
        case .int8s(let values): return comment + array(constant, values)
        case .int16s(let values): return comment + array(constant, values)
        case .int32s(let values): return comment + array(constant, values)
        case .structure(let value):
            return comment + ["static const \(constant.type) \(constant.name) = \(initializer(value));"]
        case .structures(let values):
            return comment + [
                "static const \(constant.type) \(constant.name)[\(values.count)] = {"
                    + values.map(initializer).joined(separator: ", ") + "};"
            ]
        }
    }

    private static func array(_ constant: CConstant, _ values: [some BinaryInteger]) -> [String] {
        ["static const \(constant.type) \(constant.name)[\(values.count)] = {" + Self.values(values, indent: "    ") + "};"]
    }

    /// A designated initializer: `{.kernel = {.h = 9, .w = 9}, .input_frac = 7}`.
    static func initializer(_ value: CStruct) -> String {
        let fields = value.fields.map { field in
            switch field.value {
            case .int(let number): ".\(field.name) = \(number)"
            case .symbol(let symbol): ".\(field.name) = \(symbol)"
            case .structure(let nested): ".\(field.name) = \(initializer(nested))"
            }
        }
        return "{" + fields.joined(separator: ", ") + "}"
    }

    /// The call as checked statements; a call that takes scratch sits in a block of its own that
    /// first declares `ctx`, the layer's scratch in the arena.
    static func statement(_ call: CCall, _ memory: ArenaPlan.LayerMemory) -> [String] {
        let arguments = call.arguments.map { argument in
            switch argument {
            case .context: "&ctx"
            case .input: "a + \(memory.inputOffset)"
            case .output: "a + \(memory.outputOffset)"
            case .address(let name): "&\(name)"
            case .symbol(let name): name
            case .int(let number): "\(number)"
            }
        }
        let checked = "CHECK(\(call.function)(\(arguments.joined(separator: ", "))));"
        guard call.arguments.contains(.context) else { return ["    " + checked] }
        return [
            "    {",
            "        const capsnet_context ctx = {.buf = a + \(memory.scratchOffset), .size = \(memory.kernelScratchBytes)};",
            "        \(checked)",
            "    }",
        ]
    }

    /// Values as C initializers, 24 to a line.
    static func values(_ values: [some BinaryInteger], indent: String) -> String {
        guard values.count > 24 else { return values.map { "\($0)" }.joined(separator: ", ") }
        let lines = stride(from: 0, to: values.count, by: 24).map { start in
            indent + values[start..<min(start + 24, values.count)].map { "\($0)" }.joined(separator: ", ")
        }
        return "\n" + lines.joined(separator: ",\n") + "\n"
    }
}
