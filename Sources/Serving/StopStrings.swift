import Foundation

/// Finds `stop` strings in streamed text: text that might be the start of a stop string is held
/// back until it is known not to be, so a client never receives part of a stop string.
/// reference: llama.cpp tools/server (find_stopping_strings, partial matches held back)
public struct StopStrings: Sendable {
    /// The strings that end the text.
    public let stops: [String]
    /// Text received but not yet released.
    private(set) var held = ""

    /// A matcher for `stops` (empty: text passes through).
    public init(_ stops: [String]) { self.stops = stops }

    /// Adds `text`; returns what may be released now, and whether a stop string was found (the
    /// text from it on is dropped).
    public mutating func feed(_ text: String) -> (release: String, stopped: Bool) {
        held += text
        if stops.isEmpty {
            defer { held = "" }
            return (held, false)
        }
        if let cut = earliestStop() {
            let release = String(held[..<cut])
            held = ""
            return (release, true)
        }
        let keep = longestPartialStop()
        let release = String(held.dropLast(keep))
        held = String(held.suffix(keep))
        return (release, false)
    }

    /// The text still held when generation ends for another reason.
    public mutating func flush() -> String {
        defer { held = "" }
        return held
    }

    private func earliestStop() -> String.Index? {
        stops.compactMap { held.range(of: $0)?.lowerBound }.min()
    }

    /// The most trailing characters of `held` that begin some stop string.
    private func longestPartialStop() -> Int {
        var best = 0
        for stop in stops {
            let limit = min(stop.count - 1, held.count)
            guard limit > best else { continue }
            for length in stride(from: limit, to: best, by: -1) where stop.hasPrefix(held.suffix(length)) {
                best = length
                break
            }
        }
        return best
    }
}
