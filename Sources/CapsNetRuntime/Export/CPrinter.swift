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
        block(checked(call.function, call.arguments.map { argument(of: $0, memory) }), call, memory)
    }

    /// The call as one core of a team (`split`, a `const capsnet_core_split *`) makes it in
    /// `NAME_run_split`: its `_split` kernel, its share of the items, or only on core 0.
    static func splitStatement(_ call: CCall, _ memory: ArenaPlan.LayerMemory, _ split: CoreSplit) -> [String] {
        switch split {
        case .coreZero:
            return ["    if (split->core_id == 0) {"] + statement(call, memory).map { "    " + $0 } + ["    }"]
        case .kernel:
            let arguments = call.arguments.map { argument(of: $0, memory) } + ["split"]
            return block(checked(call.function + "_split", arguments), call, memory)
        case .items(let itemBytes):
            let counts = call.arguments.compactMap { if case .items(let count) = $0 { count } else { nil } }
            // A lowering error, not an input one: an element-wise call names its items once and takes no scratch.
            precondition(
                counts.count == 1 && !call.arguments.contains(.context),
                "\(call.function): a call shared by items needs one .items argument and no scratch")
            let items = counts[0]
            let arguments = call.arguments.map { argument -> String in
                switch argument {
                case .input: "a + \(memory.inputOffset) + begin * \(itemBytes)"
                case .output: "a + \(memory.outputOffset) + begin * \(itemBytes)"
                case .items: "count"
                default: self.argument(of: argument, memory)
                }
            }
            return [
                "    {",
                "        const int32_t chunk = (\(items) + split->num_cores - 1) / split->num_cores;",
                "        const int32_t begin = chunk * split->core_id < \(items) ? chunk * split->core_id : \(items);",
                "        const int32_t count = \(items) - begin < chunk ? \(items) - begin : chunk;",
                "        if (count > 0) {",
                "            " + checked(call.function, arguments),
                "        }",
                "    }",
            ]
        }
    }

    private static func argument(of argument: CCall.Argument, _ memory: ArenaPlan.LayerMemory) -> String {
        switch argument {
        case .context: "&ctx"
        case .input: "a + \(memory.inputOffset)"
        case .output: "a + \(memory.outputOffset)"
        case .address(let name): "&\(name)"
        case .symbol(let name): name
        case .int(let number), .items(let number): "\(number)"
        }
    }

    private static func checked(_ function: String, _ arguments: [String]) -> String {
        "CHECK(\(function)(\(arguments.joined(separator: ", "))));"
    }

    private static func block(_ checked: String, _ call: CCall, _ memory: ArenaPlan.LayerMemory) -> [String] {
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
