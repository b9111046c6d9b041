import Autograd
import Distributed
import Formats
import Foundation
import Llama
import LoRA
import Quantization
import Support

/// `loft quantize`: the one-time set-up of a LoftQ (or QLoRA) seed. It streams a checkpoint one
/// tensor at a time, quantizes the seven decoder linears of every layer with their initial
/// adapters, and writes a `QuantizedFolder`. Peak memory is the quantized model plus the fp32
/// work of one matrix.
public enum LoftQuantizer {
    /// Everything `loft quantize` takes.
    public struct Options: Sendable {
        public var spec: QuantizationSpec
        public var rank: Int, alpha: Float, iterations: Int
        public var initialization: LoRAInitialization
        /// nil: exact SVD up to 1024 on the short side, randomized above.
        public var svd: LoftQ.SVDMethod?
        public var seed: UInt64

        /// Throws when a value cannot give a usable folder (each error names its flag).
        public func validate() throws {
            if let problem = spec.problem { throw RecipeError.invalidOption(name: "--bits", detail: problem) }
            guard rank >= 1 && rank <= 1 << 16 else { throw RecipeError.invalidOption(name: "--rank", detail: "\(rank); expected 1...65536") }
            guard alpha > 0 && alpha.isFinite else {
                throw RecipeError.invalidOption(name: "--alpha", detail: "\(alpha); expected a finite value > 0 (scaling = alpha / rank)")
            }
            guard iterations >= 1 && iterations <= 1000 else {
                throw RecipeError.invalidOption(name: "--loftq-iters", detail: "\(iterations); expected 1...1000")
            }
        }

        /// Options; LoftQ with T = 5 and an automatic SVD choice by default.
        public init(spec: QuantizationSpec, rank: Int = 16, alpha: Float = 16, iterations: Int = 5,
                    initialization: LoRAInitialization = .loftq, svd: LoftQ.SVDMethod? = nil, seed: UInt64 = 0) {
            (self.spec, self.rank, self.alpha, self.iterations) = (spec, rank, alpha, iterations)
            (self.initialization, self.svd, self.seed) = (initialization, svd, seed)
        }
    }

    /// The errors of one matrix.
    public struct MatrixReport: Codable, Sendable {
        /// HF module path, e.g. `model.layers.0.self_attn.q_proj`.
        public let name: String
        public let codebook: String
        public let shape: [Int]
        /// `‖W − deq(q(W))‖/‖W‖`.
        public let plainError: Double
        /// `‖W − deq(Q) − s·B·A‖/‖W‖` of the kept iterate (equal to plain for gaussian init).
        public let initError: Double
        /// The error after every LoftQ step.
        public let iterationErrors: [Double]
        public let seconds: Double
    }

    /// The summary of a run.
    public struct Report: Codable, Sendable {
        public let matrices: [MatrixReport]
        public let averagePlainError: Double, averageInitError: Double
        /// Storage bits per quantized weight (codes and scales).
        public let bitsPerWeight: Double
        public let seconds: Double
        public let initialization: String
        public let layerCodebooks: [String]
    }

    /// Quantizes `source` into `output` (which must not exist yet; written under a temporary
    /// name and renamed when complete). `onMatrix` sees each matrix as it is done. With a `group`
    /// of N ranks, rank r computes matrices r, r + N, …; the results are gathered and rank 0
    /// alone writes the folder (the others return the same report, having written nothing).
    public static func run(source: CheckpointSource, tokenizerPath: String?, options: Options, output: URL,
                           group: ProcessGroup = .single, writeTokenizer: (URL) throws -> Void = { _ in },
                           onMatrix: (MatrixReport) -> Void = { _ in }) throws -> Report {
        try options.validate()
        try source.validate()
        guard !group.isLeader || !FileManager.default.fileExists(atPath: output.path) else {
            throw RecipeError.invalidOption(name: "--out", detail: "\(output.path) already exists; choose a new folder")
        }
        let started = Stopwatch.now()
        let config = source.config
        let root = RandomState(seed: options.seed)
        var quantized: [String: QuantizedTensor] = [:]
        var reports: [MatrixReport] = []
        var adapters: [(layer: Int, module: LinearModule, a: [Float], b: [Float])] = []
        var codeBits = 0, weights = 0
        let codebooks = (0..<config.layers).map { options.spec.codebook(layer: $0, of: config.layers) }
        let matrices = (0..<config.layers).flatMap { layer in LinearModule.allCases.map { (layer, $0) } }
        var computed: [Int: (result: LoftQ.Result, seconds: Double)] = [:]
        func matrixReport(_ index: Int) -> MatrixReport? {
            guard let (result, seconds) = computed[index] else { return nil }
            let (layer, module) = matrices[index]
            return MatrixReport(name: HuggingFaceNames.modulePath(layer: layer, module), codebook: codebooks[layer].name,
                                shape: module.shape(in: config), plainError: result.plainError, initError: result.error,
                                iterationErrors: result.errors, seconds: seconds)
        }
        for (index, (layer, module)) in matrices.enumerated() where group.owns(index) {
            let matrixStart = Stopwatch.now()
            let weight = try source.finiteFloats(.linear(layer: layer, module))
            let loftqOptions = LoftQ.Options(codebook: codebooks[layer], blockSize: options.spec.blockSize,
                                             doubleQuant: options.spec.doubleQuant, rank: options.rank, alpha: options.alpha,
                                             iterations: options.iterations, svd: options.svd)
            do {
                let result = try options.initialization.start(weight: weight, shape: module.shape(in: config), options: loftqOptions,
                                                              layer: layer, module: module, root: root)
                computed[index] = (result, Stopwatch.now() - matrixStart)
            } catch {
                throw RecipeError.invalidOption(name: "\(source.sourceDescription): \(source.name(of: .linear(layer: layer, module)))",
                                                detail: "\(error)")
            }
            if group.size == 1, let done = matrixReport(index) { onMatrix(done) }   // as it is done; over MPI once gathered
        }
        if group.size > 1 { computed = try gather(computed, count: matrices.count, group: group) }
        for (index, (layer, module)) in matrices.enumerated() {
            guard let result = computed[index]?.result, let matrix = matrixReport(index) else { preconditionFailure("matrix \(index) was not computed") }
            quantized[matrix.name + ".weight"] = result.quantized
            adapters.append((layer, module, result.a, result.b))
            codeBits += Int((result.quantized.bitsPerWeight * Double(result.quantized.count)).rounded())
            weights += result.quantized.count
            reports.append(matrix)
            if group.size > 1 { onMatrix(matrix) }
        }
        let report = Report(matrices: reports, averagePlainError: reports.map(\.plainError).reduce(0, +) / Double(reports.count),
                            averageInitError: reports.map(\.initError).reduce(0, +) / Double(reports.count),
                            bitsPerWeight: Double(codeBits) / Double(weights), seconds: Stopwatch.now() - started,
                            initialization: options.initialization.rawValue, layerCodebooks: codebooks.map(\.name))
        guard group.isLeader else { return report }

        let partial = output.deletingLastPathComponent().appendingPathComponent(".\(output.lastPathComponent).partial-\(getpid())")
        try? FileManager.default.removeItem(at: partial)
        try FileManager.default.createDirectory(at: partial, withIntermediateDirectories: true)
        do {
            try QuantizedFolder.writeModel(source: source, quantized: quantized, to: partial.appendingPathComponent("model.safetensors"))
            try QuantizedFolder.writeConfig(config, quantization: LoftQuantizationConfig(
                method: options.spec.method, bits: options.spec.bits, blockSize: options.spec.blockSize,
                doubleQuant: options.spec.doubleQuant, layerCodebooks: codebooks.map(\.name)), to: partial.appendingPathComponent("config.json"))
            try writeTokenizer(partial)
            if let tokenizerPath {
                let copy = partial.appendingPathComponent("tokenizer.model").path
                try FileManager.default.copyItem(atPath: tokenizerPath, toPath: copy)
                try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: copy)
            }
            var adapterTensors: [String: SafeTensor] = [:]
            for entry in adapters {
                let shape = entry.module.shape(in: config)
                adapterTensors[PEFTNames.key(layer: entry.layer, module: entry.module, tensor: "lora_A")] =
                    SafeTensor(entry.a, shape: [options.rank, shape[1]])
                adapterTensors[PEFTNames.key(layer: entry.layer, module: entry.module, tensor: "lora_B")] =
                    SafeTensor(entry.b, shape: [shape[0], options.rank])
            }
            let adapterConfig = AdapterConfig(
                initialization: options.initialization, rank: options.rank, alpha: options.alpha, targetModules: LinearModule.allCases,
                bits: options.spec.bits, iterations: options.iterations, base: output.path)
            try AdapterFiles.write(tensors: adapterTensors, config: adapterConfig, to: partial.appendingPathComponent("adapter"))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.keyEncodingStrategy = .convertToSnakeCase
            try AtomicFile.write(try encoder.encode(report), to: partial.appendingPathComponent("loftq_report.json"))
            try FileManager.default.moveItem(at: partial, to: output)
            AtomicFile.syncDirectory(output.deletingLastPathComponent())
            return report
        } catch {
            try? FileManager.default.removeItem(at: partial)
            throw error
        }
    }
}
