import ChatTemplates
import Foundation

/// Chat datasets as JSON lines: `{"messages": [{"role": …, "content": …}, …]}` (OpenAI style) or
/// `{"conversations": [{"from": "human"|"gpt"|"system", "value": …}, …]}` (ShareGPT style), each
/// line checked: a bad one is an error naming the file, line and key.
/// reference: OpenAI chat format; ShareGPT (FastChat's conversation JSON)
public enum ChatData {
    /// The roles a turn may have.
    public static let roles = ["system", "user", "assistant"]
    /// ShareGPT's speaker names and the roles they mean.
    public static let shareGPTRoles = [
        "system": "system", "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
    ]

    /// One conversation of the file, with its line.
    public struct Conversation: Sendable {
        public let line: Int
        public let messages: [ChatMessage]
    }

    /// Reads `path` (the first `limit` conversations when > 0).
    public static func read(_ path: String, limit: Int = 0) throws -> [Conversation] {
        try JSONLines.read(path, limit: limit) { object, line in
            Conversation(line: line, messages: try messages(of: object, file: path, line: line))
        }
    }

    /// The conversation of a JSON file: an object as a line of a chat dataset, or a list of turns.
    public static func conversationFile(_ path: String) throws -> [ChatMessage] {
        let text = try TextBlocks.read(path)
        guard let value = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) else {
            throw TrainingError.badData(file: path, line: nil, detail: "not valid JSON")
        }
        if let turns = value as? [Any] { return try messages(of: ["messages": turns], file: path, line: 1) }
        guard let object = value as? [String: Any] else {
            throw TrainingError.badData(file: path, line: nil, detail: "expected an object or a list of turns")
        }
        return try messages(of: object, file: path, line: 1)
    }

    /// The turns of one parsed line.
    public static func messages(of object: [String: Any], file: String, line: Int) throws -> [ChatMessage] {
        func bad(_ detail: String) -> TrainingError { .badData(file: file, line: line, detail: detail) }
        let openAI = object["messages"], shareGPT = object["conversations"]
        guard (openAI == nil) != (shareGPT == nil) else {
            throw bad("expected one key \"messages\" (OpenAI style) or \"conversations\" (ShareGPT style)")
        }
        let key = openAI != nil ? "messages" : "conversations"
        guard let turns = (openAI ?? shareGPT) as? [Any] else { throw bad("\"\(key)\": expected a list of turns") }
        guard !turns.isEmpty else { throw bad("\"\(key)\": the conversation has no turn") }
        let (roleKey, contentKey) = openAI != nil ? ("role", "content") : ("from", "value")
        return try turns.enumerated().map { index, turn in
            let place = "\"\(key)\"[\(index)]"
            guard let fields = turn as? [String: Any] else { throw bad("\(place): expected an object") }
            guard let speaker = fields[roleKey] as? String else {
                throw bad("\(place).\(roleKey): expected a string")
            }
            let role = openAI != nil ? (roles.contains(speaker) ? speaker : nil) : shareGPTRoles[speaker]
            guard let role else {
                let allowed = openAI != nil ? roles : shareGPTRoles.keys.sorted()
                throw bad("\(place).\(roleKey): \"\(speaker)\" is not one of \(allowed.joined(separator: ", "))")
            }
            guard let content = fields[contentKey] as? String else {
                throw bad("\(place).\(contentKey): expected a string")
            }
            return ChatMessage(role: role, content: content)
        }
    }
}
