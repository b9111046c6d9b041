import Autograd
import Formats
import Foundation
import Llama
import LoRA
import Quantization

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
            "loftq_iters", adapter, calibration
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
        calibration = try c.optional(.calibration, d.calibration)
    }
}

extension RunConfig.DataSection {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case dataset, trainPath = "train_path", evalPath = "eval_path", maxSeqLen = "max_seq_len"
        case limitTrain = "limit_train", chatTemplate = "chat_template", trainOn = "train_on", packing
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self), d = Self()
        (dataset, trainPath, evalPath) = (
            try c.value(.dataset, d.dataset), try c.value(.trainPath, d.trainPath),
            try c.optional(.evalPath, d.evalPath)
        )
        (maxSeqLen, limitTrain) = (try c.value(.maxSeqLen, d.maxSeqLen), try c.value(.limitTrain, d.limitTrain))
        chatTemplate = try c.optional(.chatTemplate, d.chatTemplate)
        trainOn = try c.value(.trainOn, d.trainOn)
        packing = try c.value(.packing, d.packing)
    }
    /// Every key, `null` included (absent would mean the default).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(dataset, forKey: .dataset)
        try c.encode(trainPath, forKey: .trainPath)
        try c.encode(evalPath, forKey: .evalPath)
        try c.encode(maxSeqLen, forKey: .maxSeqLen)
        try c.encode(limitTrain, forKey: .limitTrain)
        try c.encode(chatTemplate, forKey: .chatTemplate)
        try c.encode(trainOn, forKey: .trainOn)
        try c.encode(packing, forKey: .packing)
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
    enum CodingKeys: String, CodingKey, CaseIterable {
        case everySteps = "every_steps", maxBatches = "max_batches", samples, sampleMaxTokens = "sample_max_tokens"
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self), d = Self()
        (everySteps, maxBatches) = (try c.value(.everySteps, d.everySteps), try c.value(.maxBatches, d.maxBatches))
        samples = try c.value(.samples, d.samples)
        sampleMaxTokens = try c.value(.sampleMaxTokens, d.sampleMaxTokens)
    }
}

extension RunConfig.LoggingSection {
    enum CodingKeys: String, CodingKey, CaseIterable { case everySteps = "every_steps" }
    public init(from decoder: Decoder) throws {
        everySteps = try decoder.container(keyedBy: CodingKeys.self).value(.everySteps, Self().everySteps)
    }
}
