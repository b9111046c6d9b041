import Foundation

/// What one fuzz case did, in the classes the reliability contract names: success, a clean error
/// (non-zero exit, one line that names the file), an unclean error, a crash, a hang.
public enum FuzzOutcome: Equatable, Sendable {
    case success
    case cleanError
    case uncleanError(reason: String)
    case crash(signal: Int32)
    case hang

    /// The class's name in reports.
    public var className: String {
        switch self {
        case .success: return "success"
        case .cleanError: return "clean error"
        case .uncleanError: return "unclean error"
        case .crash: return "crash"
        case .hang: return "hang"
        }
    }

    /// Whether the case breaks the contract.
    public var isFailure: Bool {
        switch self {
        case .success, .cleanError: return false
        default: return true
        }
    }

    /// Raw library text that must never reach a user.
    static let rawMarkers = [
        "Error Domain=", "NSCocoaErrorDomain", "DecodingError", "dataCorrupted", "typeMismatch(", "keyNotFound(",
        "valueNotFound(", "Swift.", "Fatal error", "Optional(", "couldn’t be", "couldn't be", "NSError",
        "Expected to decode",
        "./src/", ".cc(", "Debug description", "around character",
    ]

    /// Classifies a child's end: `stderr` is what it printed, `names` the paths (or file names)
    /// of which the message must contain one.
    public static func classify(_ status: ChildStatus, stderr: String, names: [String]) -> FuzzOutcome {
        switch status {
        case .timedOut: return .hang
        case .signaled(let signal): return .crash(signal: signal)
        case .exited(0): return .success
        case .exited:
            if let reason = problem(withError: stderr, names: names) { return .uncleanError(reason: reason) }
            return .cleanError
        }
    }

    /// Why `stderr` is not a clean error message, or nil when it is: at most two lines (the
    /// message, and at most the offending line of the file), naming one of `names`, free of raw
    /// library text.
    public static func problem(withError stderr: String, names: [String]) -> String? {
        let lines = stderr.split(whereSeparator: \.isNewline).filter { !$0.allSatisfy(\.isWhitespace) }
        if lines.isEmpty { return "exited non-zero without a message" }
        if lines.count > 2 { return "\(lines.count) lines" }
        if let marker = rawMarkers.first(where: { stderr.contains($0) }) { return "raw text '\(marker)'" }
        if !names.contains(where: { stderr.contains($0) }) { return "names none of \(names)" }
        return nil
    }
}

/// Counts of outcomes for one target, with the first failing cases kept.
public struct FuzzTally: Sendable {
    public var cases = 0, success = 0, cleanError = 0, uncleanError = 0, crash = 0, hang = 0
    /// The slowest case, in seconds, and its index.
    public var slowest = 0.0, slowestCase = 0
    /// (case, outcome, message) of the first failures.
    public var failures: [(caseIndex: Int, outcome: FuzzOutcome, message: String)] = []

    /// Empty counts.
    public init() {}

    /// Records one case.
    public mutating func record(_ caseIndex: Int, _ outcome: FuzzOutcome, message: String, seconds: Double) {
        cases += 1
        if seconds > slowest { (slowest, slowestCase) = (seconds, caseIndex) }
        switch outcome {
        case .success: success += 1
        case .cleanError: cleanError += 1
        case .uncleanError: uncleanError += 1
        case .crash: crash += 1
        case .hang: hang += 1
        }
        if outcome.isFailure, failures.count < 20 { failures.append((caseIndex, outcome, message)) }
    }

    /// Whether every case was a success or a clean error.
    public var passed: Bool { uncleanError == 0 && crash == 0 && hang == 0 }
}
