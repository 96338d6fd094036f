import Synchronization

extension Int8Engine {
    /// The engine on every core of a `CoreTeam`, PULP-cluster style: the convolutions split their
    /// output rows, the capsule layer its input capsules (and its output capsules after each routing
    /// iteration), and the cores meet at a barrier after every layer. The bytes are the same for
    /// every team size.
    ///
    /// The arena is planned for the team and allocated once. Image after image, each core then
    /// finds its share of the arena (its output rows, its predictions and partial sums) still in
    /// its own cache; a fresh arena per image sat in the caller's cache, zeroed, and every other
    /// core pulled its lines across. A runner runs one image at a time for one caller.
    public final class TeamRunner {
        public let engine: Int8Engine
        public let team: CoreTeam
        /// The arena layout for `team.cores` cores.
        public let plan: ArenaPlan
        private let arena: UnsafeMutableRawBufferPointer

        init(_ engine: Int8Engine, on team: CoreTeam) {
            self.engine = engine
            self.team = team
            plan = ArenaPlan(engine.model, routing: engine.routing, cores: team.cores)
            arena = .allocate(byteCount: max(plan.bytes, 1), alignment: 64)
            arena.initializeMemory(as: UInt8.self, repeating: 0)
        }

        deinit {
            arena.deallocate()
        }

        /// The int8 output of one int8 image.
        public func run(_ input: [Int8]) throws(EngineError) -> [Int8] {
            try engine.checkLength(input)
            let (engine, plan, team) = (engine, plan, team)
            nonisolated(unsafe) let base = arena.baseAddress!
            engine.load(input, into: base, plan: plan)
            let failure = Mutex<(layer: Int, status: capsnet_status)?>(nil)
            team.perform { core in
                let split = team.barrier.split(core: core)
                for index in engine.model.layers.indices {
                    let layer = engine.model.layers[index]
                    if layer.kind.splitsOverCores || core == 0 {
                        let status = engine.step(index, base: base, plan: plan, split: split)
                        if status != CAPSNET_OK { failure.withLock { $0 = $0 ?? (index, status) } }
                    }
                    team.barrier.wait()
                    if failure.withLock({ $0 != nil }) { return }
                }
            }
            if let (index, status) = failure.withLock({ $0 }) {
                throw engine.layerError(index, status)
            }
            return engine.output(in: UnsafeRawPointer(base), plan: plan)
        }
    }
}
