import CKernels
import Dispatch
import Foundation
import Synchronization

/// A small parallel-for over index ranges, used by the fused ops to keep every core busy.
///
/// Work is cut into contiguous chunks that the cores take dynamically. A BLAS call inside a chunk
/// runs on the chunk's core; a region started from inside another runs serially. Regions too small to pay for the
/// hand-off (`count · costPerItem` below about 32k operations) run on the calling thread.
public enum Parallel {
    /// The number of cores used: `KernelOptions.workers` when set at start, else the CPUs this
    /// process may run on (so that ranks bound to one core each by `mpirun` use one thread each).
    public static var workerCount: Int {
        let configured = configuredWorkers.load(ordering: .relaxed)
        return configured > 0 ? configured : availableCPUs
    }

    /// The CPUs this process may run on.
    public static let availableCPUs: Int = {
        let allowed = Int(loft_available_cpus())
        return max(
            1,
            allowed > 0
                ? min(allowed, ProcessInfo.processInfo.activeProcessorCount)
                : ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// Set at start by `KernelOptions.apply` (0: the available CPUs), read by every region.
    static let configuredWorkers = Atomic<Int>(0)
    /// Whether regions run on Dispatch's pool instead of Loft's own (`KernelOptions.dispatchPool`).
    static let usesDispatch = Atomic<Bool>(false)

    /// Whether a region is running in the process. One region runs at a time: a region started
    /// meanwhile — nested in a chunk, or from another thread (two requests of a server) — runs
    /// serially on its caller's thread, so the pool never takes two regions at once.
    private static let regionRunning = Atomic<Bool>(false)

    /// Whether a parallel region is running (nested regions and BLAS splits then run serially).
    public static var isActive: Bool { regionRunning.load(ordering: .acquiring) }

    /// Calls `body` with `count` zeros in the calling thread's own scratch buffer (kept for its
    /// next call, so a region's chunks allocate nothing once warm, whichever threads run them).
    /// `body` must not ask for the thread's scratch again.
    public static func withThreadScratch<R>(zeros count: Int, _ body: (UnsafeMutableBufferPointer<Float>) -> R) -> R {
        guard let scratch = loft_thread_scratch(Int(count)) else {
            fatalError("out of memory for \(count) floats of thread scratch")
        }
        scratch.update(repeating: 0, count: count)
        return body(UnsafeMutableBufferPointer(start: scratch, count: count))
    }

    /// Calls `body` on disjoint subranges covering `0..<count`, possibly concurrently.
    /// - Parameters:
    ///   - count: the number of items.
    ///   - costPerItem: a rough operation count per item, to skip threading tiny loops.
    ///   - body: processes one subrange; must only write memory owned by its items.
    public static func forEach(
        _ count: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void
    ) {
        if count <= 0 { return }
        let workers = workerCount
        if workers == 1 || count == 1 || count * costPerItem < 32_768
            || !regionRunning.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing)
                .exchanged
        {
            body(0..<count)
            return
        }
        defer { regionRunning.store(false, ordering: .releasing) }
        let chunks = min(count, workers * 4)
        withoutActuallyEscaping(body) { body in
            var region = Region(count: count, chunks: chunks, body: body)
            if usesDispatch.load(ordering: .relaxed) {
                DispatchQueue.concurrentPerform(iterations: chunks) { region.run(chunk: $0) }
                return
            }
            withUnsafeMutablePointer(to: &region) { pointer in
                loft_pool_run(
                    Int64(chunks), Int32(workers),
                    { context, chunk in
                        context!.assumingMemoryBound(to: Region.self).pointee.run(chunk: Int(chunk))
                    }, pointer)
            }
        }
    }

    /// One region: `count` items cut into `chunks` contiguous chunks.
    private struct Region {
        let count: Int, chunks: Int
        let body: (Range<Int>) -> Void

        /// Runs the items of chunk `chunk` (none when the cut leaves it empty).
        func run(chunk: Int) {
            let (start, end) = (count * chunk / chunks, count * (chunk + 1) / chunks)
            if start < end { body(start..<end) }
        }
    }

}

/// An unsafe pointer that may cross into a `Parallel` chunk; callers guarantee disjoint writes.
public struct SendablePointer<T>: @unchecked Sendable {
    /// The wrapped pointer.
    public let pointer: UnsafeMutablePointer<T>
    /// Wraps `pointer`.
    public init(_ pointer: UnsafeMutablePointer<T>) { self.pointer = pointer }
}
