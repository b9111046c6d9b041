import Formats
import Foundation
import LoRA
import Llama
import Quantization
import Yams

/// Reads a run config: YAML, then `--set section.key=value` overrides, then a check that every
/// key is known, typed decoding (defaults fill absent keys), and range checks. Every error names
/// the file and the key.
public enum ConfigLoader {
    /// The keys each section accepts.
    static let schema: [String: [String]] = [
        "model": RunConfig.ModelSection.CodingKeys.allCases.map(\.rawValue),
        "quantization": RunConfig.QuantizationSection.CodingKeys.allCases.map(\.rawValue),
        "lora": RunConfig.LoRASection.CodingKeys.allCases.map(\.rawValue),
        "data": RunConfig.DataSection.CodingKeys.allCases.map(\.rawValue),
        "training": RunConfig.TrainingSection.CodingKeys.allCases.map(\.rawValue),
        "checkpoint": RunConfig.CheckpointSection.CodingKeys.allCases.map(\.rawValue),
        "eval": RunConfig.EvalSection.CodingKeys.allCases.map(\.rawValue),
        "logging": RunConfig.LoggingSection.CodingKeys.allCases.map(\.rawValue),
    ]

    /// The config in `path` with `overrides` (`section.key=value`, values in YAML syntax) applied.
    public static func load(path: String, overrides: [String] = []) throws -> RunConfig {
        return try parse(try TextBlocks.read(path), file: path, overrides: overrides)
    }

    /// Parses YAML `text` (named `file` in errors).
    public static func parse(_ text: String, file: String, overrides: [String] = []) throws -> RunConfig {
        var root: Node
        do {
            root = try Yams.compose(yaml: text) ?? Node.mapping(Node.Mapping([]))
        } catch {
            throw TrainingError.unreadableConfig(file: file, detail: yamlProblem(error))
        }
        guard case .mapping = root else {
            throw TrainingError.invalidValue(file: file, key: "(top level)", detail: "expected a mapping of sections")
        }
        for override in overrides { try apply(override, to: &root) }
        try checkKeys(root, file: file)
        let config: RunConfig
        do {
            config = try YAMLDecoder().decode(RunConfig.self, from: root)
        } catch let error as DecodingError {
            throw describe(error, file: file)
        }
        try validate(config, file: file)
        return config
    }

    /// A YAML error in one line with its line number (Yams's text repeats the whole file).
    public static func yamlProblem(_ error: Error) -> String {
        guard let yaml = error as? YamlError else {
            return "\(error)".split(separator: "\n").first.map(String.init) ?? "\(error)"
        }
        switch yaml {
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.joined(separator: "', '")
            return "key '\(keys)' appears twice in the mapping that starts at line \(context.mark.line)"
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _):
            return "\(problem) (line \(mark.line), column \(mark.column))"
        default:
            return "\(yaml)".split(separator: "\n").first.map(String.init) ?? "\(yaml)"
        }
    }

    /// Sets `section.key` (or a top-level `key`) to the YAML value after `=`.
    static func apply(_ override: String, to root: inout Node) throws {
        guard let equals = override.firstIndex(of: "=") else { throw TrainingError.badOverride(override) }
        let path = override[..<equals].split(separator: ".").map(String.init)
        let valueText = String(override[override.index(after: equals)...])
        guard (1...2).contains(path.count), !path.contains(where: \.isEmpty) else {
            throw TrainingError.badOverride(override)
        }
        let value = (try? Yams.compose(yaml: valueText)).flatMap { $0 } ?? Node(valueText)
        guard var mapping = root.mapping else { throw TrainingError.badOverride(override) }
        if path.count == 1 {
            mapping[path[0]] = value
        } else {
            var section = mapping[path[0]]?.mapping ?? Node.Mapping([])
            section[path[1]] = value
            mapping[path[0]] = Node.mapping(section)
        }
        root = Node.mapping(mapping)
    }

    /// Every key must belong to the schema (`quantization: none` is also accepted).
    static func checkKeys(_ root: Node, file: String) throws {
        let topLevel = RunConfig.CodingKeys.allCases.map(\.rawValue)
        for (keyNode, value) in root.mapping! {
            let key = keyNode.string ?? "\(keyNode)"
            guard topLevel.contains(key) else {
                throw TrainingError.unknownKey(
                    file: file, key: key, line: keyNode.mark.map { $0.line }, known: topLevel)
            }
            guard let known = schema[key] else { continue }
            if key == "quantization", value.string == "none" { continue }
            guard let section = value.mapping else {
                throw TrainingError.invalidValue(
                    file: file, key: key, detail: "expected a mapping of \(known.joined(separator: ", "))")
            }
            for (innerNode, _) in section {
                let inner = innerNode.string ?? "\(innerNode)"
                if !known.contains(inner) {
                    throw TrainingError.unknownKey(
                        file: file, key: "\(key).\(inner)", line: innerNode.mark.map { $0.line }, known: known)
                }
            }
        }
    }

    /// The allowed values of the keys that are choices (typed enums), for error messages.
    static let choices: [String: [String]] = [
        "model.format": ModelFormat.allCases.map(\.rawValue),
        "quantization.method": QuantizationSpec.Method.allCases.map(\.rawValue),
        "lora.init": LoRAInitialization.allCases.map(\.rawValue),
        "lora.target_modules": LinearModule.allCases.map(\.rawValue),
        "data.dataset": RunConfig.DatasetKind.allCases.map(\.rawValue),
        "data.train_on": RunConfig.TrainOn.allCases.map(\.rawValue),
        "training.schedule": LRSchedule.Kind.allCases.map(\.rawValue),
    ]

    static func describe(_ error: DecodingError, file: String) -> TrainingError {
        func key(_ path: [CodingKey]) -> String {
            path.map(\.stringValue).filter { !$0.isEmpty }.joined(separator: ".")
        }
        switch error {
        case .typeMismatch(let type, let context):
            return .invalidValue(
                file: file, key: key(context.codingPath), detail: "expected \(DecodingError.plainName(of: type))")
        case .valueNotFound(let type, let context):
            return .invalidValue(
                file: file, key: key(context.codingPath),
                detail: "expected \(DecodingError.plainName(of: type)), found nothing")
        case .keyNotFound(let missing, let context):
            return .invalidValue(file: file, key: key(context.codingPath + [missing]), detail: "missing")
        case .dataCorrupted(let context):
            let name = key(context.codingPath)
            let allowed = choices.first { name == $0.key || name.hasPrefix($0.key + ".") }?.value
            return .invalidValue(
                file: file, key: name,
                detail: allowed.map { "expected one of \($0.joined(separator: ", "))" }
                    ?? "not a valid value")
        @unknown default:
            return .invalidValue(file: file, key: "?", detail: "\(error)")
        }
    }

    /// Range and choice checks.
    public static func validate(_ c: RunConfig, file: String) throws {
        func check(_ ok: Bool, _ key: String, _ value: Any, _ expected: String) throws {
            if !ok { throw TrainingError.outOfRange(file: file, key: key, value: "\(value)", expected: expected) }
        }
        try check(!c.name.isEmpty && !c.name.contains("/"), "name", c.name, "a non-empty name without '/'")
        if let q = c.quantization, let problem = q.spec.problem {
            try check(false, "quantization.bits", q.bits, problem)
        }
        try check(c.lora.rank >= 1 && c.lora.rank <= 1 << 16, "lora.rank", c.lora.rank, "in 1...65536")
        try check(c.lora.alpha > 0 && c.lora.alpha.isFinite, "lora.alpha", c.lora.alpha, "finite and > 0")
        try check(c.lora.dropout >= 0 && c.lora.dropout < 1, "lora.dropout", c.lora.dropout, "in [0, 1)")
        try check(
            !c.lora.targetModules.isEmpty && Set(c.lora.targetModules).count == c.lora.targetModules.count,
            "lora.target_modules", c.lora.targetModules.map(\.rawValue), "a non-empty list of distinct modules")
        try check(
            c.lora.loftqIters >= 1 && c.lora.loftqIters <= 1000, "lora.loftq_iters", c.lora.loftqIters, "in 1...1000")
        if c.lora.initialization == .adapter, c.lora.adapter == nil {
            throw TrainingError.invalidValue(
                file: file, key: "lora.adapter",
                detail: "missing; lora.init: adapter continues from this PEFT adapter folder")
        }
        if let calibration = c.lora.calibration {
            try check(
                (1...100_000).contains(calibration.samples), "lora.calibration.samples", calibration.samples,
                "in 1...100000")
            try check(
                (2...1 << 17).contains(calibration.seqLen), "lora.calibration.seq_len", calibration.seqLen,
                "in 2...131072")
            if c.lora.initialization != .loftqAware {
                throw TrainingError.invalidValue(
                    file: file, key: "lora.calibration",
                    detail: "is only read with lora.init: loftq_aware (here \(c.lora.initialization.rawValue))")
            }
        }
        if c.lora.initialization != .adapter, c.lora.adapter != nil {
            throw TrainingError.invalidValue(
                file: file, key: "lora.adapter",
                detail: "is only read with lora.init: adapter (here \(c.lora.initialization.rawValue))")
        }
        try check(
            c.data.maxSeqLen >= 2 && c.data.maxSeqLen <= 1 << 24, "data.max_seq_len", c.data.maxSeqLen, "in 2...2^24")
        try check(c.data.limitTrain >= 0, "data.limit_train", c.data.limitTrain, "≥ 0")
        try check(c.eval.samples.count <= 64, "eval.samples", c.eval.samples.count, "at most 64 samples")
        try check(
            (1...4096).contains(c.eval.sampleMaxTokens), "eval.sample_max_tokens", c.eval.sampleMaxTokens, "in 1...4096"
        )
        if c.data.chatTemplate != nil, c.data.dataset != .chat {
            throw TrainingError.invalidValue(
                file: file, key: "data.chat_template",
                detail: "is only read with data.dataset: chat (here \(c.data.dataset.rawValue))")
        }
        let t = c.training
        try check(t.batchSize >= 1 && t.batchSize <= 1 << 20, "training.batch_size", t.batchSize, "in 1...2^20")
        try check(
            t.batchSize * c.data.maxSeqLen <= 1 << 26, "training.batch_size", t.batchSize,
            "at most 2^26 tokens a micro-batch with max_seq_len \(c.data.maxSeqLen)")
        try check(
            t.gradAccumulation >= 1 && t.gradAccumulation <= 1 << 20, "training.grad_accumulation", t.gradAccumulation,
            "in 1...2^20")
        try check(t.epochs >= 1 || t.maxSteps >= 1, "training.epochs", t.epochs, "≥ 1 (or max_steps ≥ 1)")
        try check(t.maxSteps >= 0, "training.max_steps", t.maxSteps, "≥ 0")
        try check(t.learningRate >= 0 && t.learningRate.isFinite, "training.learning_rate", t.learningRate, "≥ 0")
        let bounded = t.maxSteps <= 1 << 40 && t.epochs <= 1 << 20
        try check(bounded, "training.max_steps", t.maxSteps, "≤ 2^40 (and epochs ≤ 2^20)")
        try check(t.warmupSteps >= 0 && t.warmupSteps <= 1 << 40, "training.warmup_steps", t.warmupSteps, "in 0...2^40")
        try check(t.warmupRatio >= 0 && t.warmupRatio < 1, "training.warmup_ratio", t.warmupRatio, "in [0, 1)")
        try check(t.weightDecay >= 0, "training.weight_decay", t.weightDecay, "≥ 0")
        try check(
            t.betas.count == 2 && t.betas.allSatisfy { $0 >= 0 && $0 < 1 }, "training.betas", t.betas,
            "two values in [0, 1)")
        try check(t.eps > 0 && t.eps.isFinite, "training.eps", t.eps, "finite and > 0")
        try check(t.weightDecay.isFinite, "training.weight_decay", t.weightDecay, "finite")
        try check(
            t.maxGradNorm >= 0 && t.maxGradNorm.isFinite, "training.max_grad_norm", t.maxGradNorm,
            "finite and ≥ 0 (0 disables clipping)")
        try check(
            t.skipLossZScore >= 0 && t.skipLossZScore.isFinite, "training.skip_loss_zscore", t.skipLossZScore,
            "finite and ≥ 0 (0: off)")
        try check(
            t.skipGradZScore >= 0 && t.skipGradZScore.isFinite, "training.skip_grad_zscore", t.skipGradZScore,
            "finite and ≥ 0 (0: off)")
        try check((2...1_000_000).contains(t.spikeWindow), "training.spike_window", t.spikeWindow, "in 2...1000000")
        try check(c.checkpoint.everySteps >= 0, "checkpoint.every_steps", c.checkpoint.everySteps, "≥ 0")
        try check(c.checkpoint.keepLast >= 1, "checkpoint.keep_last", c.checkpoint.keepLast, "≥ 1")
        try check(c.eval.everySteps >= 0, "eval.every_steps", c.eval.everySteps, "≥ 0")
        try check(c.eval.maxBatches >= 0, "eval.max_batches", c.eval.maxBatches, "≥ 0")
        try check(c.logging.everySteps >= 1, "logging.every_steps", c.logging.everySteps, "≥ 1")
    }

    /// Every file the config names must exist: a missing one is reported with its key before
    /// anything is built.
    public static func checkPaths(_ c: RunConfig, file: String) throws {
        var paths = [("model.path", c.model.path), ("data.train_path", c.data.trainPath)]
        if let tokenizer = c.model.tokenizer { paths.append(("model.tokenizer", tokenizer)) }
        if let eval = c.data.evalPath { paths.append(("data.eval_path", eval)) }
        if let adapter = c.lora.adapter { paths.append(("lora.adapter", adapter)) }
        for (key, path) in paths where !FileManager.default.fileExists(atPath: path) {
            throw TrainingError.invalidValue(file: file, key: key, detail: "no such file or folder: \(path)")
        }
    }

    /// The config as YAML (what is written into the run folder).
    public static func yaml(_ config: RunConfig) throws -> String { try YAMLEncoder().encode(config) }
}
