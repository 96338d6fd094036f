/// A layer lowered to C, before any text is written: its constants and its kernel call. The
/// exporter prints these; the model's flash figure counts the same constants, so the two cannot
/// drift apart.
public struct LoweredLayer: Sendable, Equatable {
    /// `static const` data (flash): weight arrays and parameter structs.
    public var constants: [CConstant]
    /// The kernel call, or nil for a layer that only renames its input (a reshape).
    public var call: CCall?
    /// How the cores of a team share the call in `NAME_run_split`; it matches the kind's
    /// `splitsOverCores`, which says the same for the host's team runner.
    public var split: CoreSplit

    public init(constants: [CConstant] = [], call: CCall?, split: CoreSplit = .coreZero) {
        self.constants = constants
        self.call = call
        self.split = split
    }
}

/// How a team of cores shares one layer's kernel call.
public enum CoreSplit: Sendable, Equatable {
    /// Core 0 runs the call alone while the others wait at the next barrier.
    case coreZero
    /// Every core calls the kernel's `_split` form (the same arguments, then its `capsnet_core_split`).
    case kernel
    /// An element-wise call: every core runs it on its contiguous share of the call's one
    /// `.items` argument, `itemBytes` bytes each, its `.input` and `.output` arguments moved to the
    /// share. It takes no scratch.
    case items(itemBytes: Int)
}

/// What a layer's lowering needs to know beyond the layer itself.
public struct LoweringContext: Sendable {
    /// The prefix of the layer's constants, unique in the export (`l3`).
    public var id: String
    /// The input's fractional bits.
    public var inputFrac: Int
    /// What the capsule layers keep of their predictions.
    public var routing: RoutingMemory

    /// The name of the layer's constant `suffix` (`l3_weights`).
    public func name(_ suffix: String) -> String { "\(id)_\(suffix)" }
}

/// One `static const` definition.
public struct CConstant: Sendable, Equatable {
    public var name: String
    /// The C type of one element (`int8_t`, `capsnet_conv_params`).
    public var type: String
    public var value: CValue
    /// A comment printed above it: what the values are, in which layout and format.
    public var comment: String?

    public init(name: String, type: String, value: CValue, comment: String? = nil) {
        self.name = name
        self.type = type
        self.value = value
        self.comment = comment
    }

    /// Bytes it takes in flash on a 32-bit core.
    public var flashBytes: Int { value.flashBytes }
}

/// The value of a constant: an integer array, a struct, or an array of structs.
public enum CValue: Sendable, Equatable {
    case int8s([Int8])
    case int16s([Int16])
    case int32s([Int32])
    case structure(CStruct)
    case structures([CStruct])

    var flashBytes: Int {
        switch self {
        case .int8s(let values): values.count
        case .int16s(let values): 2 * values.count
        case .int32s(let values): 4 * values.count
        case .structure(let value): value.flashBytes
        case .structures(let values): values.map(\.flashBytes).reduce(0, +)
        }
    }
}

/// A struct initializer, printed with C99 designated initializers (`.stride = {.h = 2, .w = 2}`),
/// so that reordering a field of `capsnet_types.h` cannot silently change a model.
public struct CStruct: Sendable, Equatable {
    public enum Field: Sendable, Equatable {
        /// An `int32_t`.
        case int(Int)
        /// An enumerator, a pointer to another constant, or NULL: four bytes on a 32-bit core.
        case symbol(String)
        case structure(CStruct)

        var flashBytes: Int {
            switch self {
            case .int, .symbol: 4
            case .structure(let value): value.flashBytes
            }
        }
    }

    public var fields: [(name: String, value: Field)]

    public init(_ fields: [(name: String, value: Field)]) {
        self.fields = fields
    }

    /// A `{h, w}` pair (`capsnet_hw`).
    public static func hw(_ h: Int, _ w: Int) -> CStruct { CStruct([("h", .int(h)), ("w", .int(w))]) }

    /// A shape (`capsnet_hwc`).
    public static func hwc(_ shape: [Int]) -> CStruct {
        CStruct([("h", .int(shape[0])), ("w", .int(shape[1])), ("c", .int(shape.count > 2 ? shape[2] : 1))])
    }

    /// Every field is four bytes (int32_t, an enum or a 32-bit pointer), so there is no padding.
    var flashBytes: Int { fields.map(\.value.flashBytes).reduce(0, +) }

    public static func == (lhs: CStruct, rhs: CStruct) -> Bool {
        lhs.fields.count == rhs.fields.count
            && zip(lhs.fields, rhs.fields).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }
}

/// A kernel call: `CHECK(function(arguments...))`.
public struct CCall: Sendable, Equatable {
    public enum Argument: Sendable, Equatable {
        /// `&ctx`: the layer's scratch in the arena, declared in a block around the call.
        case context
        /// The layer's input in the arena.
        case input
        /// The layer's output in the arena.
        case output
        /// The address of a struct constant (`&l0_params`).
        case address(String)
        /// A name as it is: an array constant, `NULL`, an enumerator.
        case symbol(String)
        case int(Int)
        /// The number of items an element-wise call works on, which a core split shares (`CoreSplit.items`).
        case items(Int)
    }

    public var function: String
    public var arguments: [Argument]

    public init(_ function: String, _ arguments: [Argument]) {
        self.function = function
        self.arguments = arguments
    }
}
