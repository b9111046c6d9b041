import Distributed
import Formats
import Foundation
import LoRA
import Quantization
import Tokenizers

extension LoftQuantizer.Options {
    /// Options from `loft quantize` flag values, checked (errors name the flag). `svd` is
    /// `exact`, `randomized` or `auto` (exact up to 1024 on the short side).
    public init(
        bits: Double, method: QuantizationMethod, blockSize: Int, doubleQuant: Bool, rank: Int, alpha: Float,
        iterations: Int, initialization: LoRAInitialization, svd: String, seed: UInt64
    ) throws {
        let svdMethod: LoftQ.SVDMethod?
        switch svd {
        case "exact": svdMethod = .exact
        case "randomized": svdMethod = .randomized(oversample: 10, powerIterations: 3)
        case "auto": svdMethod = nil
        default: throw RecipeError.invalidOption(name: "--svd", detail: "\(svd); expected exact, randomized or auto")
        }
        self.init(
            spec: QuantizationSpec(method: method, bits: bits, blockSize: blockSize, doubleQuant: doubleQuant),
            rank: rank,
            alpha: alpha, iterations: iterations, initialization: initialization, svd: svdMethod, seed: seed)
        try validate()
    }
}

extension LoftQuantizer {
    /// `loft quantize`: the checkpoint at `model` (Hugging Face folder or llama2.c file) into
    /// `output`, with its tokenizer (`tokenizer`, else the one beside the model, if any) copied in
    /// after checking it against the model's vocabulary.
    public static func quantize(
        model path: String, tokenizer: String?, options: Options, output: URL, group: ProcessGroup = .single,
        onMatrix: (MatrixReport) -> Void = { _ in }
    ) throws -> Report {
        try options.validate()
        let format = try ModelFiles.format(of: path)
        let source = try ModelFiles.openCheckpoint(path, format: format)
        let calibrationRows = try options.calibration.map { calibration in
            try calibration.tokenRows(
                tokenizer: ModelFiles.tokenizer(
                    forModel: path, format: format, explicit: tokenizer, config: source.config,
                    gguf: source as? GGUFCheckpoint))
        }
        var tokenizerPath: String?
        if let gguf = source as? GGUFCheckpoint, tokenizer == nil {
            // The GGUF's tokenizer goes into the folder: byte-level BPE as Hugging Face files, a
            // SentencePiece vocabulary as a vocabulary-only `tokenizer.gguf`.
            let vocabulary = try gguf.tokenizer()
            let template = gguf.file.metadata["tokenizer.chat_template"]?.string
            return try run(
                source: source, tokenizerPath: nil, options: options, output: output, group: group,
                calibrationRows: calibrationRows,
                writeTokenizer: { folder in
                    if let bpe = vocabulary as? ByteLevelBPETokenizer {
                        try bpe.writeHuggingFace(to: folder, chatTemplate: template)
                    } else {
                        try GGUFWriter.writeVocabulary(
                            vocabulary, chatTemplate: template, to: folder.appendingPathComponent("tokenizer.gguf"))
                    }
                },
                onMatrix: onMatrix)
        }
        if tokenizer != nil || (try? ModelFiles.tokenizerPath(forModel: path, explicit: nil)) != nil {
            tokenizerPath = try ModelFiles.tokenizerPath(forModel: path, explicit: tokenizer)
            _ = try ModelFiles.tokenizer(forModel: path, format: format, explicit: tokenizerPath, config: source.config)
        }
        return try run(
            source: source, tokenizerPath: tokenizerPath, options: options, output: output, group: group,
            calibrationRows: calibrationRows, onMatrix: onMatrix)
    }
}
