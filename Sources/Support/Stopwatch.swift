import Foundation

/// Median, minimum and maximum of a sample.
public struct Summary: Codable, Sendable {
    /// The statistics.
    public let median: Double, min: Double, max: Double

    /// The summary of `values` (all zero for an empty sample).
    public init(_ values: [Double]) {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { (median, min, max) = (0, 0, 0); return }
        let mid = sorted.count / 2
        median = sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
        (min, max) = (sorted.first!, sorted.last!)
    }
}

/// Wall-clock timing with the monotonic clock.
public enum Stopwatch {
    /// Seconds since an arbitrary fixed point.
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// The seconds `body` takes.
    public static func time(_ body: () -> Void) -> Double {
        let start = now()
        body()
        return now() - start
    }
}
