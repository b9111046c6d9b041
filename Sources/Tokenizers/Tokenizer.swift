/// Text ↔ token ids, whatever the scheme (SentencePiece today, byte-level BPE next). Every
/// component that tokenizes takes `any Tokenizer`.
public protocol Tokenizer: AnyObject, Sendable {
    /// Where it was loaded from (for messages).
    var path: String { get }
    /// The number of ids it can produce.
    var vocabularySize: Int { get }
    /// Special ids; nil when the tokenizer has none.
    var bosID: Int32? { get }
    var eosID: Int32? { get }
    /// Whether the model expects BOS before a text (`add_bos_token`); `encode(addBOS: true)`
    /// adds it only then, and the perplexity protocols follow it.
    var addsBOS: Bool { get }
    /// The ids of `text`, optionally with BOS first and EOS last (each only when it exists).
    func encode(_ text: String, addBOS: Bool, addEOS: Bool) throws -> [Int32]
    /// The text of `ids` (special ids decode to nothing).
    func decode(_ ids: [Int32]) throws -> String
    /// The stored piece string of `id` (SentencePiece's `▁`, GPT-2's byte characters), or nil.
    func piece(_ id: Int32) -> String?
}

extension Tokenizer {
    /// The ids of `text` with BOS first when `addBOS` (no EOS).
    public func encode(_ text: String, addBOS: Bool = false) throws -> [Int32] {
        try encode(text, addBOS: addBOS, addEOS: false)
    }

    /// The tokens that end generation without a chat template: EOS, when the tokenizer has one.
    public var endOfSequenceStops: Set<Int32> { Set([eosID].compactMap { $0 }) }
}
