import ArgumentParser
import Foundation
import Recipes

/// `loft export`: a trained model as files transformers, PEFT and llama.cpp read.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Export a run, checkpoint or quantize folder: the dequantized base + PEFT adapter (--backbone), the merged model (--merged, Hugging Face) or a GGUF (--gguf)."
    )

    @OptionGroup var source: ModelArguments

    @Option(help: "Write the dequantized frozen base as a Hugging Face folder here, with the adapter in DIR/adapter.")
    var backbone: String?
    @Option(help: "Write the merged model (base + scaling·B·A) as a Hugging Face folder here.")
    var merged: String?
    @Option(help: "Write the merged model as a GGUF file here (its byte-level BPE or SentencePiece vocabulary inside).")
    var gguf: String?
    @Option(
        help: "Write the adapter as a llama.cpp LoRA GGUF here (with Loft's quantized base beside it, see --gguf-base)."
    )
    var ggufAdapter: String?
    @Option(
        help:
            "With --gguf-adapter of a LoftQ/QLoRA run: where its base (dequantized, unmerged) goes (default: ADAPTER-base.gguf; none: not written)."
    )
    var ggufBase: String?
    @Option(help: "LoRA GGUF tensors: f32, f16 or q8_0.")
    var adapterType = "f32"
    @Option(help: "Hugging Face weights: fp32, bf16 or fp16.")
    var dtype = "fp32"
    @Option(
        help:
            "GGUF embedding and linears: f32, f16, q8_0, q4_0 or q4_1 (norms stay f32; rows that are not whole blocks of 32 stay f16)."
    )
    var type = "f16"

    static let tensorTypes: [String: GGUFTensorType] = [
        "f32": .f32, "f16": .f16, "q8_0": .q8_0, "q4_0": .q4_0, "q4_1": .q4_1,
    ]

    func validate() throws {
        guard backbone != nil || merged != nil || gguf != nil || ggufAdapter != nil else {
            throw ValidationError("give --backbone, --merged, --gguf and/or --gguf-adapter")
        }
        guard ["f32", "f16", "q8_0"].contains(adapterType) else {
            throw ValidationError("--adapter-type must be f32, f16 or q8_0")
        }
        guard ggufBase == nil || ggufAdapter != nil else {
            throw ValidationError("--gguf-base goes with --gguf-adapter")
        }
        guard Exporter.FloatType(rawValue: dtype) != nil else {
            throw ValidationError("--dtype must be fp32, bf16 or fp16")
        }
        guard Self.tensorTypes[type] != nil else {
            throw ValidationError("--type must be f32, f16, q8_0, q4_0 or q4_1")
        }
    }

    func run() throws {
        let loaded = try source.load()
        let floatType = Exporter.FloatType(rawValue: dtype) ?? .fp32
        if let backbone {
            try Exporter.backbone(loaded, type: floatType, to: URL(fileURLWithPath: backbone))
            printError("wrote \(backbone) (base, \(dtype)) and \(backbone)/adapter (PEFT)")
        }
        if let merged {
            try Exporter.merged(loaded, type: floatType, to: URL(fileURLWithPath: merged))
            printError("wrote \(merged) (merged, \(dtype))")
        }
        if let gguf {
            let tensorType = Self.tensorTypes[type] ?? .f16
            let name = URL(fileURLWithPath: source.model).lastPathComponent
            try Exporter.gguf(loaded, type: tensorType, to: URL(fileURLWithPath: gguf), name: name)
            printError("wrote \(gguf) (merged, \(type))")
        }
        if let ggufAdapter {
            let adapter = URL(fileURLWithPath: ggufAdapter)
            let base: URL? =
                ggufBase == "none"
                ? nil
                : URL(fileURLWithPath: ggufBase ?? adapter.deletingPathExtension().path + "-base.gguf")
            let notes = try Exporter.ggufAdapter(
                loaded, type: Self.tensorTypes[adapterType] ?? .f32, to: adapter, base: base,
                baseType: Self.tensorTypes[type] ?? .f16, name: URL(fileURLWithPath: source.model).lastPathComponent)
            for note in notes { printError(note) }
        }
    }
}
