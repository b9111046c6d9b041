import Synchronization

/// Where `FloatBuffer`s come from: while a loop keeps the arena (`begin()` … `end()`), a freed
/// block waits for the next request of its size class (sizes rounded up to 1/16 of an octave, at
/// most 6% more), so a training step, which asks for the sizes of the step before (activations,
/// their gradients, op scratch), gets every block from the arena and none from the system.
/// A loop announces each batch's shape (`beginBatch(shape:)`): a shape other than the last one
/// (batches padded to their longest example, an evaluation) returns every waiting block to the
/// system, whose heap then gives that memory to the new sizes, so a loop whose shapes vary holds
/// what a general heap would, not a working set per shape. `endStep()` returns what waited
/// through a whole step and the one before. Outside, blocks go straight back to the system.
/// Thread-safe; one arena per process, as PyTorch's caching allocator.
/// reference: PyTorch c10 CUDACachingAllocator (size classes, reuse of freed blocks, release of unused ones)
public enum StepArena {
    /// Counts since the process started.
    public struct Statistics: Equatable, Sendable {
        /// Blocks asked of the system, and their bytes.
        public var systemAllocations = 0, systemBytes = 0
        /// Requests served by a block freed earlier, and the bytes of the blocks.
        public var reuses = 0, reusedBytes = 0
        /// Bytes waiting in the arena now.
        public var cachedBytes = 0
    }

    /// A freed block and the step in which it was freed.
    private struct Entry {
        let pointer: UnsafeMutablePointer<Float>
        let step: Int
    }

    private struct State {
        var keepers = 0
        var step = 0
        var batchShape: [Int] = []
        /// Waiting blocks by capacity (a size class).
        var free: [Int: [Entry]] = [:]
        var statistics = Statistics()

        /// Takes the waiting blocks `isReleased` picks off the lists and returns them.
        mutating func release(_ isReleased: (Entry) -> Bool) -> [UnsafeMutablePointer<Float>] {
            var released: [UnsafeMutablePointer<Float>] = []
            for (capacity, entries) in free where entries.contains(where: isReleased) {
                let kept = entries.filter { !isReleased($0) }
                released += entries.filter(isReleased).map(\.pointer)
                statistics.cachedBytes -= (entries.count - kept.count) * StepArena.bytes(capacity)
                free[capacity] = kept.isEmpty ? nil : kept
            }
            return released
        }
    }

    private static let state = Mutex(State())

    /// The counts so far.
    public static var statistics: Statistics { state.withLock { $0.statistics } }

    /// Starts keeping freed blocks (calls nest: the arena keeps them until the last `end()`).
    public static func begin() { state.withLock { $0.keepers += 1 } }

    /// Ends a step: frees the blocks that waited through this step and the one before.
    public static func endStep() {
        let idle = state.withLock { s -> [UnsafeMutablePointer<Float>] in
            let now = s.step
            let idle = s.release { $0.step < now - 1 }
            s.step += 1
            return idle
        }
        deallocate(idle)
    }

    /// Announces the shape of the batch about to run: when it differs from the last one, every
    /// waiting block goes back to the system (its sizes will not be asked for soon).
    public static func beginBatch(shape: [Int]) {
        let idle = state.withLock { s -> [UnsafeMutablePointer<Float>] in
            guard s.batchShape != shape else { return [] }
            s.batchShape = shape
            return s.release { _ in true }
        }
        deallocate(idle)
    }

    /// Stops keeping blocks when no other keeper remains, and frees the waiting ones then.
    public static func end() {
        let idle = state.withLock { s -> [UnsafeMutablePointer<Float>] in
            precondition(s.keepers > 0, "StepArena.end without begin")
            s.keepers -= 1
            guard s.keepers == 0 else { return [] }
            return s.release { _ in true }
        }
        deallocate(idle)
    }

    /// Returns blocks taken off the lists to the system (outside the lock).
    private static func deallocate(_ blocks: [UnsafeMutablePointer<Float>]) {
        for pointer in blocks { UnsafeMutableRawPointer(pointer).deallocate() }
    }

    /// A block of at least `count` Floats (64-byte aligned), waiting or new, and its capacity.
    static func take(_ count: Int) -> (UnsafeMutablePointer<Float>, capacity: Int) {
        let capacity = sizeClass(count)
        let waiting = state.withLock { s -> UnsafeMutablePointer<Float>? in
            if s.keepers > 0, let entry = s.free[capacity]?.popLast() {
                s.statistics.reuses += 1
                s.statistics.reusedBytes += Self.bytes(capacity)
                s.statistics.cachedBytes -= Self.bytes(capacity)
                return entry.pointer
            }
            s.statistics.systemAllocations += 1
            s.statistics.systemBytes += Self.bytes(capacity)
            return nil
        }
        if let waiting { return (waiting, capacity) }
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: Self.bytes(capacity), alignment: 64)
        return (pointer.bindMemory(to: Float.self, capacity: max(capacity, 1)), capacity)
    }

    /// Takes back a block of `capacity` Floats from `take`.
    static func give(_ pointer: UnsafeMutablePointer<Float>, capacity: Int) {
        let kept = state.withLock { s -> Bool in
            guard s.keepers > 0 else { return false }
            s.free[capacity, default: []].append(Entry(pointer: pointer, step: s.step))
            s.statistics.cachedBytes += Self.bytes(capacity)
            return true
        }
        if !kept { UnsafeMutableRawPointer(pointer).deallocate() }
    }

    /// `count` rounded up to keep its five leading bits (16 to 32 classes an octave; counts up to
    /// 32 exact), so requests a few percent apart share waiting blocks.
    static func sizeClass(_ count: Int) -> Int {
        guard count > 32 else { return count }
        let unit = 1 << (Int.bitWidth - count.leadingZeroBitCount - 5)
        return (count + unit - 1) / unit * unit
    }

    /// The bytes a block of `capacity` Floats occupies (at least one Float).
    private static func bytes(_ capacity: Int) -> Int { max(capacity, 1) * MemoryLayout<Float>.stride }
}
