import Autograd
import Foundation
import Support
import Llama
import Tokenizers

/// Perplexity of a model on a text, with the Hugging Face protocol (LoftQ's) or llama.cpp's.
public enum Perplexity {
    /// How the text becomes scored blocks.
    public enum ProtocolKind: String, Codable, Sendable, CaseIterable {
        /// Rows tokenized with BOS, concatenated, blocks of seq-len; every token after the first is a target.
        case hf
        /// The whole text tokenized once; chunks of seq-len starting with BOS; the second half scored.
        case llamaCpp = "llama.cpp"
    }

    /// Blocks of tokens and, in each, the first position whose next token is scored.
    public struct Blocks: Sendable {
        public let tokens: [[Int32]]
        public let firstScored: Int
        /// Blocks of equal length; positions `firstScored...T−2` predict the next token.
        public init(tokens: [[Int32]], firstScored: Int) { (self.tokens, self.firstScored) = (tokens, firstScored) }
    }

    /// The blocks of `text` under `kind`.
    public static func blocks(text: String, kind: ProtocolKind, tokenizer: any Tokenizer, length: Int) throws -> Blocks
    {
        switch kind {
        case .hf:
            return Blocks(
                tokens: try TextBlocks.hfBlocks(
                    rows: TextBlocks.wikitextRows(text), tokenizer: tokenizer, length: length), firstScored: 0)
        case .llamaCpp:
            return Blocks(
                tokens: try TextBlocks.llamaCppChunks(text: text, tokenizer: tokenizer, length: length),
                firstScored: length / 2)
        }
    }

    /// The blocks of the text file at `path` under `kind`, the first `maxBlocks` of them when that
    /// is given; throws, naming the file, when the text is shorter than one block.
    public static func blocks(
        file path: String, kind: ProtocolKind, tokenizer: any Tokenizer, length: Int,
        maxBlocks: Int? = nil
    ) throws -> Blocks {
        var cut = try blocks(text: try TextBlocks.read(path), kind: kind, tokenizer: tokenizer, length: length)
        guard !cut.tokens.isEmpty else {
            throw TrainingError.badData(file: path, line: nil, detail: "shorter than one block of \(length) tokens")
        }
        if let maxBlocks, maxBlocks > 0, cut.tokens.count > maxBlocks {
            cut = Blocks(tokens: Array(cut.tokens.prefix(maxBlocks)), firstScored: cut.firstScored)
        }
        return cut
    }

    /// The result of an evaluation.
    public struct Result: Codable, Sendable {
        public let perplexity: Double, meanNLL: Double, standardError: Double
        public let targets: Int, blocks: Int, tokens: Int
        public let seconds: Double, tokensPerSecond: Double
    }

    /// Scores `blocks` in batches of `batch`, the model computing as `execution` says;
    /// `progress(done, total)` after each batch.
    public static func evaluate(
        model: LlamaModel, blocks: Blocks, batch: Int = 1, execution: ExecutionOptions = .fp32,
        progress: (Int, Int) -> Void = { _, _ in }
    ) -> Result {
        let started = Stopwatch.now()
        var sum = 0.0, sumSquares = 0.0, targets = 0, tokens = 0
        let vocab = model.config.vocabularySize
        for start in stride(from: 0, to: blocks.tokens.count, by: max(1, batch)) {
            let group = Array(blocks.tokens[start..<min(blocks.tokens.count, start + max(1, batch))])
            let steps = group[0].count
            // Each row's NLL from the fused projection + softmax in row chunks: the logits of a
            // batch are never held whole ([B·T, V] would be 400 MB for 4 × 512 tokens of a 49k vocabulary).
            let hidden = model.hidden(
                tokens: group.flatMap { $0 }, batch: group.count, steps: steps, recording: false,
                execution: execution)
            var targetIDs = [Int32](repeating: Tensor.ignoreIndex, count: group.count * steps)
            for (b, row) in group.enumerated() {
                for t in max(0, blocks.firstScored)..<(steps - 1) { targetIDs[b * steps + t] = row[t + 1] }
            }
            var nll = [Float](repeating: 0, count: targetIDs.count)
            hidden.withValues { h in
                model.outputWeight.withValues { w in
                    LinearCrossEntropy.run(
                        h: h.baseAddress!, rows: targetIDs.count, w: w.baseAddress!, vocab: vocab,
                        dim: model.config.dim, targets: targetIDs, ignoreIndex: Tensor.ignoreIndex,
                        nll: &nll, dh: nil, dw: nil, compute: execution.compute)
                }
            }
            for (value, target) in zip(nll, targetIDs) where target != Tensor.ignoreIndex {
                sum += Double(value)
                sumSquares += Double(value) * Double(value)
                targets += 1
            }
            tokens += group.count * steps
            progress(min(blocks.tokens.count, start + group.count), blocks.tokens.count)
        }
        let mean = targets > 0 ? sum / Double(targets) : 0
        let variance = targets > 1 ? max(0, (sumSquares - Double(targets) * mean * mean) / Double(targets - 1)) : 0
        let seconds = Stopwatch.now() - started
        return Result(
            perplexity: exp(mean), meanNLL: mean, standardError: (variance / Double(max(1, targets))).squareRoot(),
            targets: targets, blocks: blocks.tokens.count, tokens: tokens, seconds: seconds,
            tokensPerSecond: Double(tokens) / max(seconds, 1e-9))
    }
}
