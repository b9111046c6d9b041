import Foundation
import Formats
import Tokenizers
import XCTest
import _TestSupport

/// llama.cpp's own tokenizer tests (`tests/test-tokenizer-0.cpp`): each `ggml-vocab-NAME.gguf`
/// (vocabulary only: no tensors) with its inputs (`.inp`, separated by `__ggml_vocab_test__`
/// lines) and the ids llama.cpp gives them (`.out`, one line each), encoded as that test does:
/// no BOS/EOS, special tokens not parsed. The files come from the llama-cpp-python 0.3.36 sdist
/// (`scripts/setup.sh` puts them under data/llama.cpp/models).
final class LlamaCppVocabularyTests: LoftTestCase {
    /// The cases of one vocabulary: (input, expected ids).
    func cases(_ name: String) throws -> (tokenizer: any Tokenizer, cases: [(String, [Int32])]) {
        let base = try Fixtures.data("llama.cpp/models/ggml-vocab-\(name).gguf")
        let input = try String(contentsOfFile: base + ".inp", encoding: .utf8)
        let output = try String(contentsOfFile: base + ".out", encoding: .utf8)
        // As the C++ test splits: a separator at the very end starts no further case.
        var texts = input.components(separatedBy: "\n__ggml_vocab_test__\n")
        if texts.last == "", input.hasSuffix("\n__ggml_vocab_test__\n") { texts.removeLast() }
        var lines = output.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        XCTAssertEqual(texts.count, lines.count, "\(name): inputs and outputs pair up")
        let expected = lines.map { line in
            line.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespaces)) }
        }
        return (try GGUFFile(path: base).tokenizer(), Array(zip(texts, expected)))
    }

    /// Encodes every case of `name`; returns how many equal llama.cpp's ids, printing the others.
    @discardableResult
    func check(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> (Int, Int) {
        let (tokenizer, cases) = try cases(name)
        var equal = 0
        for (text, expected) in cases {
            let ids = try tokenizer.encode(text, addBOS: false, addEOS: false)
            if ids == expected {
                equal += 1
            } else {
                XCTFail("\(name): \(text.debugDescription) → \(ids), llama.cpp \(expected)", file: file, line: line)
            }
        }
        print("llama.cpp vocabulary \(name): \(equal) of \(cases.count) cases equal")
        XCTAssertGreaterThan(cases.count, 30, "\(name): the case file was read", file: file, line: line)
        return (equal, cases.count)
    }

    func testLlamaSentencePiece() throws { try check("llama-spm") }
    func testPhi3SentencePiece() throws { try check("phi-3") }
    func testLlama3BPE() throws { try check("llama-bpe") }
    func testQwen2BPE() throws { try check("qwen2") }
    /// GPT-2's vocabulary comes in a file of architecture gpt2, which Loft does not run: the
    /// tokenizer is read all the same.
    func testGPT2BPEFromAnotherArchitecture() throws { try check("gpt-2") }

    func testDeepSeekLLMBPE() throws { try check("deepseek-llm") }
    func testDeepSeekCoderBPE() throws { try check("deepseek-coder") }

    /// What Loft writes of these vocabularies reads back to the same ids on every case: byte-level
    /// BPE as Hugging Face files (the pre-tokenizer as its `Split` regexes), SentencePiece as a
    /// vocabulary-only GGUF.
    func testWrittenVocabulariesReadBackTheSame() throws {
        let folder = try Fixtures.temporaryDirectory(self)
        for name in ["deepseek-coder", "llama-spm"] {  // (the larger vocabularies take seconds of JSON each)
            let (tokenizer, cases) = try cases(name)
            let back: any Tokenizer
            if let bpe = tokenizer as? ByteLevelBPETokenizer {
                let written = folder.appendingPathComponent(name)
                try FileManager.default.createDirectory(at: written, withIntermediateDirectories: true)
                try bpe.writeHuggingFace(to: written)
                let read = try ByteLevelBPETokenizer(huggingFaceFolder: written.path)
                XCTAssertEqual(read.preTokenizerKind, bpe.preTokenizerKind, name)
                back = read
            } else {
                let written = folder.appendingPathComponent("\(name).gguf")
                try GGUFWriter.writeVocabulary(tokenizer, chatTemplate: nil, to: written)
                back = try GGUFFile(path: written.path).tokenizer()
            }
            for (text, expected) in cases {
                XCTAssertEqual(try back.encode(text, addBOS: false, addEOS: false), expected, "\(name): \(text)")
            }
        }
    }

    /// Pre-tokenizers Loft does not implement are refused by name, not approximated.
    func testUnknownPreTokenizersAreRefusedByName() throws {
        for name in ["falcon", "starcoder", "command-r"] {
            let path = try Fixtures.data("llama.cpp/models/ggml-vocab-\(name).gguf")
            XCTAssertThrowsError(try GGUFFile(path: path).tokenizer()) { error in
                XCTAssertTrue("\(error)".contains("tokenizer.ggml.pre '\(name)'"), "\(error)")
            }
        }
    }
}
