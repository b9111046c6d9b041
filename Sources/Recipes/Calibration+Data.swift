import Formats
import Foundation
import Llama
import LoRA
import Support
import Tokenizers

/// Where calibration tokens come from and how many: `sequences` rows of `length` tokens cut from
/// the start of `data` (text, or JSON lines whose string values are read as text), BOS first.
public struct CalibrationOptions: Sendable {
    public var data: String
    public var sequences: Int, length: Int
    /// The weighting `loftq_aware` uses: the exact square root of Σ or its diagonal.
    public var form: ActivationWeighting.Form

    /// Options; QERA's defaults (128 × 512).
    public init(data: String, sequences: Int = 128, length: Int = 512, form: ActivationWeighting.Form = .exact) {
        (self.data, self.sequences, self.length) = (data, sequences, length)
        self.form = form
    }

    /// Throws when a count is out of range (naming the flag).
    public func validate() throws {
        guard (1...100_000).contains(sequences) else {
            throw RecipeError.invalidOption(name: "--calibration-samples", detail: "\(sequences); expected 1...100000")
        }
        guard (2...1 << 17).contains(length) else {
            throw RecipeError.invalidOption(name: "--calibration-seq-len", detail: "\(length); expected 2...131072")
        }
    }

    /// The token rows: the file's text tokenized (only as much as the rows need), cut into rows.
    /// - Throws: naming the file when it cannot be read or holds too little text for one row.
    public func tokenRows(tokenizer: any Tokenizer, option: String = "--calibration-data") throws -> [[Int32]] {
        guard let data = FileManager.default.contents(atPath: self.data) else {
            throw FormatError.fileNotFound(path: self.data)
        }
        // About four characters a token: read twice what the rows need.
        let budget = sequences * length * 8
        var text = String(decoding: data.prefix(budget), as: UTF8.self)
        if self.data.hasSuffix(".jsonl") {
            text = text.split(separator: "\n").compactMap { line in
                (try? JSONSerialization.jsonObject(with: Data(line.utf8))).map {
                    Self.strings(in: $0).joined(separator: "\n")
                }
            }.joined(separator: "\n\n")
        }
        let ids = try tokenizer.encode(text, addBOS: true)
        let rows = stride(from: 0, to: ids.count, by: length).map { Array(ids[$0..<min($0 + length, ids.count)]) }
            .filter { $0.count >= 2 }
        guard !rows.isEmpty else {
            throw RecipeError.invalidOption(
                name: "--calibration-data", detail: "\(self.data) holds no text to calibrate on")
        }
        return Array(rows.prefix(sequences))
    }

    /// Every string value of a parsed JSON value, in order.
    private static func strings(in value: Any) -> [String] {
        switch value {
        case let text as String: return [text]
        case let array as [Any]: return array.flatMap(strings)
        case let object as [String: Any]: return object.keys.sorted().flatMap { strings(in: object[$0]!) }
        default: return []
        }
    }
}

extension CalibrationStatistics {
    /// What a calibration pass took, for reports.
    public struct Summary: Codable, Sendable {
        public let sequences: Int, tokens: Int
        public let seconds: Double
        /// The moments' size in Double while collected, and written (f32).
        public let megabytes: Double
    }

    /// Writes the moments (f32, `layers.N.site` [n, n]) to `url`, atomically.
    public func write(to url: URL) throws {
        var tensors: [String: SafeTensor] = [:]
        for (key, moment) in moments {
            tensors[key] = SafeTensor(moment.values.map { Float($0) }, shape: [moment.width, moment.width])
        }
        try SafeTensorsFile.write(
            tensors, metadata: ["loft.calibration_sequences": "\(sequences)", "loft.calibration_tokens": "\(tokens)"],
            to: url)
    }

    /// Reads moments written by `write(to:)`.
    /// - Throws: naming the file and tensor when it is not such a file.
    public static func read(from url: URL) throws -> CalibrationStatistics {
        let file = try SafeTensorsFile(path: url.path)
        var moments: [String: (width: Int, values: [Double])] = [:]
        for name in file.names {
            let values = try file.floats(name)
            let width = Int(Double(values.count).squareRoot())
            guard width * width == values.count, width > 0 else {
                throw RecipeError.invalidOption(name: url.path, detail: "\(name) is not a square matrix")
            }
            moments[name] = (width, values.map(Double.init))
        }
        return CalibrationStatistics(
            moments: moments, sequences: Int(file.metadata["loft.calibration_sequences"] ?? "") ?? 0,
            tokens: Int(file.metadata["loft.calibration_tokens"] ?? "") ?? 0)
    }
}

extension CalibrationStatistics {
    /// The calibration pass of `loft quantize` and of a `loftq_aware` run: the full-precision
    /// model read whole from `source`, its ids checked (an error names `option`), run over `rows`,
    /// the moments of `modules`' inputs collected, then the model released.
    static func collect(
        source: CheckpointSource, rows: [[Int32]], modules: Set<LinearModule>, option: String
    ) throws -> (statistics: CalibrationStatistics, summary: Summary) {
        let started = Stopwatch.now()
        let model = try LlamaModel(checkpoint: source)
        if let bad = rows.lazy.compactMap({ model.firstInvalidToken($0) }).first {
            throw RecipeError.invalidOption(name: option, detail: "token id \(bad) is outside the model's vocabulary")
        }
        let statistics = collect(model: model, sequences: rows, modules: modules)
        let summary = Summary(
            sequences: statistics.sequences, tokens: statistics.tokens, seconds: Stopwatch.now() - started,
            megabytes: Double(statistics.bytes) / 1e6)
        return (statistics, summary)
    }
}

extension ModelBuilder {
    /// The calibration pass of a `lora.init: loftq_aware` run (nil for other starts): the
    /// full-precision model read whole from `source`, run over `lora.calibration`'s rows (by
    /// default from the training data), the moments of the targets' inputs collected.
    static func calibrate(_ config: RunConfig, source: CheckpointSource, tokenizer: any Tokenizer) throws
        -> CalibrationStatistics?
    {
        guard config.lora.initialization == .loftqAware else { return nil }
        let section = config.lora.calibration ?? RunConfig.CalibrationSection()
        let options = CalibrationOptions(
            data: section.data ?? config.data.trainPath, sequences: section.samples, length: section.seqLen,
            form: section.form)
        let option = "lora.calibration.data"
        let rows = try options.tokenRows(tokenizer: tokenizer, option: option)
        return try CalibrationStatistics.collect(
            source: source, rows: rows, modules: Set(config.lora.targetModules), option: option
        ).statistics
    }
}
