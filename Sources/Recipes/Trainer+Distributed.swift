import Distributed
import Training

extension Trainer {
    /// Rank `rank`'s contiguous share of a global micro-batch of N examples: examples
    /// `⌊N·r/R⌋ ..< ⌊N·(r+1)/R⌋` (a short last batch of an epoch may leave a rank none).
    static func slice(_ examples: [Example], rank: Int, of ranks: Int) -> ArraySlice<Example> {
        examples[examples.count * rank / ranks..<examples.count * (rank + 1) / ranks]
    }
}

extension ProcessGroup {
    /// Whether `flag` is set on any rank (one agreement per step: every rank stops together).
    func anyOf(_ flag: Bool) throws -> Bool {
        guard size > 1 else { return flag }
        return try sumInRankOrder([flag ? 1 : 0])[0] > 0
    }
}
