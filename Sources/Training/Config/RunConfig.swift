import Autograd
import ChatTemplates
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
        /// `loftq`, `loftq_aware` (activation-weighted, calibrated), `gaussian`, `loftq_peft`, or
        /// `adapter` (continue from `adapter`).
        public var initialization = LoRAInitialization.loftq
        public var loftqIters = 5
        /// With `init: adapter`: the PEFT adapter folder training starts from.
        public var adapter: String?
        /// With `init: loftq_aware`: what to calibrate on (by default the training data).
        public var calibration: CalibrationSection? = nil
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
        /// JSON lines of conversations (`messages`, OpenAI style, or `conversations`, ShareGPT
        /// style) rendered by the model's chat template.
        case chat
    }

    /// Which tokens of an example carry loss.
    public enum TrainOn: String, Codable, Sendable, CaseIterable {
        /// Every assistant turn (its content and end-of-turn token); a `jsonl` completion.
        case assistant
        /// The last assistant turn only (mlx-lm's `--mask-prompt`); a `jsonl` completion.
        case last
        /// Every token, prompts included.
        case all
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
        /// `chat`: the template file (default: the model's own).
        public var chatTemplate: String? = nil
        /// `chat` and `jsonl`: which tokens carry loss.
        public var trainOn = TrainOn.assistant
        /// Pack several examples into each row of `max_seq_len` (attention kept inside each).
        public var packing = false
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
        /// Prompts (a user's turn) or conversations answered greedily at every evaluation, through
        /// the chat template on `dataset: chat` (written to `runs/NAME/samples.jsonl`).
        public var samples: [EvalSample] = []
        /// The most tokens generated per sample.
        public var sampleMaxTokens = 128
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

/// One `eval.samples` entry: a prompt (in a chat run, the user's turn) or a conversation.
public enum EvalSample: Codable, Equatable, Sendable {
    case prompt(String)
    case conversation([ChatMessage])

    struct Turn: Codable { let role: String, content: String }

    /// A string, or a list of `{role, content}` turns.
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            self = .prompt(text)
            return
        }
        let turns = try container.decode([Turn].self)
        guard !turns.isEmpty, turns.allSatisfy({ ChatData.roles.contains($0.role) }) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "expected a string or turns of role system, user or assistant")
        }
        self = .conversation(turns.map { ChatMessage(role: $0.role, content: $0.content) })
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .prompt(let text): try container.encode(text)
        case .conversation(let turns): try container.encode(turns.map { Turn(role: $0.role, content: $0.content) })
        }
    }

    /// The turns to render: a prompt is one user turn.
    public var messages: [ChatMessage] {
        switch self {
        case .prompt(let text): return [ChatMessage(role: "user", content: text)]
        case .conversation(let turns): return turns
        }
    }
}
