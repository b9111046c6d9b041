import CMPI
import Foundation
import Synchronization

/// The processes of one job: a single process (rank 0 of 1, no MPI call at all) unless loft was
/// started by `mpirun`, then the MPI world. Reductions are deterministic: every sum is taken in
/// rank order (never in the order MPI's algorithm picks), so two runs with the same world size
/// give the same bits. Only the thread that created the group may call it (MPI "funneled").
/// reference: llm.c (MPI data parallelism), Horovod / PyTorch DDP (rank 0 writes)
public final class ProcessGroup: @unchecked Sendable {
    /// This process's rank, 0-based.
    public let rank: Int
    /// The number of processes.
    public let size: Int
    /// Whether MPI was initialised (started by mpirun, even with one rank).
    public let usesMPI: Bool
    /// Scratch of the chunked all-reduce, kept between calls (no allocation per step).
    private var send: [Float] = [], received: [Float] = [], gathered: [Float] = [], reduced: [Float] = []

    init(rank: Int, size: Int, usesMPI: Bool) { (self.rank, self.size, self.usesMPI) = (rank, size, usesMPI) }

    /// One process, no MPI.
    public static let single = ProcessGroup(rank: 0, size: 1, usesMPI: false)

    /// The world group once made: MPI may be initialised once per process, so this one value is
    /// process state by nature (guarded; every later `world()` returns it).
    private static let started = Mutex<ProcessGroup?>(nil)

    /// The job's group: MPI's world when launched by mpirun (initialised on first use), else `single`.
    public static func world() throws -> ProcessGroup {
        try started.withLock { started in
            if let started { return started }
            let group: ProcessGroup
            if loft_mpi_launched() != 0 {
                var rank: Int32 = 0, size: Int32 = 1
                try check(loft_mpi_init(&rank, &size), "MPI_Init_thread")
                group = ProcessGroup(rank: Int(rank), size: Int(size), usesMPI: true)
            } else {
                group = single
            }
            started = group
            return group
        }
    }

    /// Whether this rank writes files and prints (rank 0).
    public var isLeader: Bool { rank == 0 }

    static func check(_ code: Int32, _ call: String) throws {
        if code != 0 { throw DistributedError.mpi(call: call, code: code) }
    }

    /// Sums `buffer` over the ranks in place, in rank order: a reduce-scatter (each rank sums one
    /// chunk of every rank's buffer, ranks 0, 1, … in turn) then an all-gather of the chunks —
    /// the volume of a ring all-reduce, and the same bits on every run of the same world size.
    public func sumInRankOrder(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        guard size > 1, buffer.count > 0 else { return }
        let chunk = (buffer.count + size - 1) / size
        if send.count != chunk * size {
            send = [Float](repeating: 0, count: chunk * size)
            received = send
            gathered = send
            reduced = [Float](repeating: 0, count: chunk)
        }
        send.withUnsafeMutableBufferPointer { s in
            s.baseAddress!.update(from: buffer.baseAddress!, count: buffer.count)
            s.baseAddress!.advanced(by: buffer.count).update(repeating: 0, count: chunk * size - buffer.count)
        }
        try Self.check(loft_mpi_alltoall_floats(send, &received, chunk), "MPI_Alltoall")
        received.withUnsafeBufferPointer { r in
            reduced.withUnsafeMutableBufferPointer { sum in
                sum.update(repeating: 0)
                for source in 0..<size {
                    let piece = r.baseAddress! + source * chunk
                    for i in 0..<chunk { sum[i] += piece[i] }
                }
            }
        }
        try Self.check(loft_mpi_allgather_floats(reduced, &gathered, chunk), "MPI_Allgather")
        gathered.withUnsafeBufferPointer { g in buffer.baseAddress!.update(from: g.baseAddress!, count: buffer.count) }
    }

    /// `values` summed over the ranks, in rank order (losses, token counts, flags).
    public func sumInRankOrder(_ values: [Double]) throws -> [Double] {
        guard size > 1 else { return values }
        var all = [Double](repeating: 0, count: values.count * size)
        try Self.check(loft_mpi_allgather_doubles(values, &all, values.count), "MPI_Allgather")
        var total = [Double](repeating: 0, count: values.count)
        for source in 0..<size { for i in values.indices { total[i] += all[source * values.count + i] } }
        return total
    }

    /// The largest of each value over the ranks (timings).
    public func maximum(_ values: [Double]) throws -> [Double] {
        guard size > 1 else { return values }
        var result = values
        try Self.check(loft_mpi_allreduce_max_doubles(&result, result.count), "MPI_Allreduce")
        return result
    }

    /// `root`'s bytes on every rank (sizes first, so ranks need not know them).
    public func broadcast(_ bytes: [UInt8], from root: Int) throws -> [UInt8] {
        guard size > 1 else { return bytes }
        var count = UInt64(bytes.count)
        try Self.check(loft_mpi_broadcast(&count, 8, Int32(root)), "MPI_Bcast")
        var result = rank == root ? bytes : [UInt8](repeating: 0, count: Int(count))
        try Self.check(
            result.withUnsafeMutableBytes { loft_mpi_broadcast($0.baseAddress, Int(count), Int32(root)) }, "MPI_Bcast")
        return result
    }

    /// Whether item `index` of a round-robin split is this rank's (items i, i + N, … to rank i).
    public func owns(_ index: Int) -> Bool { index % size == rank }

    /// Every item of a round-robin split on every rank: `mine` holds this rank's items (by index),
    /// each is broadcast from the rank that owns it, in index order.
    public func exchange(_ mine: [Int: [UInt8]], count: Int) throws -> [[UInt8]] {
        try (0..<count).map { index in try broadcast(mine[index] ?? [], from: index % size) }
    }

    /// Waits for every rank.
    public func barrier() throws {
        if size > 1 { try Self.check(loft_mpi_barrier(), "MPI_Barrier") }
    }

    /// Ends every rank of the job with `code` (after a rank failed: the others may be waiting in
    /// a collective and would never return).
    public func abort(code: Int32) -> Never {
        if usesMPI { loft_mpi_abort(code) }
        exit(code)
    }

    /// Shuts MPI down (at the end of a command that used it).
    public func finish() {
        if usesMPI { _ = loft_mpi_finalize() }
    }
}

/// A failed MPI call.
public enum DistributedError: Error, CustomStringConvertible {
    case mpi(call: String, code: Int32)
    case unevenBatch(key: String, batch: Int, ranks: Int)

    public var description: String {
        switch self {
        case .mpi(let call, let code): return "\(call) failed (MPI error \(code))"
        case .unevenBatch(let key, let batch, let ranks):
            return "\(key) = \(batch) cannot be split evenly over \(ranks) ranks"
        }
    }
}
