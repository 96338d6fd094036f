import CapsNetRuntime
import Testing

/// The split kernels: every core count writes exactly what the one-core kernel writes.
@Suite("Core splits")
struct SplitTests {
    /// A random convolution case, as ConvolutionTests draws them, with outC a multiple of `dim`.
    static func randomCase(_ g: inout SeededGenerator, dim: Int = 1) -> Reference.Conv {
        var c = Reference.Conv(
            inH: g.int(1...11), inW: g.int(1...9), inC: g.int(1...4), outH: 0, outW: 0, outC: dim * g.int(1...4),
            kH: g.int(1...4), kW: g.int(1...4), strideH: g.int(1...3), strideW: g.int(1...3), padH: 0, padW: 0,
            inFrac: 0, weightFrac: 0, biasFrac: 0, outFrac: 0)
        c.padH = g.int(0...c.kH - 1)
        c.padW = g.int(0...c.kW - 1)
        c.outH = (c.inH - 1 + c.padH) / c.strideH + 1
        c.outW = (c.inW - 1 + c.padW) / c.strideW + 1
        ConvolutionTests.randomFormats(&c, &g)
        ConvolutionTests.randomActivation(&c, &g)
        return c
    }

    static func parameters(_ c: Reference.Conv) -> capsnet_conv_params {
        capsnet_conv_params(
            kernel: capsnet_hw(h: Int32(c.kH), w: Int32(c.kW)),
            stride: capsnet_hw(h: Int32(c.strideH), w: Int32(c.strideW)),
            padding: capsnet_hw(h: Int32(c.padH), w: Int32(c.padW)), input_frac: Int32(c.inFrac),
            weight_frac: Int32(c.weightFrac), bias_frac: Int32(c.biasFrac), output_frac: Int32(c.outFrac),
            activation: c.activation, weight_fracs: nil)
    }

    @Test("convolution: 1 to 8 cores write the one-core output, each core only its rows")
    func convolution() throws {
        var g = SeededGenerator(seed: 0x5711)
        for _ in 0..<120 {
            let c = Self.randomCase(&g)
            var params = Self.parameters(c)
            var inDims = capsnet_hwc(h: Int32(c.inH), w: Int32(c.inW), c: Int32(c.inC))
            var outDims = capsnet_hwc(h: Int32(c.outH), w: Int32(c.outW), c: Int32(c.outC))
            let input = g.int8s(c.inH * c.inW * c.inC)
            let weights = g.int8s(c.outC * c.kH * c.kW * c.inC)
            let bias = g.int8s(c.outC)
            let whole = try Kernels.convolution(
                input, shape: inDims, weights: weights, bias: bias, parameters: params, outputShape: outDims)
            for cores in 1...8 {
                var output = [Int8](repeating: 99, count: whole.count)
                let scratch = Scratch(capsnet_conv_hwc_q7_split_get_buffer_size(&params, &inDims, Int32(cores)))
                // Cores in reverse order: the result must not depend on who runs first.
                for core in (0..<cores).reversed() {
                    var split = capsnet_core_split(core_id: Int32(core), num_cores: Int32(cores), barrier: nil, barrier_arg: nil)
                    #expect(
                        capsnet_conv_hwc_q7_split(
                            &scratch.context, &params, &inDims, input, weights, bias, &outDims, &output, &split)
                            == CAPSNET_OK)
                }
                #expect(output == whole, "\(c), \(cores) cores")
            }
        }
    }

    @Test("primary capsules: 1 to 8 cores write the one-core output, squash included")
    func primaryCapsules() throws {
        var g = SeededGenerator(seed: 0x9A1)
        for _ in 0..<60 {
            let dim = g.int(1...4)
            let c = Self.randomCase(&g, dim: dim)
            var params = capsnet_primary_capsule_params(
                conv: Self.parameters(c), capsule_dim: Int32(dim), output_frac: Int32(g.int(0...7)))
            var inDims = capsnet_hwc(h: Int32(c.inH), w: Int32(c.inW), c: Int32(c.inC))
            var outDims = capsnet_hwc(h: Int32(c.outH), w: Int32(c.outW), c: Int32(c.outC))
            let input = g.int8s(c.inH * c.inW * c.inC)
            let weights = g.int8s(c.outC * c.kH * c.kW * c.inC)
            let bias = g.int8s(c.outC)
            let whole = try Kernels.primaryCapsules(
                input, shape: inDims, weights: weights, bias: bias, parameters: params, outputShape: outDims)
            for cores in 1...8 {
                var output = [Int8](repeating: 99, count: whole.count)
                let scratch = Scratch(capsnet_primary_capsule_q7_split_get_buffer_size(&params, &inDims, Int32(cores)))
                for core in 0..<cores {
                    var split = capsnet_core_split(core_id: Int32(core), num_cores: Int32(cores), barrier: nil, barrier_arg: nil)
                    #expect(
                        capsnet_primary_capsule_q7_split(
                            &scratch.context, &params, &inDims, input, weights, bias, &outDims, &output, &split)
                            == CAPSNET_OK)
                }
                #expect(output == whole, "\(c), dim \(dim), \(cores) cores")
            }
        }
    }

    @Test("capsule layer: 1 to 8 threads meeting at the barrier write the one-core output, both memories")
    func capsuleLayer() throws {
        var g = SeededGenerator(seed: 0xCA95)
        let teams = (1...8).map { CoreTeam(cores: $0) }
        for _ in 0..<40 {
            let l = CapsuleTests.randomLayer(
                &g, inputs: g.int(1...40), inputDim: g.int(1...6), outputs: g.int(1...12), outputDim: g.int(1...6),
                routings: g.int(1...4))
            let input = g.int8s(l.inputs * l.inputDim)
            let weights = g.int8s(l.outputs * l.inputs * l.outputDim * l.inputDim)
            let whole = try CapsuleTests.run(l, input: input, weights: weights)
            let formats = l.iterations.map {
                capsnet_routing_formats(
                    logit_frac: Int32($0.logit), sum_frac: Int32($0.sum), output_frac: Int32($0.output),
                    agreement_frac: Int32($0.agreement))
            }
            for memory in [CAPSNET_ROUTING_KEEP_PREDICTIONS, CAPSNET_ROUTING_RECOMPUTE_PREDICTIONS] {
                for team in teams {
                    let memoryShared = SharedMemory(outputs: whole.count, cores: team.cores)
                    team.perform { core in
                        var dims = capsnet_capsule_dims(
                            num_inputs: Int32(l.inputs), input_dim: Int32(l.inputDim), num_outputs: Int32(l.outputs),
                            output_dim: Int32(l.outputDim))
                        formats.withUnsafeBufferPointer { formats in
                            var params = capsnet_capsule_params(
                                input_frac: Int32(l.inputFrac), weight_frac: Int32(l.weightFrac),
                                prediction_frac: Int32(l.predictionFrac), routings: Int32(formats.count),
                                iterations: formats.baseAddress, memory: memory, weight_fracs: nil,
                                precision: CAPSNET_ROUTING_Q7)
                            var context = capsnet_context(buf: memoryShared.scratch, size: memoryShared.scratchBytes)
                            var split = team.barrier.split(core: core)
                            memoryShared.statuses[core] = capsnet_capsule_layer_q7_split(
                                &context, &params, &dims, input, weights, memoryShared.output.baseAddress, &split)
                        }
                    }
                    #expect(memoryShared.statuses.allSatisfy { $0 == CAPSNET_OK }, "\(l), \(team.cores) cores")
                    #expect(Array(memoryShared.output) == whole, "\(l), \(memory), \(team.cores) cores")
                }
            }
        }
    }

    @Test("self-attention layer: 1 to 8 threads meeting at the barrier write the one-core output")
    func selfAttentionLayer() throws {
        var g = SeededGenerator(seed: 0x5E23)
        let teams = (1...8).map { CoreTeam(cores: $0) }
        for _ in 0..<40 {
            let l = SelfAttentionTests.randomLayer(
                &g, inputs: g.int(1...40), inputDim: g.int(1...6), outputs: g.int(1...12), outputDim: g.int(1...8))
            let input = g.int8s(l.inputs * l.inputDim)
            let weights = g.int8s(l.outputs * l.inputs * l.outputDim * l.inputDim)
            let bias = g.int8s(l.outputs * l.inputs)
            let whole = try SelfAttentionTests.run(l, input: input, weights: weights, bias: bias)
            for team in teams {
                let memory = SharedMemory(outputs: whole.count, cores: team.cores)
                team.perform { core in
                    var dims = SelfAttentionTests.dims(l)
                    var params = SelfAttentionTests.parameters(l)
                    var context = capsnet_context(buf: memory.scratch, size: memory.scratchBytes)
                    var split = team.barrier.split(core: core)
                    memory.statuses[core] = capsnet_self_attention_capsule_q7_split(
                        &context, &params, &dims, input, weights, bias, memory.output.baseAddress, &split)
                }
                #expect(memory.statuses.allSatisfy { $0 == CAPSNET_OK }, "\(l), \(team.cores) cores")
                #expect(Array(memory.output) == whole, "\(l), \(team.cores) cores")
            }
        }
        // Several cores without a barrier, and an invalid split, are refused.
        let l = SelfAttentionTests.randomLayer(&g, inputs: 2, inputDim: 2, outputs: 2, outputDim: 2)
        var dims = SelfAttentionTests.dims(l)
        var params = SelfAttentionTests.parameters(l)
        let scratch = Scratch(capsnet_self_attention_capsule_q7_split_get_buffer_size(&dims, 2))
        for (split, status) in [
            (capsnet_core_split(core_id: 0, num_cores: 2, barrier: nil, barrier_arg: nil), CAPSNET_ERROR_NULL_POINTER),
            (capsnet_core_split(core_id: 2, num_cores: 2, barrier: nil, barrier_arg: nil), CAPSNET_ERROR_NULL_POINTER),
            (capsnet_core_split(core_id: 1, num_cores: 1, barrier: nil, barrier_arg: nil), CAPSNET_ERROR_DIMENSION),
        ] {
            var split = split
            var output = [Int8](repeating: 99, count: 4)
            #expect(
                capsnet_self_attention_capsule_q7_split(
                    &scratch.context, &params, &dims, [1, 2, 3, 4], [Int8](repeating: 5, count: 16), [0, 0, 0, 0],
                    &output, &split) == status)
            #expect(output == [99, 99, 99, 99])
        }
    }

    @Test("an invalid split is refused and nothing is written")
    func invalidSplits() {
        var params = capsnet_conv_params(
            kernel: capsnet_hw(h: 1, w: 1), stride: capsnet_hw(h: 1, w: 1), padding: capsnet_hw(h: 0, w: 0),
            input_frac: 7, weight_frac: 7, bias_frac: 7, output_frac: 7, activation: Activation.none.cValue, weight_fracs: nil)
        var dims = capsnet_hwc(h: 2, w: 2, c: 1)
        let input: [Int8] = [1, 2, 3, 4]
        let weights: [Int8] = [64]
        let scratch = Scratch(capsnet_conv_hwc_q7_split_get_buffer_size(&params, &dims, 8))
        for (core, cores) in [(0, 0), (-1, 2), (2, 2), (5, 3), (0, Int(CAPSNET_CORES_MAX) + 1)] {
            var output = [Int8](repeating: 99, count: 4)
            var split = capsnet_core_split(core_id: Int32(core), num_cores: Int32(cores), barrier: nil, barrier_arg: nil)
            #expect(
                capsnet_conv_hwc_q7_split(&scratch.context, &params, &dims, input, weights, nil, &dims, &output, &split)
                    == CAPSNET_ERROR_DIMENSION)
            #expect(output == [99, 99, 99, 99])
        }
        var output = [Int8](repeating: 99, count: 4)
        #expect(
            capsnet_conv_hwc_q7_split(&scratch.context, &params, &dims, input, weights, nil, &dims, &output, nil)
                == CAPSNET_ERROR_NULL_POINTER)
        // Three cores need three cores' scratch.
        var split = capsnet_core_split(core_id: 0, num_cores: 3, barrier: nil, barrier_arg: nil)
        let short = Scratch(capsnet_conv_hwc_q7_split_get_buffer_size(&params, &dims, 3) - 1)
        #expect(
            capsnet_conv_hwc_q7_split(&short.context, &params, &dims, input, weights, nil, &dims, &output, &split)
                == CAPSNET_ERROR_BUFFER_SIZE)
    }
}

/// Scratch of exactly `bytes` bytes (AddressSanitizer catches a kernel that goes past it), with its context.
private final class Scratch {
    let storage: UnsafeMutableRawBufferPointer
    var context: capsnet_context

    init(_ bytes: Int32) {
        storage = .allocate(byteCount: Int(max(bytes, 1)), alignment: 1)
        context = capsnet_context(buf: storage.baseAddress, size: bytes)
    }

    deinit { storage.deallocate() }
}

/// What the threads of a team write: an output, a status per core, and a scratch buffer large
/// enough for every layer the capsule test draws.
private final class SharedMemory: @unchecked Sendable {
    let output: UnsafeMutableBufferPointer<Int8>
    let statuses: UnsafeMutableBufferPointer<capsnet_status>
    let scratchBytes: Int32 = 1 << 16
    let scratch: UnsafeMutableRawPointer

    init(outputs: Int, cores: Int) {
        output = .allocate(capacity: outputs)
        output.initialize(repeating: 99)
        statuses = .allocate(capacity: cores)
        statuses.initialize(repeating: CAPSNET_ERROR_DIMENSION)
        scratch = .allocate(byteCount: Int(scratchBytes), alignment: 1)
    }

    deinit {
        output.deallocate()
        statuses.deallocate()
        scratch.deallocate()
    }
}
