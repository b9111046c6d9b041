import Foundation
import Support

/// A GGUF (version 3) file under construction: metadata in insertion order, then tensors stored
/// as F32, F16, Q8_0, Q4_0 or Q4_1, each aligned to `general.alignment` (32). What `write(to:)` produces is
/// what `GGUFFile` and llama.cpp read.
/// reference: ggml docs/gguf.md (layout, value types); ggml-quants.c quantize_row_q8_0_ref,
/// quantize_row_q4_0_ref and quantize_row_q4_1_ref (the block encodings)
public struct GGUFWriter {
    /// A metadata value, with the GGUF type it is written as.
    public enum Value {
        case uint32(UInt32), int32(Int32), float32(Float), bool(Bool), string(String)
        case strings([String]), int32s([Int32]), float32s([Float])
    }

    /// The tensor types this writer produces.
    public enum TensorType: Sendable {
        case f32, f16, q8_0, q4_0, q4_1
        var ggml: GGMLType {
            switch self {
            case .f32: return .f32
            case .f16: return .f16
            case .q8_0: return .q8_0
            case .q4_0: return .q4_0
            case .q4_1: return .q4_1
            }
        }
        /// `general.file_type` (llama.cpp's `llama_ftype`: ALL_F32, MOSTLY_F16, MOSTLY_Q4_0, MOSTLY_Q4_1, MOSTLY_Q8_0).
        var fileType: UInt32 {
            switch self {
            case .f32: return 0
            case .f16: return 1
            case .q4_0: return 2
            case .q4_1: return 3
            case .q8_0: return 7
            }
        }
    }

    static let alignment = 32
    private(set) var metadata: [(key: String, value: Value)] = []
    private(set) var tensors: [(name: String, shape: [Int], type: GGMLType, bytes: Data)] = []

    /// An empty file.
    public init() {}

    /// Sets `key` (replacing an earlier value of the same key, in place).
    public mutating func set(_ key: String, _ value: Value) {
        if let index = metadata.firstIndex(where: { $0.key == key }) {
            metadata[index].value = value
        } else {
            metadata.append((key, value))
        }
    }

    /// Adds a tensor of row-major `shape` (outermost first, as `GGUFTensorInfo.shape`).
    /// - Throws: `FormatError.invalidGGUF` when the values do not fill the shape, or when a Q8_0
    ///   or Q4 row (the innermost dimension) is not a multiple of 32.
    public mutating func addTensor(_ name: String, values: [Float], shape: [Int], type: TensorType) throws {
        guard !shape.isEmpty, shape.count <= 4, shape.allSatisfy({ $0 > 0 }), values.count == shape.product else {
            throw FormatError.invalidGGUF(
                path: name, field: "shape", detail: "\(values.count) values do not fill \(shape)")
        }
        guard let row = shape.last, row % type.ggml.blockSize == 0 else {
            throw FormatError.invalidGGUF(
                path: name, field: "shape", detail: "rows of \(shape.last ?? 0) are not whole blocks of \(type.ggml)")
        }
        tensors.append((name, shape, type.ggml, Self.encode(values, as: type)))
    }

    /// The bytes of `values` stored as `type`.
    static func encode(_ values: [Float], as type: TensorType) -> Data {
        switch type {
        case .f32: return values.withUnsafeBytes { Data($0) }
        case .f16: return values.map { Float16($0).bitPattern.littleEndian }.withUnsafeBytes { Data($0) }
        case .q8_0:
            var data = Data(capacity: values.count / 32 * 34)
            for start in stride(from: 0, to: values.count, by: 32) {
                let block = values[start..<start + 32]
                let amax = block.reduce(0) { max($0, abs($1)) }
                let d = amax / 127, inverse: Float = d == 0 ? 0 : 1 / d
                appendFloat16(d, to: &data)
                for x in block { data.append(UInt8(bitPattern: Int8(max(-127, min(127, (x * inverse).rounded()))))) }
            }
            return data
        case .q4_0, .q4_1:
            var data = Data(capacity: values.count / 32 * (type == .q4_0 ? 18 : 20))
            for start in stride(from: 0, to: values.count, by: 32) {
                appendQ4(values[start..<start + 32], offset: type == .q4_1, to: &data)
            }
            return data
        }
    }

    /// `value` as a little-endian fp16 (a block's scale or offset).
    private static func appendFloat16(_ value: Float, to data: inout Data) {
        withUnsafeBytes(of: Float16(value).bitPattern.littleEndian) { data.append(contentsOf: $0) }
    }

    /// One block of 32 as Q4_0 (`d = x_max / −8`, codes `x/d + 8`, where x_max is the value of
    /// largest magnitude) or Q4_1 (`d = (max − min) / 15`, `m = min`, codes `(x − m)/d`): fp16 d
    /// (and m), then 16 bytes holding element j in the low nibble and element j + 16 in the high.
    private static func appendQ4(_ block: ArraySlice<Float>, offset: Bool, to data: inout Data) {
        let base = block.startIndex
        var code = [UInt8](repeating: 0, count: 32)
        if offset {
            let low = block.min() ?? 0, high = block.max() ?? 0
            let d = (high - low) / 15, inverse: Float = d == 0 ? 0 : 1 / d
            appendFloat16(d, to: &data)
            appendFloat16(low, to: &data)
            for j in 0..<32 {
                code[j] = UInt8(min(15, max(0, ((block[base + j] - low) * inverse + 0.5).rounded(.towardZero))))
            }
        } else {
            let extreme = block.reduce(Float(0)) { abs($1) > abs($0) ? $1 : $0 }
            let d = extreme / -8, inverse: Float = d == 0 ? 0 : 1 / d
            appendFloat16(d, to: &data)
            for j in 0..<32 { code[j] = UInt8(min(15, max(0, (block[base + j] * inverse + 8.5).rounded(.towardZero)))) }
        }
        for j in 0..<16 { data.append(code[j] | code[j + 16] << 4) }
    }

    /// The whole file: header, metadata, tensor infos, padding, aligned data.
    public func encoded() -> Data {
        var out = Data()
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func string(_ s: String) { u64(UInt64(s.utf8.count)); out.append(contentsOf: Array(s.utf8)) }
        func pad() { while out.count % Self.alignment != 0 { out.append(0) } }
        u32(0x4655_4747)
        u32(3)
        u64(UInt64(tensors.count))
        u64(UInt64(metadata.count + 1))
        string("general.alignment")
        u32(4)
        u32(UInt32(Self.alignment))
        for (key, value) in metadata {
            string(key)
            switch value {
            case .uint32(let v): u32(4); u32(v)
            case .int32(let v): u32(5); u32(UInt32(bitPattern: v))
            case .float32(let v): u32(6); u32(v.bitPattern)
            case .bool(let v): u32(7); out.append(v ? 1 : 0)
            case .string(let v): u32(8); string(v)
            case .strings(let v): u32(9); u32(8); u64(UInt64(v.count)); v.forEach(string)
            case .int32s(let v): u32(9); u32(5); u64(UInt64(v.count)); v.forEach { u32(UInt32(bitPattern: $0)) }
            case .float32s(let v): u32(9); u32(6); u64(UInt64(v.count)); v.forEach { u32($0.bitPattern) }
            }
        }
        var offset = 0
        for tensor in tensors {
            string(tensor.name)
            u32(UInt32(tensor.shape.count))
            for dim in tensor.shape.reversed() { u64(UInt64(dim)) }
            u32(tensor.type.rawValue)
            u64(UInt64(offset))
            offset += (tensor.bytes.count + Self.alignment - 1) / Self.alignment * Self.alignment
        }
        pad()
        for tensor in tensors {
            out.append(tensor.bytes)
            pad()
        }
        return out
    }

    /// Writes the file atomically (temporary file, fsync, rename).
    public func write(to url: URL) throws { try AtomicFile.write(encoded(), to: url) }
}
