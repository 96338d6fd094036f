import Foundation
import Synchronization

/// Threads that run one inference together, the way a PULP cluster's cores do: every member runs
/// the same code with its own core id, and `CoreBarrier` holds them together between steps.
///
/// The caller's thread is core 0; the others are threads the team keeps for its whole life, so
/// that running an image costs a wake-up rather than a thread start. A team runs one job at a time.
public final class CoreTeam: @unchecked Sendable {
    /// Threads in the team, the caller's included.
    public let cores: Int
    /// The barrier the team's jobs synchronise on.
    public let barrier: CoreBarrier

    private let shared: Shared
    private let jobLock = Mutex(())

    /// A team of `cores` threads (at least 1).
    public init(cores: Int) {
        self.cores = max(cores, 1)
        barrier = CoreBarrier(parties: self.cores)
        shared = Shared(workers: self.cores - 1)
        for core in 1..<self.cores {
            let thread = Thread { [shared] in shared.work(as: core) }
            thread.name = "capsnet core \(core)"
            thread.start()
        }
    }

    deinit {
        shared.stop()
    }

    /// Runs `body(core)` on every core, `core` from 0 to `cores - 1`, and returns when all are done.
    public func perform(_ body: @escaping @Sendable (Int) -> Void) {
        jobLock.withLock { _ in
            shared.job = body
            shared.running.store(cores - 1, ordering: .releasing)
            shared.generation.add(1, ordering: .releasing)
            shared.wakeSleepers()
            body(0)
            var spins = 0
            while shared.running.load(ordering: .acquiring) > 0 {
                spins += 1
                if spins > 100 { sched_yield() }
            }
            shared.job = nil
        }
    }

    /// What the worker threads share with the team; they keep it alive after the team is gone.
    ///
    /// A worker polls `generation` for a while after each job, so that back-to-back images cost no
    /// wake-up, then sleeps on its semaphore. It announces the sleep in `announced` and checks
    /// `generation` once more; `perform` signals only the workers whose flag it takes back, so a
    /// job is never missed and a signal never left over.
    private final class Shared: @unchecked Sendable {
        /// One worker's sleep: its semaphore and whether it waits on it.
        final class Sleep: Sendable {
            let semaphore = DispatchSemaphore(value: 0)
            let announced = Atomic<Bool>(false)

            /// Takes the announcement back; true if the worker had not done so itself first.
            func cancel() -> Bool {
                announced.compareExchange(expected: true, desired: false, ordering: .acquiringAndReleasing).exchanged
            }
        }

        let sleeps: [Sleep]
        let generation = Atomic<Int>(0)
        let running = Atomic<Int>(0)
        let stopping = Atomic<Bool>(false)
        // Written by `perform` before `generation` moves on, read by the workers after.
        var job: (@Sendable (Int) -> Void)?

        init(workers: Int) {
            sleeps = (0..<workers).map { _ in Sleep() }
        }

        /// Wakes the workers that went to sleep; call after moving `generation` on.
        func wakeSleepers() {
            for sleep in sleeps where sleep.cancel() { sleep.semaphore.signal() }
        }

        func stop() {
            stopping.store(true, ordering: .releasing)
            generation.add(1, ordering: .releasing)
            wakeSleepers()
        }

        func work(as core: Int) {
            let worker = core - 1
            var seen = 0
            while true {
                seen = waitForJob(worker, after: seen)
                if stopping.load(ordering: .acquiring) { return }
                job?(core)
                running.subtract(1, ordering: .releasing)
            }
        }

        /// Returns the generation of the next job.
        private func waitForJob(_ worker: Int, after seen: Int) -> Int {
            // About a millisecond of polling: longer than the gap between two images of a run.
            for spin in 0..<20_000 {
                let current = generation.load(ordering: .acquiring)
                if current != seen { return current }
                if spin > 100 { sched_yield() }
            }
            let sleep = sleeps[worker]
            sleep.announced.store(true, ordering: .releasing)
            let current = generation.load(ordering: .acquiring)
            if current != seen, sleep.cancel() { return current }
            sleep.semaphore.wait()
            return generation.load(ordering: .acquiring)
        }
    }
}

/// A sense-reversing barrier for a fixed number of threads: `wait()` returns once all of them
/// have called it. Waiters spin briefly, then yield the core, so that more threads than cores
/// (eight on this two-core machine, in the tests) still make progress.
public final class CoreBarrier: Sendable {
    public let parties: Int
    private let arrived = Atomic<Int>(0)
    private let generation = Atomic<Int>(0)

    public init(parties: Int) {
        self.parties = max(parties, 1)
    }

    public func wait() {
        let current = generation.load(ordering: .acquiring)
        if arrived.add(1, ordering: .acquiringAndReleasing).newValue == parties {
            arrived.store(0, ordering: .relaxed)
            generation.add(1, ordering: .releasing)
            return
        }
        var spins = 0
        while generation.load(ordering: .acquiring) == current {
            spins += 1
            if spins > 100 { sched_yield() }
        }
    }

    /// The barrier as the C kernels take it (`capsnet_core_split.barrier` and `barrier_arg`).
    public func split(core: Int) -> capsnet_core_split {
        capsnet_core_split(
            core_id: Int32(core), num_cores: Int32(parties),
            barrier: { argument in
                guard let argument else { return }
                Unmanaged<CoreBarrier>.fromOpaque(argument).takeUnretainedValue().wait()
            },
            barrier_arg: Unmanaged.passUnretained(self).toOpaque())
    }
}
