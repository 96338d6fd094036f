/// Copies of values and arrays at stable addresses, freed when the `Pinned` goes away: arguments
/// for direct C calls. Arrays get buffers of exactly their length, so that AddressSanitizer flags
/// any access past their end.
final class Pinned {
    private var allocations: [UnsafeMutableRawPointer] = []

    deinit { allocations.forEach { $0.deallocate() } }

    /// A pointer to a copy of `value`, or nil when `null` is true.
    func pointer<T>(to value: T, null: Bool = false) -> UnsafeMutablePointer<T>? {
        guard !null else { return nil }
        let p = UnsafeMutablePointer<T>.allocate(capacity: 1)
        p.initialize(to: value)
        allocations.append(UnsafeMutableRawPointer(p))
        return p
    }

    /// A buffer holding exactly the values of `array`, or nil when `null` is true.
    func buffer<T>(_ array: [T], null: Bool = false) -> UnsafeMutablePointer<T>? {
        guard !null else { return nil }
        let p = UnsafeMutablePointer<T>.allocate(capacity: max(array.count, 1))
        p.initialize(from: array, count: array.count)
        allocations.append(UnsafeMutableRawPointer(p))
        return p
    }

    /// Raw scratch memory of `bytes` bytes, or nil when `null` is true.
    func scratch(_ bytes: Int, null: Bool = false) -> UnsafeMutableRawPointer? {
        guard !null else { return nil }
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: 16)
        allocations.append(p)
        return p
    }
}
