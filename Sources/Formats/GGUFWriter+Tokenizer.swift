import Foundation
import Tokenizers

extension GGUFWriter {
    /// `tokenizer.ggml.*` for `tokenizer`: a byte-level BPE vocabulary as `gpt2` (tokens, types,
    /// merges, pre-tokenizer name) or a SentencePiece model as `llama` (pieces, scores, types),
    /// with the special ids and whether a BOS is added. llama.cpp's SentencePiece tokenizer always
    /// adds the dummy prefix and never collapses whitespace: a model trained with
    /// `remove_extra_whitespaces` (llama2.c's tok512; not Llama-2's) tokenizes leading and
    /// repeated spaces differently there.
    /// reference: llama.cpp convert_hf_to_gguf.py (_set_vocab_gpt2, _set_vocab_sentencepiece)
    /// - Throws: `FormatError.unsupported` for another kind of tokenizer.
    mutating func setTokenizer(_ tokenizer: any Tokenizer, name: String) throws {
        switch tokenizer {
        case let bpe as ByteLevelBPETokenizer:
            set("tokenizer.ggml.model", .string("gpt2"))
            set("tokenizer.ggml.pre", .string(bpe.preTokenizerKind.llamaCppName))
            set("tokenizer.ggml.tokens", .strings(bpe.tokenStrings))
            let types = bpe.types.isEmpty ? [Int](repeating: 1, count: bpe.vocabularySize) : bpe.types
            set("tokenizer.ggml.token_type", .int32s(types.map { Int32(clamping: $0) }))
            set("tokenizer.ggml.merges", .strings(bpe.mergeRules))
            if let unk = bpe.unkID { set("tokenizer.ggml.unknown_token_id", .uint32(UInt32(unk))) }
        case let sentencePiece as SentencePieceTokenizer:
            set("tokenizer.ggml.model", .string("llama"))
            set("tokenizer.ggml.pre", .string("default"))
            set(
                "tokenizer.ggml.tokens",
                .strings((0..<sentencePiece.vocabularySize).map { sentencePiece.piece(Int32($0)) ?? "" }))
            set("tokenizer.ggml.scores", .float32s(sentencePiece.scores))
            set("tokenizer.ggml.token_type", .int32s(sentencePiece.pieceTypes))
            if let unk = sentencePiece.unkID { set("tokenizer.ggml.unknown_token_id", .uint32(UInt32(unk))) }
            if let pad = sentencePiece.padID { set("tokenizer.ggml.padding_token_id", .uint32(UInt32(pad))) }
            set("tokenizer.ggml.add_eos_token", .bool(false))
        case let vocabulary as PieceVocabularyTokenizer:
            set("tokenizer.ggml.model", .string("llama"))
            set("tokenizer.ggml.pre", .string("default"))
            set("tokenizer.ggml.tokens", .strings(vocabulary.pieces))
            set("tokenizer.ggml.scores", .float32s(vocabulary.scores))
            let types =
                vocabulary.types.isEmpty ? [Int](repeating: 1, count: vocabulary.vocabularySize) : vocabulary.types
            set("tokenizer.ggml.token_type", .int32s(types.map { Int32(clamping: $0) }))
            set("tokenizer.ggml.add_space_prefix", .bool(vocabulary.addSpacePrefix))
            if let unk = vocabulary.unkID { set("tokenizer.ggml.unknown_token_id", .uint32(UInt32(unk))) }
            set("tokenizer.ggml.add_eos_token", .bool(false))
        default:
            throw FormatError.unsupported(
                path: name,
                detail: "a \(type(of: tokenizer)) tokenizer has no GGUF form here (byte-level BPE and SentencePiece do)"
            )
        }
        if let bos = tokenizer.bosID { set("tokenizer.ggml.bos_token_id", .uint32(UInt32(bos))) }
        if let eos = tokenizer.eosID { set("tokenizer.ggml.eos_token_id", .uint32(UInt32(eos))) }
        set("tokenizer.ggml.add_bos_token", .bool(tokenizer.addsBOS))
    }
}

extension GGUFWriter {
    /// Writes a vocabulary-only GGUF (no tensors, as llama.cpp's `ggml-vocab-*.gguf`): the
    /// tokenizer and, when given, the chat template. What a `loft quantize` folder keeps of a
    /// GGUF's SentencePiece vocabulary, which has no `tokenizer.model` to copy.
    public static func writeVocabulary(_ tokenizer: any Tokenizer, chatTemplate: String?, to url: URL) throws {
        var writer = GGUFWriter()
        writer.set("general.architecture", .string("llama"))
        writer.set("general.type", .string("vocab"))
        try writer.setTokenizer(tokenizer, name: url.path)
        if let chatTemplate { writer.set("tokenizer.chat_template", .string(chatTemplate)) }
        try writer.write(to: url)
    }
}
