import Foundation
import Support
import Tokenizers

/// Language-modelling data cut into fixed blocks: WikiText-2 rows as Hugging Face `run_clm`
/// reads them, or any text file.
/// reference: transformers examples/pytorch/language-modeling/run_clm.py (group_texts)
public enum TextBlocks {
    /// The rows of a `wiki.*.raw` file as the `wikitext` dataset has them: every line keeps its
    /// trailing newline, except a blank line (only a space, or nothing) which is the empty string.
    public static func wikitextRows(_ text: String) -> [String] {
        var lines = text.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        return lines.map { $0 == " " || $0.isEmpty ? "" : $0 + "\n" }
    }

    /// The hf protocol: every row tokenized with BOS (an empty row is just BOS), concatenated,
    /// cut into non-overlapping blocks of `length`, the remainder dropped.
    public static func hfBlocks(rows: [String], tokenizer: any Tokenizer, length: Int) throws -> [[Int32]] {
        var stream: [Int32] = []
        for row in rows { stream += try tokenizer.encode(row, addBOS: true) }
        return stride(from: 0, to: stream.count - length + 1, by: length).map { Array(stream[$0..<($0 + length)]) }
    }

    /// The llama.cpp protocol: the whole text tokenized once (with BOS), cut into chunks of
    /// `length` tokens whose first token is replaced by BOS; the remainder dropped. (Scoring takes
    /// the second half of each chunk.)
    /// reference: llama.cpp examples/perplexity (perplexity_v2 chunking)
    public static func llamaCppChunks(text: String, tokenizer: any Tokenizer, length: Int) throws -> [[Int32]] {
        let stream = try tokenizer.encode(text, addBOS: true)
        let bos = tokenizer.addsBOS ? tokenizer.bosID : nil  // as llama.cpp: BOS only where the vocabulary adds it
        return stride(from: 0, to: stream.count - length + 1, by: length).map { start in
            var chunk = Array(stream[start..<(start + length)])
            if let bos { chunk[0] = bos }
            return chunk
        }
    }

    /// The examples of a text dataset: each block is its own labels.
    public static func examples(_ blocks: [[Int32]]) -> [Example] { blocks.map { Example(tokens: $0, labels: $0) } }

    /// Reads a text file.
    public static func read(_ path: String) throws -> String {
        guard FileManager.default.fileExists(atPath: path) else { throw FileError.notFound(path: path) }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TrainingError.badData(
                file: path, line: nil, detail: "cannot be read (a folder, or no read permission)")
        }
        switch String.utf8OrFirstBadLine(data) {
        case .success(let text): return text
        case .failure(let problem):
            throw TrainingError.badData(file: path, line: problem.line, detail: problem.detailAfterLine)
        }
    }
}
