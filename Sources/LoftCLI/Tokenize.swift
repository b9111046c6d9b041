import ArgumentParser
import Foundation
import Recipes

/// `loft tokenize`: what the model sees — the ids and pieces of a text, or the text of ids.
struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Print the token ids and pieces of a text (or, with --decode, the text of ids) for a model's tokenizer.")

    @Option(
        help: "A model (GGUF, Hugging Face folder, llama2.c file with --tokenizer, loft folder); its tokenizer is used."
    )
    var model: String
    @Option(help: "A SentencePiece tokenizer.model or a folder with tokenizer.json (default: the model's own).")
    var tokenizer: String?
    @Option(help: "The text to tokenize.")
    var text: String?
    @Option(help: "A file whose text to tokenize.")
    var file: String?
    @Option(help: "Comma-separated ids to decode.")
    var decode: String?
    @Flag(help: "Prepend BOS when the tokenizer adds one (as training and perplexity do).")
    var bos = false
    @Flag(help: "Print one JSON object.")
    var json = false

    func validate() throws {
        guard [text != nil, file != nil, decode != nil].filter({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of --text, --file and --decode")
        }
    }

    struct Output: Encodable { let ids: [Int32]; let pieces: [String]; let text: String }

    func run() throws {
        let tokenizer = try ModelFiles.tokenizer(forModel: model, explicit: self.tokenizer)
        let ids: [Int32]
        if let decode {
            ids = try decode.split(separator: ",").map { part in
                guard let id = Int32(part.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("--decode: '\(part)' is not an id")
                }
                return id
            }
        } else if let file {
            ids = try tokenizer.encode(try TextBlocks.read(file), addBOS: bos, addEOS: false)
        } else {
            ids = try tokenizer.encode(text ?? "", addBOS: bos, addEOS: false)
        }
        let output = Output(ids: ids, pieces: ids.map { tokenizer.piece($0) ?? "?" }, text: try tokenizer.decode(ids))
        if json { return try printJSON(output) }
        if decode != nil { return print(output.text) }
        print("\(ids.count) tokens")
        for (id, piece) in zip(output.ids, output.pieces) { print("\(id)\t\(piece.debugDescription)") }
    }
}
