import Formats
import Llama
import Foundation
import Recipes
import Tokenizers
import Training
import XCTest
import _TestSupport

/// What `loft fuzz` found, one regression test each: a trap turned into an error, and error texts
/// that now say where (line, column, key) instead of passing on library text.
final class LoaderErrorTests: LoftTestCase {
    func assertError(
        _ body: @autoclosure () throws -> Any, contains parts: [String], lacks raw: [String] = [],
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            let text = "\(error)"
            for part in parts {
                XCTAssertTrue(text.contains(part), "'\(text)' lacks '\(part)'", file: file, line: line)
            }
            for part in raw + ["DecodingError", "Error Domain", "./src/", "around character"] {
                XCTAssertFalse(text.contains(part), "'\(text)' shows '\(part)'", file: file, line: line)
            }
            XCTAssertFalse(text.contains("\n"), "'\(text)' is more than one line", file: file, line: line)
        }
    }

    func write(_ text: String, _ name: String) throws -> String {
        let url = try Fixtures.temporaryDirectory(self).appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url.path
    }

    /// Fuzz yaml case 161 (seed 1): `block_size: 9223372036854775807` overflowed in the quantizer.
    func testHugeBlockSizeIsAConfigErrorNotAnOverflowTrap() {
        assertError(
            try ConfigLoader.parse("quantization:\n  block_size: 9223372036854775807\n", file: "run.yaml"),
            contains: ["run.yaml", "quantization.bits", "block size must be positive and at most 2^20"])
    }

    /// Fuzz yaml case 93: `loftq_iters: 2147483648` ran LoftQ for ever.
    func testLoftQIterationsAreBounded() {
        assertError(
            try ConfigLoader.parse("lora:\n  loftq_iters: 2147483648\n", file: "run.yaml"),
            contains: ["run.yaml", "lora.loftq_iters", "1...1000"])
    }

    func testAMissingFileInAConfigNamesItsKey() throws {
        var config = RunConfig()
        config.model.path = "/no/such/model.bin"
        assertError(
            try Trainer(config: config, configFile: "run.yaml"),
            contains: ["run.yaml", "model.path", "/no/such/model.bin"])
    }

    func testBadJSONIsReportedWithLineAndColumn() throws {
        let path = try write("{\n  \"hidden_size\": 64,\n  \"num_attention_heads\": x\n}\n", "config.json")
        assertError(try LlamaConfig(huggingFaceConfigAt: path), contains: [path, "not valid JSON at line 3, column"])
    }

    func testAdapterConfigOfTheWrongTypeNamesTheKey() throws {
        let folder = try Fixtures.temporaryDirectory(self)
        try Data(#"{"r": "sixteen", "lora_alpha": 16, "target_modules": ["q_proj"], "peft_type": "LORA"}"#.utf8)
            .write(to: folder.appendingPathComponent("adapter_config.json"))
        assertError(
            try AdapterFiles.readConfig(folder), contains: ["adapter_config.json", "key 'r': expected a number"])
    }

    func testNonUTF8DataNamesTheLineAndColumn() throws {
        var bytes = Data(#"{"question": "a", "answer": "b #### 1"}"#.utf8 + [0x0A])
        bytes.append(
            contentsOf: Array(#"{"question": "c"#.utf8) + [0xFF, 0xFE] + Array(#"", "answer": "d #### 2"}"#.utf8))
        let url = try Fixtures.temporaryDirectory(self).appendingPathComponent("test.jsonl")
        try bytes.write(to: url)
        assertError(try GSM8K.load(url.path), contains: [url.path + ":2:", "not UTF-8 text at column 16"])
        let missing = url.deletingLastPathComponent().appendingPathComponent("none.txt").path
        assertError(try TextBlocks.read(missing), contains: ["file not found", missing])
    }

    func testCorruptSentencePieceModelSaysSoPlainly() throws {
        let path = try write(String(repeating: "not a protobuf ", count: 20), "tok.model")
        assertError(
            try SentencePieceTokenizer(path: path), contains: [path, "not a SentencePiece model"],
            lacks: ["ParseFromArray"])
    }

    func testCorruptTrainerStateNamesItsLine() throws {
        let folder = try Fixtures.temporaryDirectory(self)
        try Data("{\n  \"step\": 2,\n  \"losses\": [1.0, oops]\n}".utf8).write(
            to: folder.appendingPathComponent("trainer_state.json"))
        assertError(try Checkpoint.readState(folder), contains: ["trainer_state.json", "line 3"])
    }

    /// Fuzz gguf case 1312 (seed 1): a key length too large swallowed binary bytes, newlines
    /// included, into the key, and the error printed them (65 lines).
    func testAGGUFKeyOfBinaryBytesIsRefusedInOneLine() throws {
        var gguf = GGUFWriter()
        gguf.set("general.architecture", .string("llama"))
        gguf.set("general.name", .string(String(repeating: "x", count: 400)))
        var bytes = gguf.encoded()
        bytes[24] = 200  // the first key's length (after magic, version and the two counts): 17 → 200
        let url = try Fixtures.temporaryDirectory(self).appendingPathComponent("m.gguf")
        try bytes.write(to: url)
        assertError(try GGUFFile(path: url.path), contains: [url.path, "metadata[0].key", "not printable UTF-8 text"])
    }

    /// A `gelu` model or one with projection biases is refused by key, not run as SwiGLU without biases.
    func testConfigsLoftCannotComputeAreRefusedByKey() throws {
        let base =
            #""hidden_size": 64, "num_attention_heads": 8, "num_hidden_layers": 2, "intermediate_size": 172, "vocab_size": 512"#
        for (extra, key) in [
            (#""hidden_act": "gelu""#, "hidden_act"), (#""attention_bias": true"#, "attention_bias"),
            (#""mlp_bias": true"#, "mlp_bias"),
        ] {
            let path = try write("{\(base), \(extra)}", "config.json")
            assertError(try LlamaConfig(huggingFaceConfigAt: path), contains: [path, "'\(key)'", "not supported"])
        }
        XCTAssertNoThrow(
            try LlamaConfig(
                huggingFaceConfigAt: try write(
                    "{\(base), \"hidden_act\": \"silu\", \"attention_bias\": false}", "c.json")))
    }

    /// Fuzz yaml case 921 (seed 1, seeds under /tmp): `tokenizer: /work` (a folder) made
    /// SentencePiece throw a C++ exception through Swift: abort.
    func testAFolderGivenAsTheTokenizerIsAnError() throws {
        let folder = try Fixtures.temporaryDirectory(self).path
        assertError(try SentencePieceTokenizer(path: folder), contains: [folder, "a folder"])
    }
}
