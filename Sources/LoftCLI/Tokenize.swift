import ArgumentParser
import Foundation
import Recipes
import Tokenizers
import Training

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
    @Option(
        help: ArgumentHelp(
            "A conversation (JSON: {\"messages\": [...]}, {\"conversations\": [...]} or a list of turns) to render "
                + "through the chat template; prints the text, the ids and which carry loss.",
            valueName: "conversation.json"))
    var chat: String?
    @Option(help: "With --chat: a Jinja chat template file instead of the model's own.")
    var chatTemplate: String?
    @Flag(help: "With --chat: end with the assistant's header, as a prompt for generation (no token carries loss).")
    var generationPrompt = false
    @Option(help: "With --chat: which tokens carry loss: assistant, last or all (data.train_on).")
    var trainOn = "assistant"
    @Flag(help: "Prepend BOS when the tokenizer adds one (as training and perplexity do).")
    var bos = false
    @Flag(help: "Print one JSON object.")
    var json = false

    func validate() throws {
        guard [text != nil, file != nil, decode != nil, chat != nil].filter({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of --text, --file, --decode and --chat")
        }
        guard chat != nil || (chatTemplate == nil && !generationPrompt) else {
            throw ValidationError("--chat-template and --generation-prompt go with --chat")
        }
        guard RunConfig.TrainOn(rawValue: trainOn) != nil else {
            throw ValidationError("--train-on must be one of assistant, last, all")
        }
    }

    struct Output: Encodable { let ids: [Int32]; let pieces: [String]; let text: String }

    func run() throws {
        let tokenizer = try ModelFiles.tokenizer(forModel: model, explicit: self.tokenizer)
        if let chat { return try runChat(chat, tokenizer: tokenizer) }
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

    struct ChatOutput: Encodable {
        let text: String
        let ids: [Int32]
        let labelsMask: [Int]
        enum CodingKeys: String, CodingKey { case text, ids, labelsMask = "labels_mask" }
    }

    /// `--chat`: the rendered conversation, its ids, and which of them carry loss.
    private func runChat(_ path: String, tokenizer: any Tokenizer) throws {
        let messages = try ChatData.conversationFile(path)
        let template = try ModelFiles.chatTemplate(forModel: model, file: chatTemplate, tokenizer: tokenizer)
        let encoder = ChatEncoder(template: template, tokenizer: tokenizer)
        let output: ChatOutput
        do {
            if generationPrompt {
                let ids = try encoder.prompt(messages)
                output = ChatOutput(
                    text: try template.render(messages, addGenerationPrompt: true), ids: ids,
                    labelsMask: [Int](repeating: 0, count: ids.count))
            } else {
                let (ids, trained) = try encoder.encode(
                    messages, trainOn: RunConfig.TrainOn(rawValue: trainOn) ?? .assistant)
                output = ChatOutput(
                    text: try template.render(messages, addGenerationPrompt: false), ids: ids,
                    labelsMask: trained.map { $0 ? 1 : 0 })
            }
        } catch let refusal as ChatEncoder.Refusal {
            throw RecipeError.badChatTemplate(origin: template.origin, detail: "\(refusal) (rendering \(path))")
        }
        if json { return try printJSON(output) }
        print(output.text)
        print("--- \(output.ids.count) tokens, \(output.labelsMask.reduce(0, +)) carry loss (*)")
        for (id, trained) in zip(output.ids, output.labelsMask) {
            print("\(trained == 1 ? "*" : " ") \(id)\t\((tokenizer.piece(id) ?? "?").debugDescription)")
        }
    }
}
