import Autograd
import Foundation
import Formats
import Llama
import XCTest
import _TestSupport

/// Sharded and half-precision safetensors, and the errors for bad files.
final class CheckpointFormatTests: LoftTestCase {
    /// stories260K's tensors under HF names, read from the llama2.c file.
    func storiesTensors() throws -> (LlamaConfig, [String: (shape: [Int], values: [Float])]) {
        let source = try Llama2CCheckpoint(path: Fixtures.data("models/stories260K/stories260K.bin"))
        var tensors: [String: ([Int], [Float])] = [:]
        for tensor in LlamaTensor.all(for: source.config) {
            tensors[HuggingFaceNames.name(of: tensor)] = (try source.checkedShape(tensor), try source.floats(tensor))
        }
        return (source.config, tensors)
    }

    /// Writes a HF folder: config.json plus the tensors in `shards` files (an index when > 1).
    func writeFolder(
        _ dir: URL, config: LlamaConfig, tensors: [String: (shape: [Int], values: [Float])],
        dtype: SafeTensorsDType, shards: Int
    ) throws {
        try JSONSerialization.data(withJSONObject: config.huggingFaceJSON).write(
            to: dir.appendingPathComponent("config.json"))
        let names = tensors.keys.sorted()
        var weightMap: [String: String] = [:]
        for shard in 0..<shards {
            let file =
                shards == 1 ? "model.safetensors" : String(format: "model-%05d-of-%05d.safetensors", shard + 1, shards)
            var part: [String: SafeTensor] = [:]
            for (i, name) in names.enumerated() where i % shards == shard {
                part[name] = SafeTensor(tensors[name]!.values, shape: tensors[name]!.shape, dtype: dtype)
                weightMap[name] = file
            }
            try SafeTensorsFile.write(part, to: dir.appendingPathComponent(file))
        }
        if shards > 1 {
            try JSONSerialization.data(withJSONObject: ["metadata": [:], "weight_map": weightMap])
                .write(to: dir.appendingPathComponent("model.safetensors.index.json"))
        }
    }

    func testShardedBF16AndF16FoldersLoadTheRoundedWeights() throws {
        let (config, tensors) = try storiesTensors()
        let reference = try LlamaModel(
            checkpoint: Llama2CCheckpoint(path: Fixtures.data("models/stories260K/stories260K.bin")))
        let tokens: [Int32] = [1, 403, 407, 261, 378, 432, 383, 286]
        let referenceLogits = reference.logits(tokens: tokens, batch: 1, steps: 8).data
        for (dtype, shards) in [(SafeTensorsDType.BF16, 3), (.F16, 2), (.F32, 1)] {
            let dir = try Fixtures.temporaryDirectory(self)
            try writeFolder(dir, config: config, tensors: tensors, dtype: dtype, shards: shards)
            let checkpoint = try HuggingFaceCheckpoint(folder: dir.path)
            // Every tensor reads back as exactly its value rounded to the stored precision.
            let byName = Dictionary(
                uniqueKeysWithValues: LlamaTensor.all(for: config).map { (HuggingFaceNames.name(of: $0), $0) })
            for (name, tensor) in tensors {
                let modelTensor = try XCTUnwrap(byName[name], name)
                let rounded: [Float]
                switch dtype {
                case .BF16: rounded = tensor.values.map { bf16Rounded($0) }
                case .F16: rounded = tensor.values.map { Float(Float16($0)) }
                default: rounded = tensor.values
                }
                XCTAssertEqual(try checkpoint.floats(modelTensor), rounded, "\(dtype) \(name)")
            }
            let logits = try LlamaModel(checkpoint: checkpoint).logits(tokens: tokens, batch: 1, steps: 8).data
            let maxDiff = zip(logits, referenceLogits).map { abs($0 - $1) }.max()!
            // bf16 keeps 8 mantissa bits (relative 4e-3 per weight); logits here are O(10).
            XCTAssertLessThan(maxDiff, dtype == .BF16 ? 0.5 : (dtype == .F16 ? 0.05 : 1e-6), "\(dtype): \(maxDiff)")
        }
    }

    func bf16Rounded(_ x: Float) -> Float {
        let bits = x.bitPattern
        return Float(bitPattern: ((bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16) << 16)
    }

    // MARK: - Bad files: each a thrown error naming the problem, never a crash.

    func writeRaw(_ bytes: Data) throws -> String {
        let url = try Fixtures.temporaryDirectory(self).appendingPathComponent("bad.safetensors")
        try bytes.write(to: url)
        return url.path
    }

    func header(_ json: String, dataBytes: Int) -> Data {
        var data = Data()
        withUnsafeBytes(of: UInt64(json.utf8.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(Data(json.utf8))
        data.append(Data(count: dataBytes))
        return data
    }

    func assertThrows(_ path: String, contains fragments: [String], file: StaticString = #filePath, line: UInt = #line)
    {
        XCTAssertThrowsError(try SafeTensorsFile(path: path), file: file, line: line) { error in
            for fragment in fragments {
                XCTAssertTrue("\(error)".contains(fragment), "'\(error)' lacks '\(fragment)'", file: file, line: line)
            }
        }
    }

    func testTruncatedFile() throws {
        assertThrows(try writeRaw(Data([1, 2, 3])), contains: ["bad.safetensors", "8-byte"])
        let full = header(#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, dataBytes: 16)
        assertThrows(try writeRaw(full.prefix(full.count - 4)), contains: ["'w'", "outside"])
    }

    func testHeaderLengthPastTheEnd() throws {
        var data = Data()
        withUnsafeBytes(of: UInt64(1_000_000).littleEndian) { data.append(contentsOf: $0) }
        data.append(Data("{}".utf8))
        assertThrows(try writeRaw(data), contains: ["header length 1000000", "past the end"])
    }

    func testOffsetsOutOfRangeAndOverlapping() throws {
        assertThrows(
            try writeRaw(header(#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}"#, dataBytes: 16)),
            contains: ["'w'", "outside"])
        let overlap =
            #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        assertThrows(try writeRaw(header(overlap, dataBytes: 16)), contains: ["overlap"])
        assertThrows(
            try writeRaw(header(#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}"#, dataBytes: 16)),
            contains: ["'w'", "needs 12 bytes"])
    }

    func testWrongDType() throws {
        assertThrows(
            try writeRaw(header(#"{"w":{"dtype":"Q4","shape":[4],"data_offsets":[0,4]}}"#, dataBytes: 4)),
            contains: ["unknown dtype Q4"])
        let path = try writeRaw(header(#"{"w":{"dtype":"I32","shape":[4],"data_offsets":[0,16]}}"#, dataBytes: 16))
        XCTAssertThrowsError(try SafeTensorsFile(path: path).floats("w")) { error in
            XCTAssertTrue("\(error)".contains("'w' has dtype I32"), "\(error)")
        }
    }

    func testNotJSONHeader() throws {
        assertThrows(try writeRaw(header("not json", dataBytes: 0)), contains: ["not valid JSON at line 1, column 2"])
    }

    func testMissingTensorAndConfigDisagreeingWithWeights() throws {
        let (config, tensors) = try storiesTensors()
        var missing = tensors
        missing["model.layers.3.mlp.up_proj.weight"] = nil
        let dir = try Fixtures.temporaryDirectory(self)
        try writeFolder(dir, config: config, tensors: missing, dtype: .F32, shards: 1)
        XCTAssertThrowsError(try LlamaModel(checkpoint: HuggingFaceCheckpoint(folder: dir.path))) { error in
            XCTAssertTrue("\(error)".contains("missing tensor 'model.layers.3.mlp.up_proj.weight'"), "\(error)")
        }
        var wrong = config
        wrong.hiddenDim = 128
        let dir2 = try Fixtures.temporaryDirectory(self)
        try writeFolder(dir2, config: wrong, tensors: tensors, dtype: .F32, shards: 1)
        XCTAssertThrowsError(try LlamaModel(checkpoint: HuggingFaceCheckpoint(folder: dir2.path))) { error in
            XCTAssertTrue(
                "\(error)".contains("model.layers.0.mlp.gate_proj.weight' has shape [172, 64], expected [128, 64]"),
                "\(error)")
        }
        var extra = tensors
        extra["model.layers.0.self_attn.q_proj.bias"] = ([64], [Float](repeating: 0, count: 64))
        let dir3 = try Fixtures.temporaryDirectory(self)
        try writeFolder(dir3, config: config, tensors: extra, dtype: .F32, shards: 2)
        XCTAssertThrowsError(try LlamaModel(checkpoint: HuggingFaceCheckpoint(folder: dir3.path))) { error in
            XCTAssertTrue("\(error)".contains("unexpected tensor 'model.layers.0.self_attn.q_proj.bias'"), "\(error)")
        }
    }

    /// A NaN or an infinity in a stored weight is refused at load time, naming the tensor.
    func testNonFiniteWeightIsNamedAtLoad() throws {
        let (config, tensors) = try storiesTensors()
        for (name, bad) in [
            ("model.layers.2.self_attn.v_proj.weight", Float.nan), ("model.norm.weight", -Float.infinity),
        ] {
            var damaged = tensors
            damaged[name]!.values[5] = bad
            let dir = try Fixtures.temporaryDirectory(self)
            try writeFolder(dir, config: config, tensors: damaged, dtype: .F32, shards: 1)
            XCTAssertThrowsError(try LlamaModel(checkpoint: HuggingFaceCheckpoint(folder: dir.path))) { error in
                XCTAssertTrue(
                    "\(error)".contains("tensor '\(name)' holds \(bad.isNaN ? "NaN" : "\(bad)") at element 5"),
                    "\(error)")
            }
        }
    }

    func testTruncatedLlama2CFile() throws {
        let original = try Data(contentsOf: URL(fileURLWithPath: Fixtures.data("models/stories260K/stories260K.bin")))
        let url = try Fixtures.temporaryDirectory(self).appendingPathComponent("short.bin")
        try original.prefix(original.count - 100).write(to: url)
        XCTAssertThrowsError(try Llama2CCheckpoint(path: url.path)) { error in
            XCTAssertTrue("\(error)".contains("implies 1056540 bytes, the file has 1056440"), "\(error)")
        }
        try Data([1, 2, 3]).write(to: url)
        XCTAssertThrowsError(try Llama2CCheckpoint(path: url.path))
    }
}

/// Crafted headers whose sizes overflow are errors naming the file, never an arithmetic trap.
final class CraftedHeaderTests: LoftTestCase {
    func testSafetensorsShapeWhoseByteCountOverflows() throws {
        let url = try Fixtures.temporaryDirectory(self).appendingPathComponent("big.safetensors")
        let header = #"{"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,16]}}"#
        var data = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: Array(header.utf8))
        data.append(Data(count: 16))
        try data.write(to: url)
        XCTAssertThrowsError(try SafeTensorsFile(path: url.path)) { error in
            XCTAssertTrue("\(error)".contains(url.path) && "\(error)".contains("too large"), "\(error)")
        }
    }

    func testLlama2CHeaderWhoseSizesOverflow() throws {
        let url = try Fixtures.temporaryDirectory(self).appendingPathComponent("big.bin")
        // dim 2^24·8 would be refused by the config check; these pass it but their byte counts explode.
        let header: [Int32] = [1 << 24, 1 << 24, 1 << 24, 1 << 12, 1 << 12, 1 << 24, 1 << 24]
        var data = Data()
        for value in header { withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) } }
        data.append(Data(count: 64))
        try data.write(to: url)
        XCTAssertThrowsError(try Llama2CCheckpoint(path: url.path)) { error in
            XCTAssertTrue("\(error)".contains(url.path), "\(error)")
        }
    }
}
