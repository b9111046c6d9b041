import Autograd
import Foundation
import Llama
import LoRA
import Quantization
import Recipes
import Support

/// `loft bench decode`: KV-cache decoding tokens/s at several batch sizes against the memory
/// bound (DRAM bandwidth ÷ weight bytes read per step), for a preset with random weights or a
/// real model file, NF4/NF2 or fp32 base, LoRA on the seven linears.
public enum DecodeBenchmark {
    /// One batch size.
    public struct Row: Codable, Sendable {
        /// Sequences decoded together; tokens/s counts all of them.
        public let batch: Int
        public let tokensPerSecond: Summary
        /// Bandwidth ÷ bytes per step × batch: the tokens/s if every step only streamed the weights once.
        public let memoryBoundTokensPerSecond: Double
        /// tokensPerSecond.median ÷ memoryBoundTokensPerSecond.
        public let fractionOfBound: Double
    }

    /// The measurements.
    public struct Report: Codable, Sendable {
        public let model: String, bits: String, rank: Int
        /// Weight bytes a decoding step reads: packed codes and scales, fp32 weights and norms,
        /// the output projection, the adapters (the embedding table contributes one row a token).
        public let weightBytesPerStep: Int
        /// Two threads summing a 512 MiB buffer.
        public let dramGBPerSecond: Summary
        public let promptTokens: Int, decodedTokens: Int
        public let rows: [Row]
        public let peakRSSBytes: Int
        public let buildSeconds: Double
        public let runtime: RuntimeInfo
    }

    /// Decodes `decoded` tokens after a `prompt`-token prefill, `runs` times per batch size.
    /// `modelPath` (a GGUF, HF folder, …) is quantized to `options.bits` like a training run;
    /// without it `options.config` gets random weights. The model decodes as `execution` says.
    public static func run(
        _ options: ModelBenchmark.Options, modelPath: String?, batches: [Int], prompt: Int, decoded: Int,
        runs: Int, execution: ExecutionOptions = .fp32
    ) throws -> Report {
        guard (1...10_000).contains(runs) else {
            throw BenchmarkError.invalidFlag(name: "--runs", detail: "\(runs); expected 1...10000")
        }
        guard !batches.isEmpty, batches.allSatisfy({ (1...256).contains($0) }) else {
            throw BenchmarkError.invalidFlag(name: "--batches", detail: "\(batches); expected sizes in 1...256")
        }
        let buildStart = Stopwatch.now()
        let source: CheckpointSource =
            try modelPath.map { try ModelFiles.openCheckpoint($0) }
            ?? RandomCheckpoint(config: options.config, seed: options.seed)
        let model = try ModelBenchmark.buildModel(options, source: source)
        let buildSeconds = Stopwatch.now() - buildStart
        let c = model.config
        guard prompt >= 1, decoded >= 1, prompt + decoded <= c.maxSequenceLength else {
            throw BenchmarkError.invalidFlag(
                name: "--prompt/--tokens", detail: "\(prompt) + \(decoded) must fit \(c.maxSequenceLength) positions")
        }
        let bytes = weightBytesPerStep(model)
        var rng = RandomState(seed: options.seed).split("decode-tokens")
        var rows: [Row] = []
        for batch in batches {
            let caches = (0..<batch).map { _ in KVCache(config: c, capacity: prompt + decoded) }
            let rates: [Double] = (0...runs).map { _ in
                for cache in caches {
                    cache.reset()
                    _ = model.forward(
                        tokens: (0..<prompt).map { _ in Int32(rng.next() % UInt64(c.vocabularySize)) }, cache: cache,
                        execution: execution)
                }
                var next = (0..<batch).map { _ in Int32(rng.next() % UInt64(c.vocabularySize)) }
                let seconds = Stopwatch.time {
                    for _ in 0..<decoded {
                        let logits = model.decodeStep(tokens: next, caches: caches, execution: execution)
                        next = (0..<batch).map { b in Int32(argmax(logits, row: b, width: c.vocabularySize)) }
                    }
                }
                return Double(batch * decoded) / seconds
            }.dropFirst().map { $0 }
            rows.append(
                Row(batch: batch, tokensPerSecond: Summary(rates), memoryBoundTokensPerSecond: 0, fractionOfBound: 0))
        }
        // Peak RSS before the bandwidth probe, whose buffer is not the model's.
        let peak = ProcessMemory.peakResidentBytes
        let bandwidth = Summary((0..<5).map { _ in memoryBandwidth() })
        rows = rows.map { row in
            let bound = bandwidth.median * 1e9 / Double(bytes) * Double(row.batch)
            return Row(
                batch: row.batch, tokensPerSecond: row.tokensPerSecond, memoryBoundTokensPerSecond: bound,
                fractionOfBound: row.tokensPerSecond.median / bound)
        }
        return Report(
            model: modelPath ?? "random \(c.dim)×\(c.layers)", bits: options.bits.map { "nf\($0)" } ?? "none",
            rank: options.rank,
            weightBytesPerStep: bytes, dramGBPerSecond: bandwidth, promptTokens: prompt, decodedTokens: decoded,
            rows: rows,
            peakRSSBytes: peak, buildSeconds: buildSeconds, runtime: .current(compute: execution.compute))
    }

    /// The index of the largest of `logits[row·width ..< (row+1)·width]`.
    static func argmax(_ logits: [Float], row: Int, width: Int) -> Int {
        var best = 0
        for j in 1..<width where logits[row * width + j] > logits[row * width + best] { best = j }
        return best
    }

    /// Bytes of weights one decoding step reads (see `Report.weightBytesPerStep`).
    static func weightBytesPerStep(_ model: LlamaModel) -> Int {
        func bytes(_ layer: LinearLayer) -> Int {
            switch layer {
            case let lora as LoRALinear: return bytes(lora.base) + 4 * (lora.loraA.count + lora.loraB.count)
            case let q as QuantizedLinear: return q.weight.codes.bytes.count + q.weight.scales.storageBits / 8
            case let plain as Linear: return 4 * plain.weight.count
            default: return 4 * layer.inFeatures * layer.outFeatures
            }
        }
        var total = 4 * (model.finalNorm.count + model.outputWeight.count + model.config.dim)
        for block in model.blocks {
            total += 4 * (block.attentionNorm.count + block.mlpNorm.count)
            for module in LinearModule.allCases { total += bytes(block[module]) }
        }
        return total
    }

    /// GB/s of two threads summing a 512 MiB buffer (already paged in), one pass.
    public static func memoryBandwidth() -> Double {
        let count = 1 << 27
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: count)
        defer { buffer.deallocate() }
        buffer.initialize(repeating: 1, count: count)
        let pointer = SendablePointer(buffer)
        let chunks = 64
        var partial = [Float](repeating: 0, count: chunks)
        let seconds = Stopwatch.time {
            partial.withUnsafeMutableBufferPointer { sums in
                let sumsP = SendablePointer(sums.baseAddress!)
                Parallel.forEach(chunks, costPerItem: 1 << 22) { range in
                    for chunk in range {
                        let (start, end) = (count * chunk / chunks, count * (chunk + 1) / chunks)
                        var lanes = SIMD16<Float>()
                        var i = start
                        while i + 16 <= end {
                            lanes += UnsafeRawPointer(pointer.pointer + i).loadUnaligned(as: SIMD16<Float>.self)
                            i += 16
                        }
                        sumsP.pointer[chunk] = lanes.sum()
                    }
                }
            }
        }
        precondition(partial.reduce(0, +) > 0, "memoryBandwidth: the sum was optimised away")
        return Double(4 * count) / seconds / 1e9
    }
}
