import Autograd

/// One training sequence: tokens and their labels (`-100` where no loss is taken), or a packed
/// row of several (`segments`).
public struct Example: Equatable, Sendable {
    public var tokens: [Int32]
    public var labels: [Int32]
    /// The lengths of the sequences packed in this row, in order (empty: one sequence).
    public var segments: [Int] = []

    /// An example; tokens and labels have the same length.
    public init(tokens: [Int32], labels: [Int32]) {
        precondition(tokens.count == labels.count, "Example: \(tokens.count) tokens, \(labels.count) labels")
        (self.tokens, self.labels) = (tokens, labels)
    }

    /// The label of a token that carries no loss.
    public static let ignored: Int32 = Tensor.ignoreIndex

    /// The same tokens, every one a target.
    public var allTrained: Example { Example(tokens: tokens, labels: tokens) }

    /// Targets that count (labels after the first position that are not ignored; the model
    /// predicts label t+1 from position t).
    public var targetCount: Int { labels.dropFirst().filter { $0 != Tensor.ignoreIndex }.count }
}

/// A batch of examples right-padded to the same length T: tokens and labels [B, T] (padding has
/// label −100) and an attention mask (1 for real tokens). With causal attention and padding only
/// on the right, real positions never attend to padding, so the model needs no explicit mask.
/// A packed row's sequences attend only within themselves (`segments`).
public struct Batch: Sendable {
    public let tokens: [Int32], labels: [Int32], attentionMask: [Int32]
    public let batchSize: Int, steps: Int
    /// Per row, the lengths of its sequences and of its padding (summing to T); nil when no row is
    /// packed.
    public let segments: [[Int]]?

    /// Pads `examples` with `padID` to their longest length.
    public init(_ examples: [Example], padID: Int32) {
        let steps = examples.map(\.tokens.count).max() ?? 0
        var tokens: [Int32] = [], labels: [Int32] = [], mask: [Int32] = []
        for example in examples {
            let padding = steps - example.tokens.count
            tokens += example.tokens + [Int32](repeating: padID, count: padding)
            labels += example.labels + [Int32](repeating: Tensor.ignoreIndex, count: padding)
            mask += [Int32](repeating: 1, count: example.tokens.count) + [Int32](repeating: 0, count: padding)
        }
        (self.tokens, self.labels, self.attentionMask) = (tokens, labels, mask)
        (self.batchSize, self.steps) = (examples.count, steps)
        if examples.contains(where: { !$0.segments.isEmpty }) {
            segments = examples.map { example in
                let real = example.segments.isEmpty ? [example.tokens.count] : example.segments
                let padding = steps - example.tokens.count
                return real.filter { $0 > 0 } + (padding > 0 ? [padding] : [])
            }
        } else {
            segments = nil
        }
    }

    /// Real (unpadded) tokens.
    public var tokenCount: Int { attentionMask.reduce(0) { $0 + Int($1) } }

    /// Targets that count for the loss.
    public var targetCount: Int {
        var count = 0
        for b in 0..<batchSize {
            for t in 1..<max(1, steps) where labels[b * steps + t] != Tensor.ignoreIndex { count += 1 }
        }
        return count
    }
}

/// The order examples are visited in: a fresh permutation every epoch, drawn from a stream named
/// by the epoch, so any position (epoch, cursor) can be resumed without replaying.
public struct DataOrder: Sendable {
    public let count: Int
    public let root: RandomState

    /// The order of `count` examples, drawn from `seed`.
    public init(count: Int, seed: RandomState) { (self.count, self.root) = (count, seed) }

    /// The permutation of epoch `epoch` (Fisher–Yates).
    public func permutation(epoch: Int) -> [Int] {
        var rng = root.split("epoch-\(epoch)")
        var order = Array(0..<count)
        if count > 1 {
            for i in stride(from: count - 1, to: 0, by: -1) {
                let j = Int(rng.next() % UInt64(i + 1))
                order.swapAt(i, j)
            }
        }
        return order
    }
}

/// Several examples in one row of at most `max_seq_len` tokens, so that a batch holds little
/// padding; each keeps the loss it has alone (its attention stays inside it and its positions
/// restart at 0: `Batch.segments`).
/// reference: first-fit decreasing bin packing; Hugging Face TRL `packing` with position ids
public enum Packing {
    /// Rows of the examples (longest first into the first row with room; ties by position), each
    /// row's sequences in the order they were placed. The first label of every sequence after a
    /// row's first is ignored: the previous sequence's last token would otherwise predict it.
    public static func pack(_ examples: [Example], length: Int) -> [Example] {
        let order = examples.indices.sorted {
            (examples[$0].tokens.count, $1) > (examples[$1].tokens.count, $0)
        }
        var rows: [[Int]] = [], room: [Int] = []
        for index in order {
            let count = examples[index].tokens.count
            if let row = room.firstIndex(where: { $0 >= count }) {
                rows[row].append(index)
                room[row] -= count
            } else {
                rows.append([index])
                room.append(length - count)
            }
        }
        return rows.map { members in
            var tokens: [Int32] = [], labels: [Int32] = [], segments: [Int] = []
            for (position, index) in members.enumerated() {
                var sequence = examples[index].labels
                if position > 0, !sequence.isEmpty { sequence[0] = Example.ignored }
                tokens += examples[index].tokens
                labels += sequence
                segments += examples[index].segments.isEmpty ? [examples[index].tokens.count] : examples[index].segments
            }
            var row = Example(tokens: tokens, labels: labels)
            row.segments = segments
            return row
        }
    }
}
