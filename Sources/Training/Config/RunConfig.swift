import Autograd
import Formats
import Foundation
import Llama
import LoRA
import Quantization

/// A training run as its YAML config describes it. Every section has defaults; an unknown key
/// is an error (see `ConfigLoader`).
public struct RunConfig: Codable, Equatable, Sendable {
    /// The run's name: its folder is `runs/NAME`.
    public var name: String = "run"
    public var model = ModelSection()
    /// nil: a full-precision (fp32 base) LoRA baseline (`quantization: none`).
    public var quantization: QuantizationSection? = QuantizationSection()
    public var lora = LoRASection()
    public var data = DataSection()
    public var training = TrainingSection()
    public var checkpoint = CheckpointSection()
    public var eval = EvalSection()
    public var logging = LoggingSection()

    /// The defaults of every section.
    public init() {}

    /// `model`: which weights and tokenizer.
    public struct ModelSection: Codable, Equatable, Sendable {
        /// A Hugging Face folder, a llama2.c `.bin`, or a `loft quantize` folder.
        public var path = "data/models/stories260K/stories260K.bin"
        /// The SentencePiece model (default: beside the model).
        public var tokenizer: String? = nil
        /// `auto` (from the path), `hf`, `llama2c` or `loft`.
        public var format = ModelFormat.auto
        /// The defaults.
        public init() {}
    }

    /// `quantization`: how the frozen base is stored.
    public struct QuantizationSection: Codable, Equatable, Sendable {
        public var bits: Double = 4
        public var method: QuantizationSpec.Method = .nf
        public var blockSize = 64
        public var doubleQuant = false
        /// The defaults.
        public init() {}
        /// The spec these values describe.
        public var spec: QuantizationSpec {
            QuantizationSpec(method: method, bits: bits, blockSize: blockSize, doubleQuant: doubleQuant)
        }
    }

    /// `lora`: the adapters.
    public struct LoRASection: Codable, Equatable, Sendable {
        public var rank = 8
        public var alpha: Float = 16
        public var dropout: Float = 0
        public var targetModules = LinearModule.allCases
        /// `loftq`, `gaussian`, `loftq_peft`, or `adapter` (continue from `adapter`).
        public var initialization = LoRAInitialization.loftq
        public var loftqIters = 5
        /// With `init: adapter`: the PEFT adapter folder training starts from.
        public var adapter: String?
        /// The defaults.
        public init() {}
    }

    /// The kinds of training data.
    public enum DatasetKind: String, Codable, Sendable, CaseIterable {
        /// GSM8K JSONL in the LoftQ prompt format.
        case gsm8k
        /// WikiText-2 raw text, rows as Hugging Face reads them, cut into blocks.
        case wikitext2
        /// Any text file, cut into blocks.
        case text
        /// JSON lines of `text`, or `prompt` + `completion`.
        case jsonl
    }

    /// `data`: what to train and evaluate on.
    public struct DataSection: Codable, Equatable, Sendable {
        /// `gsm8k`, `wikitext2`, `text` or `jsonl`.
        public var dataset = DatasetKind.gsm8k
        public var trainPath = "data/gsm8k/train.jsonl"
        public var evalPath: String? = "data/gsm8k/test.jsonl"
        /// Longest example (gsm8k, jsonl) or block length (wikitext2, text).
        public var maxSeqLen = 256
        /// Use only the first N training examples (0: all).
        public var limitTrain = 0
        /// The defaults.
        public init() {}
    }

    /// `training`: the optimisation.
    public struct TrainingSection: Codable, Equatable, Sendable {
        public var seed: UInt64 = 42
        public var batchSize = 8
        public var gradAccumulation = 1
        public var epochs = 1
        /// Optimizer steps; overrides `epochs` when > 0.
        public var maxSteps = 0
        public var learningRate: Float = 3e-4
        /// `constant`, `linear` or `cosine`.
        public var schedule = LRSchedule.Kind.cosine
        public var warmupSteps = 0
        /// Used when `warmup_steps` is 0.
        public var warmupRatio: Double = 0
        public var weightDecay: Double = 0
        public var betas: [Double] = [0.9, 0.999]
        public var eps: Double = 1e-8
        /// 0 disables clipping.
        public var maxGradNorm: Float = 1
        /// Recompute each decoder block in backward instead of keeping its activations.
        public var activationCheckpointing = false
        /// The arithmetic of the frozen products (base and output projection, forward and
        /// backward): `fp32`, or `bf16` (bf16 inputs, fp32 sums; fp32 on CPUs without AVX512-BF16).
        public var computeDtype = ComputeType.fp32
        /// Skip the update of a step whose loss z-score over the last `spike_window` steps exceeds
        /// this (0: off; llm.c's -sl), and the same for the gradient norm (llm.c's -sg).
        public var skipLossZScore: Double = 0, skipGradZScore: Double = 0
        public var spikeWindow = 128
        /// The defaults.
        public init() {}
    }

    /// `checkpoint`: where and how often.
    public struct CheckpointSection: Codable, Equatable, Sendable {
        /// Default: `runs/NAME/checkpoints`.
        public var dir: String? = nil
        /// 0: only at the end (and on interruption).
        public var everySteps = 0
        public var keepLast = 3
        /// The defaults.
        public init() {}
    }

    /// `eval`: evaluation during training.
    public struct EvalSection: Codable, Equatable, Sendable {
        /// 0: only at the end.
        public var everySteps = 0
        /// Batches per evaluation (0: the whole eval set).
        public var maxBatches = 20
        /// The defaults.
        public init() {}
    }

    /// `logging`: how often a step record is written.
    public struct LoggingSection: Codable, Equatable, Sendable {
        public var everySteps = 1
        /// The defaults.
        public init() {}
    }
}

// MARK: - Decoding with defaults and snake_case keys

extension KeyedDecodingContainer {
    /// The value at `key`, or `fallback` when the key is absent.
    func value<T: Decodable>(_ key: Key, _ fallback: T) throws -> T {
        try decodeIfPresent(T.self, forKey: key) ?? fallback
    }

    /// The optional value at `key`: `fallback` when the key is absent, nil when it is `null`.
    func optional<T: Decodable>(_ key: Key, _ fallback: T?) throws -> T? {
        contains(key) ? try decodeIfPresent(T.self, forKey: key) : fallback
    }
}

extension RunConfig {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, model, quantization, lora, data, training, checkpoint, eval, logging
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = RunConfig()
        name = try c.value(.name, d.name)
        model = try c.value(.model, d.model)
        if (try? c.decode(String.self, forKey: .quantization)) == "none" {
            quantization = nil
        } else {
            quantization = try c.value(.quantization, d.quantization!)
        }
        lora = try c.value(.lora, d.lora)
        data = try c.value(.data, d.data)
        training = try c.value(.training, d.training)
        checkpoint = try c.value(.checkpoint, d.checkpoint)
        eval = try c.value(.eval, d.eval)
        logging = try c.value(.logging, d.logging)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(model, forKey: .model)
        if let quantization {
            try c.encode(quantization, forKey: .quantization)
        } else {
            try c.encode("none", forKey: .quantization)
        }
        try c.encode(lora, forKey: .lora)
        try c.encode(data, forKey: .data)
        try c.encode(training, forKey: .training)
        try c.encode(checkpoint, forKey: .checkpoint)
        try c.encode(eval, forKey: .eval)
        try c.encode(logging, forKey: .logging)
    }
}

extension RunConfig.ModelSection {
    enum CodingKeys: String, CodingKey, CaseIterable { case path, tokenizer, format }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self), d = Self()
        (path, tokenizer, format) = (
            try c.value(.path, d.path), try c.optional(.tokenizer, d.tokenizer), try c.value(.format, d.format)
        )
    }
    /// Every key, `null` included (absent would mean the default).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(path, forKey: .path)
        try c.encode(tokenizer, forKey: .tokenizer)
        try c.encode(format, forKey: .format)
    }
}

extension RunConfig.QuantizationSection {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case bits, method, blockSize = "block_size", doubleQuant = "double_quant"
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self), d = Self()
        (bits, method) = (try c.value(.bits, d.bits), try c.value(.method, d.method))
        (blockSize, doubleQuant) = (try c.value(.blockSize, d.blockSize), try c.value(.doubleQuant, d.doubleQuant))
    }
}

extension RunConfig.LoRASection {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case rank, alpha, dropout, targetModules = "target_modules", initialization = "init", loftqIters =
            "loftq_iters", adapter
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self), d = Self()
        (rank, alpha, dropout) = (
            try c.value(.rank, d.rank), try c.value(.alpha, d.alpha), try c.value(.dropout, d.dropout)
        )
        targetModules = try c.value(.targetModules, d.targetModules)
        (initialization, loftqIters) = (
            try c.value(.initialization, d.initialization), try c.value(.loftqIters, d.loftqIters)
        )
        adapter = try c.optional(.adapter, d.adapter)
    }
}

extension RunConfig.DataSection {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case dataset, trainPath = "train_path", evalPath = "eval_path", maxSeqLen = "max_seq_len", limitTrain =
            "limit_train"
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self), d = Self()
        (dataset, trainPath, evalPath) = (
            try c.value(.dataset, d.dataset), try c.value(.trainPath, d.trainPath),
            try c.optional(.evalPath, d.evalPath)
        )
        (maxSeqLen, limitTrain) = (try c.value(.maxSeqLen, d.maxSeqLen), try c.value(.limitTrain, d.limitTrain))
    }
    /// Every key, `null` included (absent would mean the default).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(dataset, forKey: .dataset)
        try c.encode(trainPath, forKey: .trainPath)
        try c.encode(evalPath, forKey: .evalPath)
        try c.encode(maxSeqLen, forKey: .maxSeqLen)
        try c.encode(limitTrain, forKey: .limitTrain)
    }
}

extension RunConfig.TrainingSection {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case seed, batchSize = "batch_size", gradAccumulation = "grad_accumulation", epochs, maxSteps = "max_steps"
        case learningRate = "learning_rate", schedule, warmupSteps = "warmup_steps", warmupRatio = "warmup_ratio"
        case weightDecay = "weight_decay", betas, eps, maxGradNorm = "max_grad_norm"
        case activationCheckpointing = "activation_checkpointing", computeDtype = "compute_dtype"
        case skipLossZScore = "skip_loss_zscore", skipGradZScore = "skip_grad_zscore", spikeWindow = "spike_window"
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self), d = Self()
        (seed, batchSize, gradAccumulation) = (
            try c.value(.seed, d.seed), try c.value(.batchSize, d.batchSize),
            try c.value(.gradAccumulation, d.gradAccumulation)
        )
        (epochs, maxSteps, learningRate) = (
            try c.value(.epochs, d.epochs), try c.value(.maxSteps, d.maxSteps),
            try c.value(.learningRate, d.learningRate)
        )
        (schedule, warmupSteps, warmupRatio) = (
            try c.value(.schedule, d.schedule), try c.value(.warmupSteps, d.warmupSteps),
            try c.value(.warmupRatio, d.warmupRatio)
        )
        (weightDecay, betas, eps) = (
            try c.value(.weightDecay, d.weightDecay), try c.value(.betas, d.betas), try c.value(.eps, d.eps)
        )
        maxGradNorm = try c.value(.maxGradNorm, d.maxGradNorm)
        activationCheckpointing = try c.value(.activationCheckpointing, d.activationCheckpointing)
        computeDtype = try c.value(.computeDtype, d.computeDtype)
        (skipLossZScore, skipGradZScore) = (
            try c.value(.skipLossZScore, d.skipLossZScore), try c.value(.skipGradZScore, d.skipGradZScore)
        )
        spikeWindow = try c.value(.spikeWindow, d.spikeWindow)
    }
}

extension RunConfig.CheckpointSection {
    enum CodingKeys: String, CodingKey, CaseIterable { case dir, everySteps = "every_steps", keepLast = "keep_last" }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self), d = Self()
        (dir, everySteps, keepLast) = (
            try c.optional(.dir, d.dir), try c.value(.everySteps, d.everySteps), try c.value(.keepLast, d.keepLast)
        )
    }
    /// Every key, `null` included (absent would mean the default).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(dir, forKey: .dir)
        try c.encode(everySteps, forKey: .everySteps)
        try c.encode(keepLast, forKey: .keepLast)
    }
}

extension RunConfig.EvalSection {
    enum CodingKeys: String, CodingKey, CaseIterable { case everySteps = "every_steps", maxBatches = "max_batches" }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self), d = Self()
        (everySteps, maxBatches) = (try c.value(.everySteps, d.everySteps), try c.value(.maxBatches, d.maxBatches))
    }
}

extension RunConfig.LoggingSection {
    enum CodingKeys: String, CodingKey, CaseIterable { case everySteps = "every_steps" }
    public init(from decoder: Decoder) throws {
        everySteps = try decoder.container(keyedBy: CodingKeys.self).value(.everySteps, Self().everySteps)
    }
}
