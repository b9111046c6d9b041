import Foundation
import Training
import Yams

/// A grid of runs that share one base run config (`loft experiment`): each cell is the base with
/// its own `--set` overrides, trained into an ordinary run folder `RUNS/NAME/CELL/` and then
/// evaluated. The YAML:
///
/// ```yaml
/// name: loftq-table
/// base: ../smollm2-wikitext2.yaml     # a run config, relative to this file
/// set: [training.max_steps=100]       # overrides for every cell
/// evaluate:
///   perplexity: {data: data/wikitext-2-raw/wiki.test.raw, seq_len: 512, protocol: hf, batch: 4, max_blocks: 0}
///   gsm8k: {data: data/gsm8k/test.jsonl, limit: 200, max_new_tokens: 256, batch: 8}
/// cells:
///   - {name: qlora-4, set: [quantization.bits=4, lora.init=gaussian]}
/// ```
public struct ExperimentConfig: Codable, Sendable {
    /// The experiment's folder name under the runs folder.
    public var name: String
    /// The base run config, relative to the experiment file.
    public var base: String
    /// Overrides applied to every cell (before the cell's own).
    public var set: [String] = []
    /// What every cell is scored on, before training (the start) and after.
    public var evaluate: Evaluation
    /// The runs.
    public var cells: [Cell]

    /// One run of the grid.
    public struct Cell: Codable, Sendable {
        /// The run folder's name (letters, digits, `-`, `_`, `.`).
        public var name: String
        /// Overrides of this cell (`section.key=value`).
        public var set: [String] = []
    }

    /// The evaluations of each cell.
    public struct Evaluation: Codable, Sendable {
        public var perplexity: PerplexitySpec?
        public var gsm8k: GSM8KSpec?
    }

    /// Perplexity on a text file.
    public struct PerplexitySpec: Codable, Sendable {
        public var data: String
        public var seqLen = 512
        public var `protocol` = Perplexity.ProtocolKind.hf
        public var batch = 4
        /// Score only the first N blocks (0: all), to keep a large grid's evaluations short.
        public var maxBlocks = 0
    }

    /// Greedy GSM8K accuracy on the first `limit` problems of a JSONL file.
    public struct GSM8KSpec: Codable, Sendable {
        public var data: String
        public var limit = 200
        public var maxNewTokens = 256
        public var batch = 8
    }

    /// The keys each mapping accepts (anything else is an error naming it).
    static let schema: [String: Set<String>] = [
        "": ["name", "base", "set", "evaluate", "cells"], "evaluate": ["perplexity", "gsm8k"],
        "perplexity": ["data", "seq_len", "protocol", "batch", "max_blocks"],
        "gsm8k": ["data", "limit", "max_new_tokens", "batch"],
        "cell": ["name", "set"],
    ]

    /// Reads and checks the experiment in `path`.
    public static func load(_ path: String) throws -> ExperimentConfig {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
        else {
            throw TrainingError.badData(file: path, line: nil, detail: "cannot read the experiment file")
        }
        let root: Node
        do { root = try Yams.compose(yaml: text) ?? Node.mapping(Node.Mapping([])) } catch {
            throw TrainingError.unreadableConfig(file: path, detail: ConfigLoader.yamlProblem(error))
        }
        try checkKeys(root, section: "", file: path)
        if let evaluate = root.mapping?["evaluate"] {
            try checkKeys(evaluate, section: "evaluate", file: path)
            for name in ["perplexity", "gsm8k"] {
                if let spec = evaluate.mapping?[name] { try checkKeys(spec, section: name, file: path) }
            }
        }
        for cell in root.mapping?["cells"]?.sequence ?? [] { try checkKeys(cell, section: "cell", file: path) }
        let decoder = YAMLDecoder()
        var config: ExperimentConfig
        do {
            config = try decoder.decode(ExperimentConfig.self, from: root, userInfo: [:])
        } catch let error as DecodingError {
            throw TrainingError.invalidValue(file: path, key: error.keyPath, detail: "expected \(error.expectation)")
        }
        try config.validate(file: path)
        return config
    }

    static func checkKeys(_ node: Node, section: String, file: String) throws {
        guard let mapping = node.mapping else {
            throw TrainingError.invalidValue(
                file: file, key: section.isEmpty ? "(top level)" : section, detail: "expected a mapping")
        }
        for key in mapping.keys.compactMap(\.string) where !(schema[section] ?? []).contains(key) {
            throw TrainingError.invalidValue(
                file: file, key: section.isEmpty ? key : "\(section).\(key)",
                detail: "unknown key; expected one of \((schema[section] ?? []).sorted().joined(separator: ", "))")
        }
    }

    func validate(file: String) throws {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
        for (key, value) in [("name", name)] + cells.map({ ("cells.name", $0.name) })
        where value.isEmpty || value.hasPrefix(".") || !value.allSatisfy(allowed.contains) {
            throw TrainingError.invalidValue(
                file: file, key: key, detail: "'\(value)' must be letters, digits, -, _ or . (a folder name)")
        }
        guard !cells.isEmpty else {
            throw TrainingError.invalidValue(file: file, key: "cells", detail: "expected at least one cell")
        }
        var seen = Set<String>()
        for cell in cells where !seen.insert(cell.name).inserted {
            throw TrainingError.invalidValue(file: file, key: "cells.name", detail: "'\(cell.name)' appears twice")
        }
        if let p = evaluate.perplexity,
            !(4...1 << 20).contains(p.seqLen) || !(1...4096).contains(p.batch) || p.maxBlocks < 0
        {
            throw TrainingError.invalidValue(
                file: file, key: "evaluate.perplexity",
                detail: "seq_len must be in 4...1048576, batch in 1...4096, max_blocks ≥ 0")
        }
        if let g = evaluate.gsm8k,
            g.limit < 1 || !(1...4096).contains(g.batch) || !(1...1 << 20).contains(g.maxNewTokens)
        {
            throw TrainingError.invalidValue(
                file: file, key: "evaluate.gsm8k",
                detail: "limit must be ≥ 1, batch in 1...4096, max_new_tokens in 1...1048576")
        }
    }
}

extension ExperimentConfig.PerplexitySpec {
    enum CodingKeys: String, CodingKey { case data, seqLen = "seq_len", `protocol`, batch, maxBlocks = "max_blocks" }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        data = try c.decode(String.self, forKey: .data)
        seqLen = try c.decodeIfPresent(Int.self, forKey: .seqLen) ?? 512
        `protocol` = try c.decodeIfPresent(Perplexity.ProtocolKind.self, forKey: .protocol) ?? .hf
        batch = try c.decodeIfPresent(Int.self, forKey: .batch) ?? 4
        maxBlocks = try c.decodeIfPresent(Int.self, forKey: .maxBlocks) ?? 0
    }
}

extension ExperimentConfig.GSM8KSpec {
    enum CodingKeys: String, CodingKey { case data, limit, maxNewTokens = "max_new_tokens", batch }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        data = try c.decode(String.self, forKey: .data)
        limit = try c.decodeIfPresent(Int.self, forKey: .limit) ?? 200
        maxNewTokens = try c.decodeIfPresent(Int.self, forKey: .maxNewTokens) ?? 256
        batch = try c.decodeIfPresent(Int.self, forKey: .batch) ?? 8
    }
}

extension ExperimentConfig.Cell {
    enum CodingKeys: String, CodingKey { case name, set }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        set = try c.decodeIfPresent([String].self, forKey: .set) ?? []
    }
}

extension ExperimentConfig {
    enum CodingKeys: String, CodingKey { case name, base, set, evaluate, cells }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        base = try c.decode(String.self, forKey: .base)
        set = try c.decodeIfPresent([String].self, forKey: .set) ?? []
        evaluate = try c.decode(Evaluation.self, forKey: .evaluate)
        cells = try c.decode([Cell].self, forKey: .cells)
    }
}
