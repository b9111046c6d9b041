import Foundation
import Llama
import Support

/// The element types of the safetensors format.
public enum SafeTensorsDType: String, Sendable {
    case F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .F64, .I64: return 8
        case .F32, .I32: return 4
        case .F16, .BF16, .I16: return 2
        case .I8, .U8, .BOOL: return 1
        }
    }

    /// `shape.product · size`, or nil when it overflows (a crafted header).
    public func byteCount(of shape: [Int]) -> Int? {
        var total = size
        for dimension in shape {
            let (product, overflow) = total.multipliedReportingOverflow(by: dimension)
            if overflow || dimension < 0 { return nil }
            total = product
        }
        return total
    }
}

/// One tensor's entry in a safetensors header.
public struct SafeTensorsEntry: Sendable {
    /// The tensor name, dtype and shape.
    public let name: String, dtype: SafeTensorsDType, shape: [Int]
    /// Byte range inside the data section.
    public let begin: Int, end: Int
}

/// A memory-mapped `.safetensors` file whose header has been parsed and checked: every tensor's
/// byte range lies inside the file, ranges do not overlap, and dtype × shape equals the length.
/// Tensors are read one at a time; the file itself is never copied.
/// reference: https://github.com/huggingface/safetensors (format: u64 header length, JSON, data)
public final class SafeTensorsFile: @unchecked Sendable {
    /// The file path (used in every error).
    public let path: String
    /// The entries by name.
    public let entries: [String: SafeTensorsEntry]
    /// The `__metadata__` strings, if any.
    public let metadata: [String: String]
    private let file: MappedFile
    private let dataStart: Int

    /// Opens and validates `path`.
    public init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path)
        guard file.size >= 8 else {
            throw FormatError.truncated(path: path, detail: "\(file.size) bytes, shorter than the 8-byte header length")
        }
        (entries, metadata, dataStart) = try SafeTensorsFile.parseHeader(file.base, size: file.size, path: path)
    }

    /// The tensor names, sorted.
    public var names: [String] { entries.keys.sorted() }

    /// The entry of `name`, which must be present with `shape` (and `dtype`, when given): the one
    /// "tensor X of shape S" lookup every reader of Loft's own files goes through.
    public func entry(_ name: String, shape: [Int], dtype: SafeTensorsDType? = nil) throws -> SafeTensorsEntry {
        guard let entry = entries[name] else { throw LlamaError.missingTensor(name: name, source: path) }
        guard entry.shape == shape else {
            throw LlamaError.shapeMismatch(name: name, expected: shape, actual: entry.shape, source: path)
        }
        if let dtype, entry.dtype != dtype {
            throw FormatError.unsupportedDType(
                path: path, tensor: name, dtype: "\(entry.dtype.rawValue) (expected \(dtype.rawValue))")
        }
        return entry
    }

    /// Tensor `name` as Float32, checked to have `shape`.
    public func floats(_ name: String, shape: [Int]) throws -> [Float] {
        _ = try entry(name, shape: shape)
        return try floats(name)
    }

    /// The bytes of the U8 tensor `name`, checked to hold `count` of them.
    public func bytes(_ name: String, count: Int) throws -> [UInt8] {
        _ = try entry(name, shape: [count], dtype: .U8)
        return try withBytes(name) { Array($0) }
    }

    /// The raw bytes of tensor `name`.
    public func withBytes<R>(_ name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let entry = entries[name] else { throw LlamaError.missingTensor(name: name, source: path) }
        defer { file.release((dataStart + entry.begin)..<(dataStart + entry.end)) }
        return try body(
            UnsafeRawBufferPointer(start: file.base + dataStart + entry.begin, count: entry.end - entry.begin))
    }

    /// Tensor `name` converted to Float32 (from F32, F16 or BF16).
    public func floats(_ name: String) throws -> [Float] {
        guard let entry = entries[name] else { throw LlamaError.missingTensor(name: name, source: path) }
        let count = entry.shape.product
        let source = file.base + dataStart + entry.begin
        defer { file.release((dataStart + entry.begin)..<(dataStart + entry.end)) }
        switch entry.dtype {
        case .F32:
            return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                file.copy(
                    from: dataStart + entry.begin, count: count * 4, to: UnsafeMutableRawPointer(buffer.baseAddress!))
                initialized = count
            }
        case .BF16:
            return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                for i in 0..<count {
                    let bits = source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)
                    buffer[i] = Float(bitPattern: UInt32(bits) << 16)
                }
                initialized = count
            }
        case .F16:
            return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                for i in 0..<count {
                    buffer[i] = Float(Float16(bitPattern: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                }
                initialized = count
            }
        default:
            throw FormatError.unsupportedDType(path: path, tensor: name, dtype: entry.dtype.rawValue)
        }
    }

    private static func parseHeader(_ base: UnsafeRawPointer, size: Int, path: String)
        throws -> ([String: SafeTensorsEntry], [String: String], Int)
    {
        let headerLength = Int(clamping: UInt64(littleEndian: base.loadUnaligned(as: UInt64.self)))
        guard headerLength <= size - 8 else {
            throw FormatError.truncated(
                path: path, detail: "header length \(headerLength) runs past the end of the \(size)-byte file")
        }
        let headerData = Data(bytes: base + 8, count: headerLength)
        let json: [String: Any]
        switch JSONText.object(headerData) {
        case .success(let object): json = object
        case .failure(let problem):
            throw FormatError.invalidHeader(
                path: path, detail: "the \(headerLength)-byte JSON header: \(problem.detail)")
        }
        let dataSize = size - 8 - headerLength
        var entries: [String: SafeTensorsEntry] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in json {
            if name == "__metadata__" {
                metadata = (value as? [String: String]) ?? [:]
                continue
            }
            guard let fields = value as? [String: Any], let dtypeName = fields["dtype"] as? String,
                let shape = (fields["shape"] as? [NSNumber])?.map({ $0.intValue }),
                let offsets = (fields["data_offsets"] as? [NSNumber])?.map({ $0.intValue }), offsets.count == 2
            else {
                throw FormatError.invalidHeader(
                    path: path, detail: "tensor '\(name)' lacks dtype, shape or data_offsets")
            }
            guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
                throw FormatError.invalidHeader(path: path, detail: "tensor '\(name)' has unknown dtype \(dtypeName)")
            }
            guard shape.allSatisfy({ $0 >= 0 }), offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= dataSize
            else {
                throw FormatError.invalidHeader(
                    path: path,
                    detail: "tensor '\(name)' has offsets \(offsets) outside the \(dataSize)-byte data section")
            }
            guard let size = dtype.byteCount(of: shape) else {
                throw FormatError.invalidHeader(
                    path: path, detail: "tensor '\(name)': \(dtypeName) \(shape) is too large to address")
            }
            guard size == offsets[1] - offsets[0] else {
                throw FormatError.invalidHeader(
                    path: path,
                    detail:
                        "tensor '\(name)': \(dtypeName) \(shape) needs \(size) bytes, offsets give \(offsets[1] - offsets[0])"
                )
            }
            entries[name] = SafeTensorsEntry(name: name, dtype: dtype, shape: shape, begin: offsets[0], end: offsets[1])
        }
        let sorted = entries.values.sorted { ($0.begin, $0.end) < ($1.begin, $1.end) }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.begin < a.end {
            throw FormatError.invalidHeader(path: path, detail: "tensors '\(a.name)' and '\(b.name)' overlap")
        }
        return (entries, metadata, 8 + headerLength)
    }
}
