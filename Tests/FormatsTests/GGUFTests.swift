import Autograd
import Formats
import Foundation
import Llama
import Tokenizers
import XCTest
import _TestSupport

/// SmolLM2-135M-Instruct (GGUF, Q4_1 linears, Q8_0 embedding) against transformers' reading of
/// the same file (`../shared/golden/smollm2`).
final class SmolLM2GGUFTests: LoftTestCase {
    static let relativePath = "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"

    func checkpoint() throws -> GGUFCheckpoint { try GGUFCheckpoint(path: try Fixtures.data(Self.relativePath)) }

    func testConfigFromMetadata() throws {
        let c = try checkpoint().config
        XCTAssertEqual(
            c,
            LlamaConfig(
                dim: 576, layers: 30, heads: 9, kvHeads: 3, hiddenDim: 1536, vocabularySize: 49152,
                normEps: 1e-5, ropeTheta: 100_000, maxSequenceLength: 8192, tiedEmbeddings: true))
    }

    /// Every tensor, dequantized and un-permuted, against transformers' checksums: float64 sum and
    /// sum of squares to 1e-6 relative (the values are the same fp32 numbers; only the order of a
    /// float64 sum differs), the first 8 values to 1e-7.
    func testDequantizedWeightsMatchTheChecksums() throws {
        let source = try checkpoint()
        let golden = try Fixtures.json(Fixtures.golden("smollm2/weights_checksums.json"))
        let expected = try XCTUnwrap(golden["tensors"] as? [String: [String: Any]])
        let tensors = LlamaTensor.all(for: source.config)
        XCTAssertEqual(tensors.count, expected.count, "one golden entry per model tensor (tied: no lm_head)")
        for tensor in tensors {
            let name = HuggingFaceNames.name(of: tensor)
            let entry = try XCTUnwrap(expected[name], name)
            XCTAssertEqual(try source.checkedShape(tensor), entry["shape"] as? [Int], name)
            let values = try source.floats(tensor)
            var sum = 0.0, sumSquares = 0.0
            for v in values { sum += Double(v); sumSquares += Double(v) * Double(v) }
            let (goldSum, goldSquares) = (entry["sum"] as! Double, entry["sumsq"] as! Double)
            XCTAssertEqual(sum, goldSum, accuracy: 1e-6 * max(1, abs(goldSum), goldSquares.squareRoot()), name)
            XCTAssertEqual(sumSquares, goldSquares, accuracy: 1e-6 * goldSquares, name)
            assertClose(Array(values.prefix(8)), (entry["first8"] as! [Double]).map(Float.init), atol: 1e-7, name)
        }
    }

    /// Logits of the 66-token text (first 48 positions) to 2e-4 and the loss to 1e-4 (the golden
    /// README's tolerances: fp32 over 30 layers).
    func testLogitsAndLossMatchTransformers() throws {
        let model = try LlamaModel(checkpoint: checkpoint())
        let golden = try GoldenTensors(path: Fixtures.golden("smollm2/forward.safetensors"))
        let tokens = golden.ids("tokens")
        XCTAssertEqual(tokens.count, 66)
        let logits = model.logits(tokens: tokens, batch: 1, steps: tokens.count, recording: false).data
        let reference = golden["logits"]
        XCTAssertEqual(reference.count, 48 * 49152)
        let worst = zip(logits.prefix(reference.count), reference).map { abs($0 - $1) }.max() ?? .infinity
        print("SmolLM2 logits vs transformers: max abs difference \(worst)")
        XCTAssertLessThanOrEqual(worst, 2e-4)
        let loss = model.loss(tokens: tokens, labels: tokens, batch: 1, steps: tokens.count, recording: false).item
        XCTAssertEqual(loss, golden["loss"][0], accuracy: 1e-4)
    }
}

/// Each dequantizer on blocks built by hand from ggml-common.h's layouts.
final class GGMLDequantizationTests: LoftTestCase {
    func half(_ value: Float) -> [UInt8] { withUnsafeBytes(of: Float16(value).bitPattern.littleEndian) { Array($0) } }

    func run(_ type: GGMLType, _ bytes: [UInt8], count: Int) -> [Float] {
        XCTAssertEqual(bytes.count, count / type.blockSize * type.bytesPerBlock, "\(type) block size")
        var out = [Float](repeating: .nan, count: count)
        bytes.withUnsafeBytes { raw in
            out.withUnsafeMutableBufferPointer {
                GGMLDequantization.dequantize(type, from: raw.baseAddress!, count: count, into: $0.baseAddress!)
            }
        }
        return out
    }

    /// Low nibble j, high nibble 15 − j.
    var nibbles: [UInt8] { (0..<16).map { UInt8($0) | UInt8(15 - $0) << 4 } }

    func testLegacyBlocksOf32() {
        let q4_0 = run(.q4_0, half(0.5) + nibbles, count: 32)
        XCTAssertEqual(q4_0, (0..<16).map { Float($0 - 8) * 0.5 } + (0..<16).map { Float(15 - $0 - 8) * 0.5 })
        let q4_1 = run(.q4_1, half(0.25) + half(-1) + nibbles, count: 32)
        XCTAssertEqual(q4_1, (0..<16).map { Float($0) * 0.25 - 1 } + (0..<16).map { Float(15 - $0) * 0.25 - 1 })
        let qh: UInt32 = 0xA5A5_0F0F  // bit j: fifth bit of element j
        let high = withUnsafeBytes(of: qh.littleEndian) { Array($0) }
        func fifth(_ j: Int) -> Int { Int((qh >> UInt32(j)) & 1) << 4 }
        let q5_0 = run(.q5_0, half(2) + high + nibbles, count: 32)
        XCTAssertEqual(
            q5_0,
            (0..<16).map { Float(($0 | fifth($0)) - 16) * 2 }
                + (0..<16).map { Float(((15 - $0) | fifth($0 + 16)) - 16) * 2 })
        let q5_1 = run(.q5_1, half(0.5) + half(3) + high + nibbles, count: 32)
        XCTAssertEqual(
            q5_1,
            (0..<16).map { Float($0 | fifth($0)) * 0.5 + 3 }
                + (0..<16).map { Float((15 - $0) | fifth($0 + 16)) * 0.5 + 3 })
        let codes = (0..<32).map { Int8($0 - 16) }
        let q8_0 = run(.q8_0, half(0.125) + codes.map { UInt8(bitPattern: $0) }, count: 32)
        XCTAssertEqual(q8_0, codes.map { Float($0) * 0.125 })
    }

    func testFloatTypes() {
        XCTAssertEqual(run(.f16, half(1.5) + half(-0.25), count: 2), [1.5, -0.25])
        let bf16: [UInt8] = [0x80, 0x3F, 0x40, 0xC0]  // 1.0 and -3.0 (upper halves of their fp32 bits)
        XCTAssertEqual(run(.bf16, bf16, count: 2), [1, -3])
        XCTAssertEqual(
            run(.f32, withUnsafeBytes(of: Float(7.5).bitPattern.littleEndian) { Array($0) }, count: 1), [7.5])
    }

    /// The 12 scale bytes of a K-quant: 6-bit scale sc[j] and min m[j] for the 8 sub-blocks.
    func packedScales(_ sc: [UInt8], _ m: [UInt8]) -> [UInt8] {
        var q = [UInt8](repeating: 0, count: 12)
        for j in 0..<4 {
            q[j] = sc[j] & 63 | (sc[j + 4] >> 4) << 6
            q[j + 4] = m[j] & 63 | (m[j + 4] >> 4) << 6
            q[j + 8] = sc[j + 4] & 0xF | (m[j + 4] & 0xF) << 4
        }
        return q
    }

    func testKQuants() {
        let sc: [UInt8] = (0..<8).map { UInt8(40 + $0 * 3) }, m: [UInt8] = (0..<8).map { UInt8(1 + 7 * $0) }
        let scales = packedScales(sc, m)
        let qs = [UInt8](repeating: 0x21, count: 128)  // low nibble 1, high nibble 2
        let q4K = run(.q4_K, half(0.5) + half(0.25) + scales + qs, count: 256)
        for group in 0..<4 {
            let (lowSub, highSub) = (2 * group, 2 * group + 1)
            XCTAssertEqual(
                q4K[64 * group + 5], 0.5 * Float(sc[lowSub]) * 1 - 0.25 * Float(m[lowSub]), "Q4_K group \(group) low")
            XCTAssertEqual(
                q4K[64 * group + 40], 0.5 * Float(sc[highSub]) * 2 - 0.25 * Float(m[highSub]),
                "Q4_K group \(group) high")
        }
        var qh = [UInt8](repeating: 0, count: 32)
        qh[3] = 0b0000_0110  // element 3: fifth bit for group 0's high half and group 1's low half
        let q5K = run(.q5_K, half(0.5) + half(0.25) + scales + qh + qs, count: 256)
        XCTAssertEqual(q5K[3], 0.5 * Float(sc[0]) * 1 - 0.25 * Float(m[0]), "no fifth bit")
        XCTAssertEqual(q5K[32 + 3], 0.5 * Float(sc[1]) * 18 - 0.25 * Float(m[1]), "bit 1: 2 + 16")
        XCTAssertEqual(q5K[64 + 3], 0.5 * Float(sc[2]) * 17 - 0.25 * Float(m[2]), "bit 2: 1 + 16")
        // Q6_K: ql low/high nibbles, qh 2-bit pairs, int8 scales per 16, minus 32.
        let ql: [UInt8] = (0..<128).map { (i: Int) -> UInt8 in UInt8(i % 16) | (UInt8((i + 3) % 16) << 4) }
        let high: [UInt8] = (0..<64).map { (i: Int) -> UInt8 in
            let a = UInt8(i % 4), b = UInt8((i + 1) % 4) << 2
            let c = UInt8((i + 2) % 4) << 4, d = UInt8((i + 3) % 4) << 6
            return a | b | c | d
        }
        let scales6: [UInt8] = (0..<16).map { (i: Int) -> UInt8 in UInt8(bitPattern: Int8(i - 8)) }
        let block: [UInt8] = ql + high + scales6 + half(0.5)
        let q6K = run(.q6_K, block, count: 256)
        for (part, l) in [(0, 0), (0, 17), (1, 31)] {
            let a = Int(ql[64 * part + l]), c = Int(ql[64 * part + l + 32]), h = Int(high[32 * part + l])
            let code0: Int = (a & 15) | ((h & 3) << 4)
            let code1: Int = (c & 15) | (((h >> 2) & 3) << 4)
            let code2: Int = (a >> 4) | (((h >> 4) & 3) << 4)
            let code3: Int = (c >> 4) | (((h >> 6) & 3) << 4)
            for (k, code) in [code0, code1, code2, code3].enumerated() {
                let scale = Float(Int8(bitPattern: scales6[8 * part + l / 16 + 2 * k]))
                let expected: Float = 0.5 * scale * Float(code - 32)
                XCTAssertEqual(q6K[128 * part + 32 * k + l], expected, "Q6_K half \(part) l \(l) quarter \(k)")
            }
        }
    }
}

/// Malformed GGUF files: each a clear error naming the file and the field, never a trap.
final class BadGGUFTests: LoftTestCase {
    /// A GGUF v3 file: string metadata, tensor infos (name, dims innermost first, type, offset), data.
    func gguf(
        tensorCount: UInt64? = nil, metadata: [(String, String)] = [("general.architecture", "llama")],
        tensors: [(String, [UInt64], UInt32, UInt64)] = [("w", [4], 0, 0)], data: Data = Data(count: 16),
        keyLength: UInt64? = nil
    ) -> Data {
        var out = Data("GGUF".utf8)
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func string(_ s: String, length: UInt64? = nil) {
            u64(length ?? UInt64(s.utf8.count)); out.append(contentsOf: Array(s.utf8))
        }
        u32(3)
        u64(tensorCount ?? UInt64(tensors.count))
        u64(UInt64(metadata.count))
        for (index, (key, value)) in metadata.enumerated() {
            string(key, length: index == 0 ? keyLength : nil)
            u32(8)
            string(value)
        }
        for (name, dims, type, offset) in tensors {
            string(name)
            u32(UInt32(dims.count))
            for d in dims { u64(d) }
            u32(type)
            u64(offset)
        }
        while out.count % 32 != 0 { out.append(0) }
        return out + data
    }

    func assertError(_ bytes: Data, contains parts: [String], checkpoint: Bool = false, line: UInt = #line) throws {
        let url = try Fixtures.temporaryDirectory(self).appendingPathComponent("bad.gguf")
        try bytes.write(to: url)
        XCTAssertThrowsError(
            checkpoint ? try GGUFCheckpoint(path: url.path) as AnyObject : try GGUFFile(path: url.path), line: line
        ) { error in
            for part in [url.path] + parts {
                XCTAssertTrue("\(error)".contains(part), "\(error) lacks \(part)", line: line)
            }
        }
    }

    func testAWellFormedFileReads() throws {
        let url = try Fixtures.temporaryDirectory(self).appendingPathComponent("ok.gguf")
        var payload = Data()
        for v: Float in [1, 2, 3, 4] {
            withUnsafeBytes(of: v.bitPattern.littleEndian) { payload.append(contentsOf: $0) }
        }
        try gguf(tensors: [("w", [2, 2], 0, 0)], data: payload).write(to: url)
        let file = try GGUFFile(path: url.path)
        XCTAssertEqual(file.metadata["general.architecture"], .string("llama"))
        XCTAssertEqual(file.tensors["w"]?.shape, [2, 2])
        XCTAssertEqual(try file.floats("w"), [1, 2, 3, 4])
    }

    func testMalformedFiles() throws {
        try assertError(Data("GGML and more".utf8), contains: ["magic"])
        try assertError(gguf(tensors: []).prefix(20), contains: ["truncated", "metadata_kv_count"])
        try assertError(gguf(tensorCount: .max), contains: ["tensor_count", "cannot fit"])
        try assertError(gguf(keyLength: 1 << 60), contains: ["metadata[0].key.length", "cannot fit"])
        try assertError(gguf(tensors: [("w", [4], 0, 1 << 40)]), contains: ["tensor[w]", "past the end"])
        try assertError(
            gguf(tensors: [("w", [4], 0, 0)], data: Data(count: 8)), contains: ["tensor[w]", "past the end"])
        try assertError(gguf(tensors: [("w", [4], 99, 0)]), contains: ["tensor[w]", "unknown type 99"])
        try assertError(gguf(tensors: [("w", [256], 10, 0)]), contains: ["tensor[w]", "Q2_K (10)"])
        try assertError(gguf(tensors: [("w", [33], 8, 0)]), contains: ["tensor[w]", "not a multiple"])
        try assertError(gguf(tensors: [("w", [4, 0], 0, 0)]), contains: ["tensor[w].dims[1]"])
        try assertError(gguf(metadata: [("general.architecture", "gpt2")]), contains: ["'gpt2'"], checkpoint: true)
        try assertError(
            gguf(metadata: [("general.name", "x")]), contains: ["general.architecture", "missing"], checkpoint: true)
        try assertError(gguf(), contains: ["llama.attention.head_count", "missing"], checkpoint: true)
    }
}

/// The byte-level BPE tokenizer of the SmolLM2 GGUF against transformers' conversion of it.
final class SmolLM2TokenizerTests: LoftTestCase {
    func tokenizer() throws -> ByteLevelBPETokenizer {
        let tokenizer = try GGUFCheckpoint(path: Fixtures.data(SmolLM2GGUFTests.relativePath)).tokenizer()
        return try XCTUnwrap(tokenizer as? ByteLevelBPETokenizer, "SmolLM2's GGUF holds byte-level BPE")
    }

    func testEveryGoldenCaseEncodesAndDecodes() throws {
        let tokenizer = try self.tokenizer()
        let golden = try Fixtures.json(Fixtures.golden("smollm2/tokenizer_golden.json"))
        XCTAssertEqual(tokenizer.vocabularySize, golden["vocab_size"] as? Int)
        XCTAssertEqual(tokenizer.bosID, (golden["bos_id"] as? Int).map(Int32.init))
        XCTAssertEqual(tokenizer.eosID, (golden["eos_id"] as? Int).map(Int32.init))
        XCTAssertEqual(tokenizer.addsBOS, golden["add_bos_token"] as? Bool)
        let cases = try XCTUnwrap(golden["cases"] as? [[String: Any]])
        XCTAssertEqual(cases.count, 14)
        for item in cases {
            let text = try XCTUnwrap(item["text"] as? String)
            let ids = try XCTUnwrap(item["ids"] as? [Int]).map(Int32.init)
            XCTAssertEqual(
                try tokenizer.encode(text, addBOS: true), ids,
                "encode \(text.debugDescription) (no BOS: add_bos_token is false)")
            XCTAssertEqual(try tokenizer.decode(ids), item["decoded"] as? String, "decode \(text.debugDescription)")
        }
    }

    /// Special tokens are matched whole; control tokens decode to nothing, as SentencePiece's do.
    func testSpecialTokensAreMatchedWhole() throws {
        let tokenizer = try self.tokenizer()
        let ids = try tokenizer.encode("<|im_start|>user\nHi<|im_end|>", addBOS: false)
        XCTAssertEqual(ids.first, 1, "<|im_start|> is one token (id 1)")
        XCTAssertEqual(ids.last, 2, "<|im_end|> is one token (id 2)")
        XCTAssertEqual(try tokenizer.encode("user\nHi", addBOS: false), Array(ids.dropFirst().dropLast()))
        XCTAssertThrowsError(try tokenizer.decode([49152]))
    }
}
