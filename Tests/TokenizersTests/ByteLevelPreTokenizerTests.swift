import Foundation
import Tokenizers
import XCTest
import _TestSupport

/// The byte-level BPE pre-tokenizers against Hugging Face `tokenizers` (0.23.3, Oniguruma regex):
/// the expected pieces were printed by `pre_tokenizers.Split(Regex(<Llama-3 pattern>), "isolated")`
/// and `pre_tokenizers.ByteLevel(add_prefix_space=False)` (bytes mapped back to text) on these
/// strings, chosen for contractions of both cases, digit runs, tabs, CR LF, runs of newlines,
/// non-ASCII letters and digits, NBSP and em space, emoji.
final class ByteLevelPreTokenizerTests: LoftTestCase {
    static let llama3Cases: [(String, [String])] = [
        (
            "Hello world! It's 12345 o'clock, ISN'T it? We'LL see.",
            [
                "Hello", " world", "!", " It", "'s", " ", "123", "45", " o", "'clock", ",", " ISN", "'T", " it", "?",
                " We", "'LL", " see", ".",
            ]
        ),
        (
            "  leading spaces\tand\ttabs  \n\n  trailing   ",
            [" ", " leading", " spaces", "\tand", "\ttabs", "  \n\n", " ", " trailing", "   "]
        ),
        (
            "line one\r\nline two\n\n\nthree\n",
            ["line", " one", "\r\n", "line", " two", "\n\n\n", "three", "\n"]
        ),
        (
            "(parenthesised) [brackets] {braces} --dashes-- ...\n",
            ["(parenthesised", ")", " [", "brackets", "]", " {", "braces", "}", " --", "dashes", "--", " ...\n"]
        ),
        (
            "x=3.14159; y = -42 + 1000000",
            ["x", "=", "3", ".", "141", "59", ";", " y", " =", " -", "42", " +", " ", "100", "000", "0"]
        ),
        (
            "\u{dc}n\u{ef}c\u{f6}d\u{e9} caf\u{e9} na\u{ef}ve \u{6771}\u{4eac} 123\u{663}\u{664}\u{665} \u{bd} \u{216b}",
            [
                "\u{dc}n\u{ef}c\u{f6}d\u{e9}", " caf\u{e9}", " na\u{ef}ve", " \u{6771}\u{4eac}", " ", "123",
                "\u{663}\u{664}\u{665}", " ", "\u{bd}", " ", "\u{216b}",
            ]
        ),
        (
            "emoji \u{1f642}\u{1f642} and symbols \u{a9}\u{ae}\u{2122} $100",
            ["emoji", " \u{1f642}\u{1f642}", " and", " symbols", " \u{a9}\u{ae}\u{2122}", " $", "100"]
        ),
        (
            "tab\t\tx \u{a0}nbsp\u{2003}em",
            ["tab", "\t", "\tx", " ", "\u{a0}nbsp", "\u{2003}em"]
        ),
        (
            "'hello' \"quoted\" 'S 'Re",
            ["'hello", "'", " \"", "quoted", "\"", " '", "S", " '", "Re"]
        ),
        (
            " ",
            [" "]
        ),
        (
            "\n",
            ["\n"]
        ),
        (
            "a  \n  b",
            ["a", "  \n", " ", " b"]
        ),
        (
            "?!\n\nnext",
            ["?!\n\n", "next"]
        ),
    ]

    static let gpt2Cases: [(String, [String])] = [
        (
            "Hello world! It's 12345 o'clock, ISN'T it? We'LL see.",
            [
                "Hello", " world", "!", " It", "'s", " 12345", " o", "'", "clock", ",", " ISN", "'", "T", " it", "?",
                " We", "'", "LL", " see", ".",
            ]
        ),
        (
            "  leading spaces\tand\ttabs  \n\n  trailing   ",
            [" ", " leading", " spaces", "\t", "and", "\t", "tabs", "  \n\n ", " trailing", "   "]
        ),
        (
            "line one\r\nline two\n\n\nthree\n",
            ["line", " one", "\r", "\n", "line", " two", "\n\n", "\n", "three", "\n"]
        ),
        (
            "(parenthesised) [brackets] {braces} --dashes-- ...\n",
            [
                "(", "parenthesised", ")", " [", "brackets", "]", " {", "braces", "}", " --", "dashes", "--", " ...",
                "\n",
            ]
        ),
        (
            "x=3.14159; y = -42 + 1000000",
            ["x", "=", "3", ".", "14159", ";", " y", " =", " -", "42", " +", " 1000000"]
        ),
        (
            "\u{dc}n\u{ef}c\u{f6}d\u{e9} caf\u{e9} na\u{ef}ve \u{6771}\u{4eac} 123\u{663}\u{664}\u{665} \u{bd} \u{216b}",
            [
                "\u{dc}n\u{ef}c\u{f6}d\u{e9}", " caf\u{e9}", " na\u{ef}ve", " \u{6771}\u{4eac}",
                " 123\u{663}\u{664}\u{665}", " \u{bd}", " \u{216b}",
            ]
        ),
        (
            "emoji \u{1f642}\u{1f642} and symbols \u{a9}\u{ae}\u{2122} $100",
            ["emoji", " \u{1f642}\u{1f642}", " and", " symbols", " \u{a9}\u{ae}\u{2122}", " $", "100"]
        ),
        (
            "tab\t\tx \u{a0}nbsp\u{2003}em",
            ["tab", "\t", "\t", "x", " ", "\u{a0}", "nbsp", "\u{2003}", "em"]
        ),
        (
            "'hello' \"quoted\" 'S 'Re",
            ["'", "hello", "'", " \"", "quoted", "\"", " '", "S", " '", "Re"]
        ),
        (
            " ",
            [" "]
        ),
        (
            "\n",
            ["\n"]
        ),
        (
            "a  \n  b",
            ["a", "  \n ", " b"]
        ),
        (
            "?!\n\nnext",
            ["?!", "\n", "\n", "next"]
        ),
    ]

    /// GPT-2's printable character of each byte (`bytes_to_unicode`).
    static let byteCharacters: [String] = {
        var shifted: UInt32 = 256
        return (0..<256).map { byte in
            let printable = (33...126).contains(byte) || (161...172).contains(byte) || (174...255).contains(byte)
            defer { if !printable { shifted += 1 } }
            return String(Character(Unicode.Scalar(printable ? UInt32(byte) : shifted)!))
        }
    }()

    /// A vocabulary of the 256 byte tokens plus `extra`, with `merges`.
    func tokenizer(_ pre: ByteLevelBPETokenizer.PreTokenizer, extra: [String] = [], merges: [String] = []) throws
        -> ByteLevelBPETokenizer
    {
        try ByteLevelBPETokenizer(
            path: "test", tokens: Self.byteCharacters + extra, merges: merges, tokenTypes: [], bosID: nil, eosID: nil,
            addsBOS: false, preTokenizer: pre)
    }

    func testLlama3PiecesMatchTokenizers() throws {
        let tokenizer = try tokenizer(.llama3)
        for (text, pieces) in Self.llama3Cases {
            XCTAssertEqual(tokenizer.preTokenize(text), pieces, text.debugDescription)
        }
    }

    func testGPT2PiecesMatchTokenizers() throws {
        let tokenizer = try tokenizer(.gpt2)
        for (text, pieces) in Self.gpt2Cases {
            XCTAssertEqual(tokenizer.preTokenize(text), pieces, text.debugDescription)
        }
    }

    /// SmolLM's pre-tokenizer is GPT-2's after every digit is cut out alone.
    func testSmolLMSplitsEveryDigit() throws {
        XCTAssertEqual(try tokenizer(.smollm).preTokenize("x 2024ab"), ["x", " ", "2", "0", "2", "4", "ab"])
    }

    /// Llama-3 takes a pre-token found whole in the vocabulary as it is (`ignore_merges`), even
    /// when the merges cannot build it; GPT-2 style BPE only merges.
    func testLlama3IgnoresMergesForWholeWords() throws {
        let extra = ["ab", "abc"], merges = ["a b"]
        let (a, b, c): (Int32, Int32, Int32) = (97, 98, 99)  // byte tokens are in byte order
        XCTAssertEqual(try tokenizer(.llama3, extra: extra, merges: merges).encode("abc", addBOS: false), [257])
        XCTAssertEqual(try tokenizer(.gpt2, extra: extra, merges: merges).encode("abc", addBOS: false), [256, c])
        XCTAssertEqual(try tokenizer(.gpt2, extra: extra, merges: merges).encode("ba", addBOS: false), [b, a])
    }

    /// A Llama-3 tokenizer written as `tokenizer.json` reads back with its pre-tokenizer.
    func testLlama3TokenizerJSONRoundTrip() throws {
        let folder = try Fixtures.temporaryDirectory(self)
        let original = try tokenizer(.llama3, extra: ["ab", "abc"], merges: ["a b"])
        try original.writeHuggingFace(to: folder)
        let read = try ByteLevelBPETokenizer(huggingFaceFolder: folder.path)
        for (text, pieces) in Self.llama3Cases {
            XCTAssertEqual(read.preTokenize(text), pieces)
            XCTAssertEqual(try read.encode(text, addBOS: false), try original.encode(text, addBOS: false))
        }
        XCTAssertEqual(try read.encode("abc", addBOS: false), [257])
    }
}
