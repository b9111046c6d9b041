import Formats
import Foundation
import Llama
import LoRA
import Support
import Tokenizers

/// `loft export`: a trained model as the files other tools read — the dequantized frozen base as
/// a Hugging Face folder with the adapter beside it (PEFT), the merged model as a Hugging Face
/// folder (transformers alone), or the merged model as a GGUF (llama.cpp).
/// reference: LoftQ authors' Hub layout (base folder + adapter with init_lora_weights true);
/// transformers LlamaForCausalLM (config.json, safetensors names); llama.cpp convert_hf_to_gguf.py
public enum Exporter {
    /// Element type of the exported Hugging Face weights.
    public enum FloatType: String, CaseIterable, Sendable {
        case fp32, bf16, fp16
        var dtype: SafeTensorsDType { self == .fp32 ? .F32 : self == .bf16 ? .BF16 : .F16 }
        var torchName: String { self == .fp32 ? "float32" : self == .bf16 ? "bfloat16" : "float16" }
    }

    /// Writes `source` as a Hugging Face Llama folder at `folder` (must not exist; written under a
    /// temporary name, renamed when whole): `config.json`, `model.safetensors` (one tensor in
    /// memory at a time), `generation_config.json` and the tokenizer's files.
    public static func writeHuggingFace(
        _ source: CheckpointSource, tokenizer: any Tokenizer, chatTemplate: String?,
        type: FloatType, to folder: URL, extra: (URL) throws -> Void = { _ in }
    ) throws {
        guard !FileManager.default.fileExists(atPath: folder.path) else {
            throw RecipeError.invalidOption(name: "--out", detail: "\(folder.path) already exists; choose a new folder")
        }
        let partial = folder.deletingLastPathComponent().appendingPathComponent(
            ".\(folder.lastPathComponent).partial-\(getpid())")
        try? FileManager.default.removeItem(at: partial)
        try FileManager.default.createDirectory(at: partial, withIntermediateDirectories: true)
        do {
            let c = source.config
            if case .frequencyFactors = c.ropeScaling {
                throw RecipeError.invalidOption(
                    name: "--out",
                    detail:
                        "the model's RoPE scaling is a GGUF's per-frequency factors, which a Hugging Face config cannot state"
                )
            }
            var config = c.huggingFaceJSON
            config["torch_dtype"] = type.torchName
            if let bos = tokenizer.bosID { config["bos_token_id"] = Int(bos) }
            if let eos = tokenizer.eosID { config["eos_token_id"] = Int(eos) }
            let generation: [String: Any] = [
                "bos_token_id": config["bos_token_id"] ?? NSNull(), "eos_token_id": config["eos_token_id"] ?? NSNull(),
            ]
            for (name, object) in [("config.json", config), ("generation_config.json", generation)] {
                try AtomicFile.write(
                    try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]),
                    to: partial.appendingPathComponent(name))
            }
            // Each stored tensor with the model tensors it holds (Phi-3's stacked q/k/v, gate/up).
            let stored = HuggingFaceNames.storedTensors(for: c)
            let byName = Dictionary(uniqueKeysWithValues: stored.map { ($0.name, $0.parts) })
            func shape(_ parts: [LlamaTensor]) -> [Int] {
                let first = parts[0].shape(in: c)
                return parts.count == 1 ? first : [parts.map { $0.shape(in: c)[0] }.reduce(0, +), first[1]]
            }
            try SafeTensorsFile.writeStreaming(
                layout: stored.map { ($0.name, type.dtype, shape($0.parts)) },
                metadata: ["format": "pt"], to: partial.appendingPathComponent("model.safetensors")
            ) { name, emit in
                guard let parts = byName[name] else { return }
                let values = try parts.flatMap { try source.floats($0) }
                try SafeTensor(values, shape: shape(parts), dtype: type.dtype).bytes.withUnsafeBytes(emit)
            }
            try writeTokenizer(tokenizer, chatTemplate: chatTemplate, to: partial)
            try extra(partial)
            try FileManager.default.moveItem(at: partial, to: folder)
            AtomicFile.syncDirectory(folder.deletingLastPathComponent())
        } catch {
            try? FileManager.default.removeItem(at: partial)
            throw error
        }
    }

    /// The tokenizer's own files: `tokenizer.model` (SentencePiece) or `tokenizer.json` and
    /// `tokenizer_config.json` (byte-level BPE, with the chat template).
    static func writeTokenizer(_ tokenizer: any Tokenizer, chatTemplate: String?, to folder: URL) throws {
        switch tokenizer {
        case let bpe as ByteLevelBPETokenizer:
            try bpe.writeHuggingFace(to: folder, chatTemplate: chatTemplate)
        case let sentencePiece as SentencePieceTokenizer:
            try FileManager.default.copyItem(
                atPath: sentencePiece.path, toPath: folder.appendingPathComponent("tokenizer.model").path)
        case is PieceVocabularyTokenizer:
            throw RecipeError.invalidOption(
                name: "--tokenizer",
                detail: "a GGUF's SentencePiece vocabulary has no Hugging Face form here; give the model's "
                    + "tokenizer.model with --tokenizer (or export --gguf)")
        default:
            throw RecipeError.invalidOption(name: "--tokenizer", detail: "\(type(of: tokenizer)) cannot be exported")
        }
    }

    /// `--backbone`: the frozen base, dequantized, as a Hugging Face folder, with the trained
    /// adapter in `folder/adapter` (PEFT: `init_lora_weights: true`, `base_model_name_or_path` =
    /// the folder) — base + adapter in transformers + PEFT is the model Loft trained.
    public static func backbone(_ loaded: ModelLoader.Loaded, type: FloatType, to folder: URL) throws {
        let source = ModelTensors(model: loaded.model, merged: false, description: loaded.description)
        let lora = loaded.model.blocks.flatMap(\.loraLayers)
        guard let first = lora.first else {
            throw RecipeError.invalidOption(
                name: "--model", detail: "\(loaded.description) has no adapter to export beside its base")
        }
        let modules = LinearModule.allCases.filter { module in loaded.model.blocks.contains { $0[module] is LoRALinear }
        }
        let config = AdapterConfig(
            r: first.rank, loraAlpha: first.alpha, targetModules: modules.map(\.rawValue),
            initLoraWeights: .bool(true), baseModelNameOrPath: folder.standardizedFileURL.path)
        try writeHuggingFace(
            source, tokenizer: loaded.tokenizer, chatTemplate: loaded.chatTemplateSource?.text, type: type, to: folder
        ) { partial in
            try AdapterFiles.writeForPEFT(
                model: loaded.model, config: config, to: partial.appendingPathComponent("adapter"))
        }
    }

    /// `--merged`: `deq(Q) + s·B·A` for every adapted linear, one Hugging Face folder.
    public static func merged(_ loaded: ModelLoader.Loaded, type: FloatType, to folder: URL) throws {
        try writeHuggingFace(
            ModelTensors(model: loaded.model, merged: true, description: loaded.description),
            tokenizer: loaded.tokenizer, chatTemplate: loaded.chatTemplateSource?.text, type: type, to: folder)
    }

    /// `--gguf`: the merged model as a llama.cpp file (`type` for the embedding and linears, F32
    /// norms), with its tokenizer (byte-level BPE or SentencePiece) and chat template in the metadata.
    public static func gguf(_ loaded: ModelLoader.Loaded, type: GGUFWriter.TensorType, to file: URL, name: String)
        throws
    {
        guard !FileManager.default.fileExists(atPath: file.path) else {
            throw RecipeError.invalidOption(name: "--gguf", detail: "\(file.path) already exists; choose a new file")
        }
        try modelFile(loaded, merged: true, type: type, name: name).write(to: file)
    }

    /// `loaded` as a llama.cpp model file: merged (base + adapters) or its base alone, with the
    /// tokenizer and the chat template.
    private static func modelFile(_ loaded: ModelLoader.Loaded, merged: Bool, type: GGUFWriter.TensorType, name: String)
        throws -> GGUFWriter
    {
        var writer = try GGUFWriter.llama(
            source: ModelTensors(model: loaded.model, merged: merged, description: loaded.description),
            tokenizer: loaded.tokenizer, linearType: type, name: name)
        if let template = loaded.chatTemplateSource?.text { writer.set("tokenizer.chat_template", .string(template)) }
        return writer
    }

    /// `--gguf-adapter`: the trained adapter as a llama.cpp LoRA file (`llama-cli -m BASE --lora
    /// FILE`). A LoftQ or QLoRA adapter belongs to Loft's quantized base, not to the original
    /// weights: its base is written too, dequantized and unmerged, to `base` (nil: not written);
    /// an adapter on an fp32 base goes with the original model file. Returns what to tell the user.
    public static func ggufAdapter(
        _ loaded: ModelLoader.Loaded, type: GGUFWriter.TensorType, to file: URL, base: URL?,
        baseType: GGUFWriter.TensorType, name: String
    ) throws -> [String] {
        for url in [file] + (base.map { [$0] } ?? []) where FileManager.default.fileExists(atPath: url.path) {
            throw RecipeError.invalidOption(
                name: "--gguf-adapter", detail: "\(url.path) already exists; choose a new file")
        }
        let adapters = loaded.model.blocks.flatMap(\.loraLayers)
        guard !adapters.isEmpty else {
            throw RecipeError.invalidOption(name: "--model", detail: "\(loaded.description) has no adapter to export")
        }
        try GGUFWriter.loraAdapter(model: loaded.model, type: type, name: name).write(to: file)
        var notes = ["wrote \(file.path) (LoRA adapter for llama.cpp, \(adapters.count) linears)"]
        let quantized = adapters.contains { $0.base is QuantizedLinear }
        guard quantized else {
            notes.append("the base is unquantized: use the adapter with the original model file")
            return notes
        }
        guard let base else {
            notes.append("the adapter belongs to Loft's quantized base, not to the original file (no base written)")
            return notes
        }
        try modelFile(loaded, merged: false, type: baseType, name: name).write(to: base)
        notes.append(
            "wrote \(base.path): the adapter was trained on Loft's quantized base, not the original file; "
                + "this is that base, dequantized (llama-cli -m \(base.lastPathComponent) --lora \(file.lastPathComponent))"
        )
        return notes
    }
}
