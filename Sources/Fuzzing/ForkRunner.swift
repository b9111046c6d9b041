import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// How a child process ended.
public enum ChildStatus: Equatable, Sendable {
    case exited(Int32)
    case signaled(Int32)
    case timedOut
}

/// Runs cases in forked children, `width` at a time, each with a deadline and an address-space
/// limit: a trap or an out-of-memory abort ends only that child, a hang is killed. The parent must
/// not have started threads it relies on in the children (fork keeps only the calling thread):
/// children start their own.
public struct ForkRunner {
    /// Children running at once.
    public var width: Int
    /// Seconds before a child is killed and counted as hung.
    public var timeout: Double
    /// The child's address-space limit (`RLIMIT_AS`), in bytes.
    public var memoryLimit: Int
    /// Where each slot's standard error goes (`slot-N.stderr`).
    public var folder: URL

    /// A runner writing children's standard error under `folder`.
    public init(width: Int, timeout: Double, memoryLimit: Int, folder: URL) {
        self.width = max(1, width)
        self.timeout = timeout
        self.memoryLimit = memoryLimit
        self.folder = folder
    }

    /// Runs `cases`: `prepare(case, slot)` in the parent (write the inputs into the slot's own
    /// place), `child(case, slot)` in a fresh child (its return value is the exit code, when it
    /// returns at all), then `finished(case, slot, status, stderr, seconds)` in the parent.
    public func run(
        cases: Range<Int>, prepare: (Int, Int) throws -> Void, child: (Int, Int) -> Int32,
        finished: (Int, Int, ChildStatus, String, Double) -> Void
    ) throws {
        var running: [(pid: pid_t, caseIndex: Int, slot: Int, start: Date)] = []
        var free = Array((0..<width).reversed())
        var next = cases.lowerBound
        while next < cases.upperBound || !running.isEmpty {
            while next < cases.upperBound, let slot = free.popLast() {
                try prepare(next, slot)
                fflush(stdout)
                fflush(stderr)
                let pid = fork()
                if pid == 0 { runChild(caseIndex: next, slot: slot, child) }
                guard pid > 0 else { throw FuzzError.cannotFork(errno: errno) }
                running.append((pid, next, slot, Date()))
                next += 1
            }
            usleep(300)
            var index = 0
            while index < running.count {
                let job = running[index]
                var status: Int32 = 0
                let reaped = waitpid(job.pid, &status, WNOHANG)
                let elapsed = Date().timeIntervalSince(job.start)
                var outcome: ChildStatus? = nil
                if reaped == job.pid {
                    outcome = (status & 0x7F) == 0 ? .exited((status >> 8) & 0xFF) : .signaled(status & 0x7F)
                } else if elapsed > timeout {
                    kill(job.pid, SIGKILL)
                    waitpid(job.pid, &status, 0)
                    outcome = .timedOut
                }
                guard let outcome else { index += 1; continue }
                running.remove(at: index)
                free.append(job.slot)
                finished(job.caseIndex, job.slot, outcome, stderrText(slot: job.slot), elapsed)
            }
        }
    }

    func stderrURL(slot: Int) -> URL { folder.appendingPathComponent("slot-\(slot).stderr") }

    func stderrText(slot: Int) -> String {
        guard let data = FileManager.default.contents(atPath: stderrURL(slot: slot).path) else { return "" }
        return String(decoding: data.prefix(16_384), as: UTF8.self)
    }

    /// In the child: limits, standard output to /dev/null, standard error to the slot's file.
    private func runChild(caseIndex: Int, slot: Int, _ child: (Int, Int) -> Int32) -> Never {
        var limit = rlimit(rlim_cur: rlim_t(memoryLimit), rlim_max: rlim_t(memoryLimit))
        setrlimit(Int32(RLIMIT_AS.rawValue), &limit)
        let errorFile = open(stderrURL(slot: slot).path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let null = open("/dev/null", O_WRONLY)
        if errorFile >= 0 { dup2(errorFile, 2) }
        if null >= 0 { dup2(null, 1) }
        let code = child(caseIndex, slot)
        fflush(stdout)
        fflush(stderr)
        _exit(code)
    }
}

/// Failures of the fuzzer itself.
public enum FuzzError: Error, CustomStringConvertible {
    case cannotFork(errno: Int32)
    case seed(target: String, detail: String)

    public var description: String {
        switch self {
        case .cannotFork(let code): return "cannot start a child process: \(String(cString: strerror(code)))"
        case .seed(let target, let detail): return "cannot build the seed of fuzz target \(target): \(detail)"
        }
    }
}
