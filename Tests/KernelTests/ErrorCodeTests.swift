import CapsNetRuntime
import Testing

/// Every error code of every kernel, reached through the C interface, and nothing written when a
/// kernel refuses. Each kernel gets a valid baseline call; each case changes one thing.
@Suite("Error codes")
struct ErrorCodeTests {
    static let sentinel: Int8 = 0x5A

    /// Calls `body` with an output buffer of `count` sentinel bytes, or NULL; returns the status and
    /// whether every byte is still the sentinel.
    static func onSentinel(
        _ count: Int, null: Bool = false, _ body: (UnsafeMutablePointer<Int8>?) -> capsnet_status
    ) -> (capsnet_status, Bool) {
        let output = UnsafeMutableBufferPointer<Int8>.allocate(capacity: count)
        defer { output.deallocate() }
        output.initialize(repeating: sentinel)
        let status = body(null ? nil : output.baseAddress)
        return (status, output.allSatisfy { $0 == sentinel })
    }

    /// Runs each case on a fresh copy of `baseline`; the first must be the valid baseline itself.
    static func check<Call>(
        _ baseline: Call, _ cases: [(String, capsnet_status, (inout Call) -> Void)],
        run: (Call) -> (capsnet_status, Bool)
    ) {
        for (name, expected, change) in cases {
            var call = baseline
            change(&call)
            let (status, untouched) = run(call)
            #expect(status == expected, "\(name)")
            if expected != CAPSNET_OK { #expect(untouched, "\(name) wrote to its output") }
        }
    }

    static let ok = CAPSNET_OK, null = CAPSNET_ERROR_NULL_POINTER, dimension = CAPSNET_ERROR_DIMENSION
    static let shift = CAPSNET_ERROR_SHIFT, overflow = CAPSNET_ERROR_OVERFLOW, bufferSize = CAPSNET_ERROR_BUFFER_SIZE
    static let argument = CAPSNET_ERROR_ARGUMENT

    // MARK: Convolution and primary capsules

    struct ConvCall {
        var params = capsnet_conv_params(
            kernel: capsnet_hw(h: 3, w: 3), stride: capsnet_hw(h: 1, w: 1), padding: capsnet_hw(h: 0, w: 0),
            input_frac: 7, weight_frac: 7, bias_frac: 7, output_frac: 5, activation: Activation.none.cValue, weight_fracs: nil)
        var inDims = capsnet_hwc(h: 4, w: 4, c: 2)
        var outDims = capsnet_hwc(h: 2, w: 2, c: 4)
        var capsuleDim: Int32 = 2
        var capsuleFrac: Int32 = 7
        var scratchShortfall: Int32 = 0
        var nullArgument: String?
        var noBias = false
    }

    /// A context with the scratch `call` asks for (none if its arguments are invalid), less its shortfall.
    static func convContext(_ pin: Pinned, _ call: ConvCall) -> UnsafeMutablePointer<capsnet_context>? {
        var params = call.params
        var inDims = call.inDims
        let size = max(0, capsnet_conv_hwc_q7_get_buffer_size(&params, &inDims))
        let ctx = capsnet_context(
            buf: pin.scratch(Int(size), null: call.nullArgument == "buf"), size: size - call.scratchShortfall)
        return pin.pointer(to: ctx, null: call.nullArgument == "ctx")
    }

    static let convInput = [Int8](repeating: 3, count: 4 * 4 * 2)
    static let convWeights = [Int8](repeating: -2, count: 4 * 3 * 3 * 2)
    static let convBias: [Int8] = [1, 2, 3, 4]

    static var convCases: [(String, capsnet_status, (inout ConvCall) -> Void)] {
        [
            ("valid", ok, { _ in }),
            (
                "valid without a bias, whose format is then ignored", ok,
                {
                    $0.noBias = true
                    $0.params.bias_frac = 99
                }
            ),
            (
                "valid with the largest output, windows reaching past the input", ok,
                {
                    $0.outDims.h = 4
                    $0.outDims.w = 4
                }
            ),
            ("context NULL", null, { $0.nullArgument = "ctx" }),
            ("scratch buffer NULL", null, { $0.nullArgument = "buf" }),
            ("scratch one byte short", bufferSize, { $0.scratchShortfall = 1 }),
            ("params NULL", null, { $0.nullArgument = "params" }),
            ("input dims NULL", null, { $0.nullArgument = "inDims" }),
            ("input NULL", null, { $0.nullArgument = "input" }),
            ("weights NULL", null, { $0.nullArgument = "weights" }),
            ("output dims NULL", null, { $0.nullArgument = "outDims" }),
            ("output NULL", null, { $0.nullArgument = "output" }),
            ("input height 0", dimension, { $0.inDims.h = 0 }),
            ("input channels -1", dimension, { $0.inDims.c = -1 }),
            ("kernel width 0", dimension, { $0.params.kernel.w = 0 }),
            ("stride 0", dimension, { $0.params.stride.h = 0 }),
            ("negative padding", dimension, { $0.params.padding.w = -1 }),
            ("padding as large as the kernel", dimension, { $0.params.padding.h = 3 }),
            ("a window starting below the input", dimension, { $0.outDims.h = 5 }),
            ("output channels 0", dimension, { $0.outDims.c = 0 }),
            (
                "input larger than 2^31 values", dimension,
                {
                    $0.inDims.h = 1 << 16
                    $0.inDims.w = 1 << 16
                }
            ),
            ("input format above 15", shift, { $0.params.input_frac = 16 }),
            ("weight format below -8", shift, { $0.params.weight_frac = -9 }),
            ("output finer than the accumulator", shift, { $0.params.output_frac = 15 }),
            (
                "shift of 32", shift,
                {
                    $0.params.input_frac = 15
                    $0.params.weight_frac = 15
                    $0.params.output_frac = -2
                }
            ),
            ("bias finer than the accumulator", shift, { $0.params.bias_frac = 15 }),
            ("valid with a ReLU", ok, { $0.params.activation = capsnet_activation(min: 0, max: 127, leak: 0) }),
            ("valid with the narrowest clamp", ok, { $0.params.activation = capsnet_activation(min: 5, max: 6, leak: 0) }),
            ("valid with a leaky ReLU", ok, { $0.params.activation.leak = 32767 }),
            ("a negative leak", argument, { $0.params.activation.leak = -1 }),
            ("a leak of 1.0 or more", argument, { $0.params.activation.leak = 32768 }),
            (
                "an activation left zero-initialized", argument,
                { $0.params.activation = capsnet_activation(min: 0, max: 0, leak: 0) }
            ),
            ("an activation with min above max", argument, { $0.params.activation = capsnet_activation(min: 9, max: 3, leak: 0) }),
            ("an activation below -128", argument, { $0.params.activation.min = -129 }),
            ("an activation above 127", argument, { $0.params.activation.max = 128 }),
            (
                "a window of 131072 products", overflow,
                {
                    $0.params.kernel = capsnet_hw(h: 1, w: 1)
                    $0.inDims = capsnet_hwc(h: 1, w: 1, c: 131_072)
                    $0.outDims = capsnet_hwc(h: 1, w: 1, c: 4)
                }
            ),
            (
                "a bias shifted by 24", overflow,
                {
                    $0.params.input_frac = 15
                    $0.params.weight_frac = 15
                    $0.params.bias_frac = 6
                }
            ),
        ]
    }

    @Test("capsnet_conv_hwc_q7")
    func convolution() {
        Self.check(ConvCall(), Self.convCases) { c in
            let pin = Pinned()
            return Self.onSentinel(64, null: c.nullArgument == "output") { output in
                capsnet_conv_hwc_q7(
                    Self.convContext(pin, c), pin.pointer(to: c.params, null: c.nullArgument == "params"),
                    pin.pointer(to: c.inDims, null: c.nullArgument == "inDims"),
                    pin.buffer(Self.convInput, null: c.nullArgument == "input"),
                    pin.buffer(Self.convWeights, null: c.nullArgument == "weights"),
                    pin.buffer(Self.convBias, null: c.noBias),
                    pin.pointer(to: c.outDims, null: c.nullArgument == "outDims"), output)
            }
        }
    }

    @Test("the convolutions' buffer sizes")
    func convolutionBufferSizes() {
        var call = ConvCall()
        let window = 3 * 3 * 2
        let one = capsnet_conv_hwc_q7_get_buffer_size(&call.params, &call.inDims)
        #expect(
            one == 2 * ((window + 3) / 4) * 8 + 2 * 4 + (window + 3) + 3,
            "two windows' groups widened to 16 bits (the last one partial), their tails, one window staged with the partial group's padding (rows of 6 values are not whole groups), alignment")
        var wholeGroups = call.inDims
        wholeGroups.c = 4
        #expect(
            capsnet_conv_hwc_q7_get_buffer_size(&call.params, &wholeGroups) == 2 * (3 * 3 * 4 / 4) * 8 + 2 * 4 + 3,
            "rows of 12 values are whole groups: nothing staged")
        #expect(capsnet_conv_hwc_q7_split_get_buffer_size(&call.params, &call.inDims, 3) == 3 * one, "a share per core")
        var primary = capsnet_primary_capsule_params(conv: call.params, capsule_dim: 2, output_frac: 7)
        #expect(capsnet_primary_capsule_q7_get_buffer_size(&primary, &call.inDims) == one, "the squash needs none")
        #expect(capsnet_primary_capsule_q7_split_get_buffer_size(&primary, &call.inDims, 2) == 2 * one)
        #expect(capsnet_conv_hwc_q7_get_buffer_size(nil, &call.inDims) == Self.null.rawValue)
        #expect(capsnet_conv_hwc_q7_get_buffer_size(&call.params, nil) == Self.null.rawValue)
        #expect(capsnet_primary_capsule_q7_get_buffer_size(nil, &call.inDims) == Self.null.rawValue)
        #expect(capsnet_conv_hwc_q7_split_get_buffer_size(&call.params, &call.inDims, 0) == Self.dimension.rawValue)
        var wide = call.inDims
        wide.c = 131_072
        #expect(capsnet_conv_hwc_q7_get_buffer_size(&call.params, &wide) == Self.overflow.rawValue)
        call.params.kernel.w = 0
        #expect(capsnet_conv_hwc_q7_get_buffer_size(&call.params, &call.inDims) == Self.dimension.rawValue)
    }

    @Test("capsnet_primary_capsule_q7")
    func primaryCapsules() {
        let own: [(String, capsnet_status, (inout ConvCall) -> Void)] = [
            ("capsule dim 0", Self.dimension, { $0.capsuleDim = 0 }),
            ("channels not a multiple of the capsule dim", Self.dimension, { $0.capsuleDim = 3 }),
            ("squashed format below 0", Self.shift, { $0.capsuleFrac = -1 }),
            ("squashed format above 15", Self.shift, { $0.capsuleFrac = 16 }),
            (
                "a capsule of 131072 values", Self.overflow,
                {
                    $0.params.kernel = capsnet_hw(h: 1, w: 1)
                    $0.outDims = capsnet_hwc(h: 4, w: 4, c: 131_072)
                    $0.capsuleDim = 131_072
                }
            ),
        ]
        Self.check(ConvCall(), Self.convCases + own) { c in
            let pin = Pinned()
            let params = capsnet_primary_capsule_params(
                conv: c.params, capsule_dim: c.capsuleDim, output_frac: c.capsuleFrac)
            return Self.onSentinel(64, null: c.nullArgument == "output") { output in
                capsnet_primary_capsule_q7(
                    Self.convContext(pin, c), pin.pointer(to: params, null: c.nullArgument == "params"),
                    pin.pointer(to: c.inDims, null: c.nullArgument == "inDims"),
                    pin.buffer(Self.convInput, null: c.nullArgument == "input"),
                    pin.buffer(Self.convWeights, null: c.nullArgument == "weights"),
                    pin.buffer(Self.convBias, null: c.noBias),
                    pin.pointer(to: c.outDims, null: c.nullArgument == "outDims"), output)
            }
        }
    }

    // MARK: Element-wise kernels

    @Test("capsnet_relu_q7")
    func relu() {
        var values: [Int8] = [-1, 2]
        #expect(capsnet_relu_q7(&values, 2) == Self.ok)
        #expect(capsnet_relu_q7(nil, 2) == Self.null)
        #expect(capsnet_relu_q7(&values, 0) == Self.dimension)
        #expect(capsnet_relu_q7(&values, -5) == Self.dimension)
    }

    @Test("capsnet_leaky_relu_q7: nothing is written when it refuses")
    func leakyReLU() {
        var values: [Int8] = [-100, 2]
        #expect(capsnet_leaky_relu_q7(&values, 2, 0) == Self.ok)
        #expect(capsnet_leaky_relu_q7(&values, 2, 32767) == Self.ok)
        #expect(capsnet_leaky_relu_q7(nil, 2, 9830) == Self.null)
        #expect(capsnet_leaky_relu_q7(&values, 0, 9830) == Self.dimension)
        let before = values
        #expect(capsnet_leaky_relu_q7(&values, 2, -1) == Self.argument)
        #expect(capsnet_leaky_relu_q7(&values, 2, 32768) == Self.argument)
        #expect(values == before)
    }

    /// Arguments of the kernels that map `count` vectors of `length` values with two formats.
    struct VectorCall {
        var count: Int32 = 3, length: Int32 = 4, inFrac: Int32 = 3, outFrac: Int32 = 7
        var nullInput = false, nullOutput = false
    }

    static var vectorCases: [(String, capsnet_status, (inout VectorCall) -> Void)] {
        [
            ("valid", ok, { _ in }),
            ("input NULL", null, { $0.nullInput = true }),
            ("output NULL", null, { $0.nullOutput = true }),
            ("no vectors", dimension, { $0.count = 0 }),
            ("vectors of length 0", dimension, { $0.length = 0 }),
            (
                "more than 2^31 values", dimension,
                {
                    $0.count = 1 << 16
                    $0.length = 1 << 16
                }
            ),
            ("input format above 15", shift, { $0.inFrac = 16 }),
            ("input format below -8", shift, { $0.inFrac = -9 }),
            ("output format above 15", shift, { $0.outFrac = 16 }),
            (
                "vectors of 131072 values", overflow,
                {
                    $0.count = 1
                    $0.length = 131_072
                }
            ),
        ]
    }

    static let vectorInput = [Int8](repeating: 9, count: 131_072)

    static func runVector(
        _ c: VectorCall,
        _ kernel: (UnsafeMutablePointer<Int8>?, VectorCall, UnsafeMutablePointer<Int8>?) -> capsnet_status
    ) -> (capsnet_status, Bool) {
        let pin = Pinned()
        return onSentinel(131_072, null: c.nullOutput) { kernel(pin.buffer(vectorInput, null: c.nullInput), c, $0) }
    }

    @Test("capsnet_squash_q7")
    func squash() {
        Self.check(VectorCall(), Self.vectorCases + [("output format below 0", Self.shift, { $0.outFrac = -1 })]) { c in
            Self.runVector(c) { capsnet_squash_q7($0, $1.count, $1.length, $1.inFrac, $1.outFrac, $2) }
        }
    }

    @Test("capsnet_capsule_length_q7")
    func length() {
        Self.check(VectorCall(), Self.vectorCases + [("output format below -8", Self.shift, { $0.outFrac = -9 })]) {
            c in
            Self.runVector(c) { capsnet_capsule_length_q7($0, $1.count, $1.length, $1.inFrac, $1.outFrac, $2) }
        }
    }

    @Test("capsnet_softmax_q7")
    func softmax() {
        struct Call {
            var vector = VectorCall()
            var scratch = Int(capsnet_softmax_q7_get_buffer_size())
            var nullContext = false, nullBuffer = false
        }
        let cases: [(String, capsnet_status, (inout Call) -> Void)] = [
            ("valid", Self.ok, { _ in }),
            ("context NULL", Self.null, { $0.nullContext = true }),
            ("scratch buffer NULL", Self.null, { $0.nullBuffer = true }),
            ("logits NULL", Self.null, { $0.vector.nullInput = true }),
            ("output NULL", Self.null, { $0.vector.nullOutput = true }),
            ("no rows", Self.dimension, { $0.vector.count = 0 }),
            ("rows of length 0", Self.dimension, { $0.vector.length = 0 }),
            ("logit format above 15", Self.shift, { $0.vector.inFrac = 16 }),
            ("logit format below -8", Self.shift, { $0.vector.inFrac = -9 }),
            (
                "rows of 65536 values", Self.overflow,
                {
                    $0.vector.count = 1
                    $0.vector.length = 65_536
                }
            ),
            ("scratch one byte short", Self.bufferSize, { $0.scratch -= 1 }),
        ]
        Self.check(Call(), cases) { c in
            let pin = Pinned()
            let ctx = capsnet_context(buf: pin.scratch(c.scratch, null: c.nullBuffer), size: Int32(c.scratch))
            return Self.runVector(c.vector) {
                capsnet_softmax_q7(pin.pointer(to: ctx, null: c.nullContext), $0, $1.count, $1.length, $1.inFrac, $2)
            }
        }
    }

    // MARK: Matrix functions

    struct MatCall {
        var m: Int32 = 2, k: Int32 = 3, n: Int32 = 4
        var formats = capsnet_mat_formats(a_frac: 7, b_frac: 6, out_frac: 5)
        var nullArgument: String?
    }

    static let matrixOperand = [Int8](repeating: 1, count: 131_072)

    static func runMatrix(
        _ c: MatCall,
        _ kernel: (
            UnsafeMutablePointer<Int8>?, UnsafeMutablePointer<Int8>?, UnsafeMutablePointer<capsnet_mat_formats>?,
            UnsafeMutablePointer<Int8>?
        ) -> capsnet_status
    ) -> (capsnet_status, Bool) {
        let pin = Pinned()
        return onSentinel(64, null: c.nullArgument == "out") {
            kernel(
                pin.buffer(matrixOperand, null: c.nullArgument == "a"),
                pin.buffer(matrixOperand, null: c.nullArgument == "b"),
                pin.pointer(to: c.formats, null: c.nullArgument == "formats"), $0)
        }
    }

    static var pointerCases: [(String, capsnet_status, (inout MatCall) -> Void)] {
        [
            ("valid", ok, { _ in }),
            ("a NULL", null, { $0.nullArgument = "a" }),
            ("b NULL", null, { $0.nullArgument = "b" }),
            ("formats NULL", null, { $0.nullArgument = "formats" }),
            ("out NULL", null, { $0.nullArgument = "out" }),
        ]
    }

    static var productCases: [(String, capsnet_status, (inout MatCall) -> Void)] {
        pointerCases + [
            ("m 0", dimension, { $0.m = 0 }),
            ("k 0", dimension, { $0.k = 0 }),
            ("n -1", dimension, { $0.n = -1 }),
            (
                "m * k above 2^31", dimension,
                {
                    $0.m = 1 << 16
                    $0.k = 1 << 16
                }
            ),
            ("a format above 15", shift, { $0.formats.a_frac = 16 }),
            ("out format below -8", shift, { $0.formats.out_frac = -9 }),
            ("output finer than the product", shift, { $0.formats.out_frac = 14 }),
            ("shift of 32", shift, { $0.formats = capsnet_mat_formats(a_frac: 15, b_frac: 15, out_frac: -2) }),
            (
                "k of 131072", overflow,
                {
                    $0.m = 1
                    $0.n = 1
                    $0.k = 131_072
                }
            ),
        ]
    }

    @Test("capsnet_mat_mult_q7")
    func matMult() {
        Self.check(MatCall(), Self.productCases) { c in
            Self.runMatrix(c) { capsnet_mat_mult_q7($0, $1, c.m, c.k, c.n, $2, $3) }
        }
    }

    @Test("capsnet_mat_mult_trans_b_q7")
    func matMultTransB() {
        Self.check(MatCall(), Self.productCases) { c in
            Self.runMatrix(c) { capsnet_mat_mult_trans_b_q7($0, $1, c.m, c.k, c.n, $2, $3) }
        }
    }

    @Test("capsnet_mat_add_q7")
    func matAdd() {
        let cases: [(String, capsnet_status, (inout MatCall) -> Void)] =
            Self.pointerCases + [
                ("size 0", Self.dimension, { $0.m = 0 }),
                ("b format below -8", Self.shift, { $0.formats.b_frac = -9 }),
                ("output finer than both operands", Self.shift, { $0.formats.out_frac = 8 }),
            ]
        Self.check(MatCall(), cases) { c in Self.runMatrix(c) { capsnet_mat_add_q7($0, $1, c.m * c.k, $2, $3) } }
    }

    @Test("capsnet_mat_transpose_q7")
    func transpose() {
        let cases: [(String, capsnet_status, (inout MatCall) -> Void)] = [
            ("valid", Self.ok, { _ in }),
            ("in NULL", Self.null, { $0.nullArgument = "a" }),
            ("out NULL", Self.null, { $0.nullArgument = "out" }),
            ("rows 0", Self.dimension, { $0.m = 0 }),
            ("cols 0", Self.dimension, { $0.k = 0 }),
            (
                "above 2^31 values", Self.dimension,
                {
                    $0.m = 1 << 16
                    $0.k = 1 << 16
                }
            ),
        ]
        Self.check(MatCall(), cases) { c in
            Self.runMatrix(c) { a, _, _, out in capsnet_mat_transpose_q7(a, c.m, c.k, out) }
        }
    }

    // MARK: Capsule layer

    struct LayerCall {
        var dims = capsnet_capsule_dims(num_inputs: 6, input_dim: 4, num_outputs: 3, output_dim: 5)
        var params = capsnet_capsule_params(
            input_frac: 7, weight_frac: 7, prediction_frac: 6, routings: 2, iterations: nil,
            memory: CAPSNET_ROUTING_KEEP_PREDICTIONS, weight_fracs: nil, precision: CAPSNET_ROUTING_Q7)
        var iterations = [
            capsnet_routing_formats(logit_frac: 0, sum_frac: 6, output_frac: 7, agreement_frac: 5),
            capsnet_routing_formats(logit_frac: 4, sum_frac: 6, output_frac: 7, agreement_frac: 5),
        ]
        var scratchShortfall: Int32 = 0
        var nullArgument: String?
        var split = capsnet_core_split(core_id: 0, num_cores: 1, barrier: nil, barrier_arg: nil)
    }

    @Test("capsnet_capsule_layer_q7, its split and their buffer sizes")
    func capsuleLayer() {
        let cases: [(String, capsnet_status, (inout LayerCall) -> Void)] = [
            ("valid", Self.ok, { _ in }),
            ("one routing iteration", Self.ok, { $0.params.routings = 1 }),
            ("context NULL", Self.null, { $0.nullArgument = "ctx" }),
            ("scratch buffer NULL", Self.null, { $0.nullArgument = "buf" }),
            ("params NULL", Self.null, { $0.nullArgument = "params" }),
            ("iterations NULL", Self.null, { $0.nullArgument = "iterations" }),
            ("dims NULL", Self.null, { $0.nullArgument = "dims" }),
            ("input NULL", Self.null, { $0.nullArgument = "input" }),
            ("weights NULL", Self.null, { $0.nullArgument = "weights" }),
            ("output NULL", Self.null, { $0.nullArgument = "output" }),
            ("no routing iteration", Self.dimension, { $0.params.routings = 0 }),
            ("no input capsules", Self.dimension, { $0.dims.num_inputs = 0 }),
            ("input capsules of size 0", Self.dimension, { $0.dims.input_dim = 0 }),
            ("no output capsules", Self.dimension, { $0.dims.num_outputs = 0 }),
            ("output capsules of size 0", Self.dimension, { $0.dims.output_dim = 0 }),
            (
                "weights above 2^31 values", Self.dimension,
                {
                    $0.dims.input_dim = 1 << 16
                    $0.dims.num_inputs = 1 << 14
                }
            ),
            ("prediction finer than W u", Self.shift, { $0.params.prediction_frac = 15 }),
            ("weight format above 15", Self.shift, { $0.params.weight_frac = 16 }),
            ("logit format below -8", Self.shift, { $0.iterations[0].logit_frac = -9 }),
            ("sum finer than c u_hat", Self.shift, { $0.iterations[1].sum_frac = 14 }),
            ("squashed format below 0", Self.shift, { $0.iterations[0].output_frac = -1 }),
            ("agreement finer than u_hat v", Self.shift, { $0.iterations[0].agreement_frac = 14 }),
            ("updated logits finer than both terms", Self.shift, { $0.iterations[1].logit_frac = 6 }),
            ("the last agreement format is not used", Self.ok, { $0.iterations[1].agreement_frac = 99 }),
            (
                "input capsules of 131072 values", Self.overflow,
                { $0.dims = capsnet_capsule_dims(num_inputs: 1, input_dim: 131_072, num_outputs: 1, output_dim: 1) }
            ),
            (
                "131072 input capsules", Self.overflow,
                { $0.dims = capsnet_capsule_dims(num_inputs: 131_072, input_dim: 1, num_outputs: 1, output_dim: 1) }
            ),
            (
                "output capsules of 131072 values", Self.overflow,
                { $0.dims = capsnet_capsule_dims(num_inputs: 1, input_dim: 1, num_outputs: 1, output_dim: 131_072) }
            ),
            (
                "65536 output capsules", Self.overflow,
                { $0.dims = capsnet_capsule_dims(num_inputs: 1, input_dim: 1, num_outputs: 65_536, output_dim: 1) }
            ),
            ("scratch one byte short", Self.bufferSize, { $0.scratchShortfall = 1 }),
            ("predictions recomputed", Self.ok, { $0.params.memory = CAPSNET_ROUTING_RECOMPUTE_PREDICTIONS }),
            (
                "recomputed, scratch one byte short", Self.bufferSize,
                {
                    $0.params.memory = CAPSNET_ROUTING_RECOMPUTE_PREDICTIONS
                    $0.scratchShortfall = 1
                }
            ),
            ("an unknown routing memory", Self.dimension, { $0.params.memory = capsnet_routing_memory(rawValue: 2) }),
            ("17 routing iterations", Self.dimension, { $0.params.routings = 17 }),
            ("two cores without a barrier", Self.null, { $0.split.num_cores = 2 }),
            ("core id out of range", Self.dimension, { $0.split.core_id = 1 }),
        ]
        Self.check(LayerCall(), cases) { c in
            let pin = Pinned()
            var dims = c.dims
            var params = c.params
            var split = c.split
            params.iterations = UnsafePointer(pin.buffer(c.iterations, null: c.nullArgument == "iterations"))
            let size = max(0, capsnet_capsule_layer_q7_split_get_buffer_size(&params, &dims, max(split.num_cores, 1)))
            let ctx = capsnet_context(
                buf: pin.scratch(Int(size), null: c.nullArgument == "buf"), size: size - c.scratchShortfall)
            return Self.onSentinel(131_072, null: c.nullArgument == "output") {
                capsnet_capsule_layer_q7_split(
                    pin.pointer(to: ctx, null: c.nullArgument == "ctx"),
                    pin.pointer(to: params, null: c.nullArgument == "params"),
                    pin.pointer(to: dims, null: c.nullArgument == "dims"),
                    pin.buffer(Self.matrixOperand, null: c.nullArgument == "input"),
                    pin.buffer(Self.matrixOperand, null: c.nullArgument == "weights"), $0, &split)
            }
        }
        var params = LayerCall().params
        var dims = LayerCall().dims
        #expect(capsnet_capsule_layer_q7_get_buffer_size(nil, &dims) == Self.null.rawValue)
        #expect(capsnet_capsule_layer_q7_get_buffer_size(&params, nil) == Self.null.rawValue)
        #expect(capsnet_capsule_layer_q7_get_buffer_size(&params, &dims) == Self.null.rawValue, "no iterations")
        LayerCall().iterations.withUnsafeBufferPointer { formats in
            params.iterations = formats.baseAddress
            var zero = capsnet_capsule_dims(num_inputs: 0, input_dim: 1, num_outputs: 1, output_dim: 1)
            #expect(capsnet_capsule_layer_q7_get_buffer_size(&params, &zero) == Self.dimension.rawValue)
            var huge = capsnet_capsule_dims(num_inputs: 1 << 15, input_dim: 1, num_outputs: 1 << 8, output_dim: 1 << 8)
            #expect(capsnet_capsule_layer_q7_get_buffer_size(&params, &huge) == Self.dimension.rawValue)
            #expect(capsnet_capsule_layer_q7_split_get_buffer_size(&params, &dims, 0) == Self.dimension.rawValue)
            let one = capsnet_capsule_layer_q7_split_get_buffer_size(&params, &dims, 1)
            let two = capsnet_capsule_layer_q7_split_get_buffer_size(&params, &dims, 2)
            let three = capsnet_capsule_layer_q7_split_get_buffer_size(&params, &dims, 3)
            #expect(two - one >= 3 * 5 * 4, "a core adds J*D partial sums")
            #expect(three - two == 64, "each core's partial sums on whole 64-byte lines; the kept tensors are shared")
            params.memory = CAPSNET_ROUTING_RECOMPUTE_PREDICTIONS
            let recomputed = capsnet_capsule_layer_q7_get_buffer_size(&params, &dims)
            #expect(
                one - recomputed == 6 * 3 * 5 + 3 * 6 - 3 * (1 + 5),
                "kept predictions I*J*D and couplings J*I against one capsule's couplings and J*D predictions; both keep J*I logits")
            let recomputedTwo = capsnet_capsule_layer_q7_split_get_buffer_size(&params, &dims, 2)
            let recomputedThree = capsnet_capsule_layer_q7_split_get_buffer_size(&params, &dims, 3)
            #expect(recomputedThree - recomputedTwo == 2 * 64, "each core's partial sums and own bytes on whole 64-byte lines")
            params.routings = 1
            #expect(
                recomputed - capsnet_capsule_layer_q7_get_buffer_size(&params, &dims) == 3 * 6 + 3 * 5,
                "one routing recomputed: no logits, no history")
            params.routings = 2
            params.memory = CAPSNET_ROUTING_KEEP_PREDICTIONS
            params.routings = 1
            #expect(
                one - capsnet_capsule_layer_q7_get_buffer_size(&params, &dims) == 3 * 5 + 2 * 3 * 6 - 6,
                "one routing: no history, no logits, one row of couplings")
        }
    }
}
