import Foundation
import Formats
import Llama
import Tokenizers

/// The valid inputs the fuzz targets start from, written from the bundled stories260K model
/// (llama2.c) in every format Loft reads: a Hugging Face folder (single and sharded
/// safetensors), a GGUF with a byte-level BPE vocabulary, a `tokenizer.json` folder, data files
/// and a run config. (The adapter, checkpoint and `loft quantize` seeds come from `loft` runs.)
public enum FuzzSeeds {
    /// Where the stories260K files and the data come from.
    public struct Sources {
        public var model: String, tokenizer: String, gsm8k: String, text: String
        /// A real chat template (the `chat-template` seed).
        public var chatTemplate: String
        /// The five files the seeds are made from.
        public init(model: String, tokenizer: String, gsm8k: String, text: String, chatTemplate: String) {
            self.model = model
            self.tokenizer = tokenizer
            self.gsm8k = gsm8k
            self.text = text
            self.chatTemplate = chatTemplate
        }
    }

    /// Writes every in-process seed under `root` (one folder per target).
    public static func write(to root: URL, from sources: Sources) throws {
        let files = FileManager.default
        func folder(_ name: String) throws -> URL {
            let url = root.appendingPathComponent(name)
            try files.createDirectory(at: url, withIntermediateDirectories: true)
            return url
        }
        func copy(_ path: String, to url: URL) throws {
            if files.fileExists(atPath: url.path) { try files.removeItem(at: url) }
            try files.copyItem(atPath: path, toPath: url.path)
        }
        let source = try Llama2CCheckpoint(path: sources.model)
        for name in ["llama2c", "sentencepiece"] {
            try copy(sources.model, to: try folder(name).appendingPathComponent("model.bin"))
            try copy(sources.tokenizer, to: try folder(name).appendingPathComponent("tok512.model"))
        }
        let tensors = try LlamaTensor.all(for: source.config).map { tensor in
            (
                HuggingFaceNames.name(of: tensor),
                SafeTensor(try source.floats(tensor), shape: tensor.shape(in: source.config))
            )
        }
        let configJSON = try JSONSerialization.data(
            withJSONObject: source.config.huggingFaceJSON, options: [.sortedKeys, .prettyPrinted])
        for name in ["safetensors", "hf-config", "sharded", "tokenizer-json"] {
            let hf = try folder(name + "/hf")
            try configJSON.write(to: hf.appendingPathComponent("config.json"))
            if name == "tokenizer-json" {
                try bpeTokenizer(path: hf.path).writeHuggingFace(to: hf)
            } else {
                try copy(sources.tokenizer, to: hf.appendingPathComponent("tokenizer.model"))
            }
            if name == "sharded" {
                try writeShards(tensors, to: hf)
            } else {
                try SafeTensorsFile.write(
                    Dictionary(uniqueKeysWithValues: tensors), metadata: ["format": "pt"],
                    to: hf.appendingPathComponent("model.safetensors"))
            }
        }
        try GGUFWriter.llama(
            source: source, tokenizer: bpeTokenizer(path: "seed"), linearType: .q8_0, name: "stories260K"
        )
        .write(to: try folder("gguf").appendingPathComponent("model.gguf"))
        // tok512 as a GGUF's SentencePiece vocabulary: in a model file, and alone (no tensors)
        let sentencePiece = try SentencePieceTokenizer(path: sources.tokenizer)
        try GGUFWriter.llama(source: source, tokenizer: sentencePiece, linearType: .f16, name: "stories260K")
            .write(to: try folder("gguf-spm").appendingPathComponent("model.gguf"))
        try GGUFWriter.writeVocabulary(
            sentencePiece, chatTemplate: nil, to: try folder("gguf-vocab").appendingPathComponent("vocab.gguf"))
        let problems = try String(contentsOfFile: sources.gsm8k, encoding: .utf8).split(separator: "\n").prefix(6)
        try (problems.joined(separator: "\n") + "\n").write(
            to: try folder("gsm8k-jsonl").appendingPathComponent("test.jsonl"),
            atomically: true, encoding: .utf8)
        let text = String(try String(contentsOfFile: sources.text, encoding: .utf8).prefix(3000))
        try text.write(to: try folder("text").appendingPathComponent("text.txt"), atomically: true, encoding: .utf8)
        try text.write(to: root.appendingPathComponent("train.txt"), atomically: true, encoding: .utf8)
        try runConfig(root: root, sources: sources).write(
            to: try folder("yaml").appendingPathComponent("run.yaml"),
            atomically: true, encoding: .utf8)
        try writeChatSeeds(to: root, folder: folder, sources: sources)
    }

    /// Two shards (tensors split by name) and `model.safetensors.index.json`, as transformers writes.
    static func writeShards(_ tensors: [(String, SafeTensor)], to folder: URL) throws {
        let sorted = tensors.sorted { $0.0 < $1.0 }
        let half = sorted.count / 2
        var weightMap: [String: String] = [:]
        for (index, part) in [sorted[..<half], sorted[half...]].enumerated() {
            let file = "model-0000\(index + 1)-of-00002.safetensors"
            try SafeTensorsFile.write(
                Dictionary(uniqueKeysWithValues: Array(part)), metadata: ["format": "pt"],
                to: folder.appendingPathComponent(file))
            for (name, _) in part { weightMap[name] = file }
        }
        let total = tensors.reduce(0) { $0 + $1.1.bytes.count }
        let index: [String: Any] = ["metadata": ["total_size": total], "weight_map": weightMap]
        try JSONSerialization.data(withJSONObject: index, options: [.sortedKeys, .prettyPrinted])
            .write(to: folder.appendingPathComponent("model.safetensors.index.json"))
    }

    /// A 512-token byte-level BPE vocabulary (the 256 byte characters, 254 merges of common
    /// letters, `<s>` and `</s>` as control tokens), the size of stories260K's embedding.
    static func bpeTokenizer(path: String) throws -> ByteLevelBPETokenizer {
        let letters = "etaoinshrdlucmfw".map(String.init)
        var tokens = ByteLevelBPETokenizer.byteAlphabet, merges: [String] = []
        for left in letters {
            for right in letters where merges.count < 254 {
                merges.append(left + " " + right)
                tokens.append(left + right)
            }
        }
        tokens += ["<s>", "</s>"]
        let types = [Int](repeating: 1, count: 510) + [3, 3]
        return try ByteLevelBPETokenizer(
            path: path, tokens: tokens, merges: merges, tokenTypes: types, bosID: 510, eosID: 511,
            addsBOS: true, preTokenizer: .gpt2)
    }

    /// The YAML of a three-step run on stories260K (text data, NF4, rank 4, a checkpoint a step).
    static func runConfig(root: URL, sources: Sources) -> String {
        """
        name: fuzz
        model:
          path: \(sources.model)
          tokenizer: \(sources.tokenizer)
        quantization:
          bits: 4
          block_size: 64
        lora:
          rank: 4
          alpha: 8
          dropout: 0.1
          init: loftq
          loftq_iters: 1
        data:
          dataset: text
          train_path: \(root.appendingPathComponent("train.txt").path)
          eval_path: \(root.appendingPathComponent("train.txt").path)
          max_seq_len: 32
        training:
          seed: 7
          batch_size: 2
          max_steps: 3
          learning_rate: 1e-3
          schedule: cosine
          warmup_steps: 1
          betas: [0.9, 0.999]
        checkpoint:
          every_steps: 1
          keep_last: 3
        eval:
          every_steps: 2
          max_batches: 1
        logging:
          every_steps: 1

        """
    }
}
