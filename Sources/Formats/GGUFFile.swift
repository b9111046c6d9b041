import Autograd
import Foundation
import Support

/// A metadata value of a GGUF file.
public enum GGUFValue: Equatable, Sendable {
    case uint(UInt64), int(Int64), float(Double), bool(Bool), string(String)
    indirect case array([GGUFValue])

    /// The value as an integer, when it is one (signed or unsigned, in range).
    public var int: Int? {
        switch self {
        case .uint(let v): return v <= UInt64(Int.max) ? Int(v) : nil
        case .int(let v): return Int(v)
        default: return nil
        }
    }
    /// The value as a number.
    public var double: Double? {
        switch self {
        case .float(let v): return v
        case .uint, .int: return int.map(Double.init)
        default: return nil
        }
    }
    /// The value as a string.
    public var string: String? { if case .string(let s) = self { return s } else { return nil } }
    /// The value as a Bool.
    public var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    /// The value as an array.
    public var array: [GGUFValue]? { if case .array(let a) = self { return a } else { return nil } }
}

/// One tensor's entry: name, row-major shape (GGUF stores dims innermost first), type, data range.
public struct GGUFTensorInfo: Sendable {
    public let name: String
    /// Outermost first: `[out, in]` for a linear weight.
    public let shape: [Int]
    public let type: GGMLType
    /// Byte range inside the file.
    public let begin: Int, end: Int
}

/// A memory-mapped GGUF file (versions 2 and 3, little-endian) whose header, metadata and tensor
/// infos have been read and bounds-checked: every count, length, offset and size is checked
/// against the file before it is used, and every error names the file and the field.
/// reference: ggml docs/gguf.md (the format); llama.cpp gguf.cpp (alignment, offsets)
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: UInt32
    /// Every metadata key and value.
    public let metadata: [String: GGUFValue]
    /// The tensors by name, and in file order.
    public let tensors: [String: GGUFTensorInfo]
    public let tensorOrder: [String]
    let file: MappedFile

    /// Opens and checks `path`.
    public init(path: String) throws {
        self.path = path
        guard FileManager.default.fileExists(atPath: path) else { throw FormatError.fileNotFound(path: path) }
        file = try MappedFile(path: path)
        var reader = Reader(base: file.base, size: file.size, path: path)
        guard try reader.u32("magic") == 0x4655_4747 else {
            throw FormatError.invalidGGUF(path: path, field: "magic", detail: "not a GGUF file (no 'GGUF' magic)")
        }
        version = try reader.u32("version")
        guard version == 2 || version == 3 else {
            throw FormatError.unsupported(path: path, detail: "GGUF version \(version) (versions 2 and 3 are read)")
        }
        let tensorCount = try reader.count("tensor_count", minimumBytesEach: 24)
        let metadataCount = try reader.count("metadata_kv_count", minimumBytesEach: 12)
        var metadata: [String: GGUFValue] = [:]
        for index in 0..<metadataCount {
            let key = try reader.name("metadata[\(index)].key")
            let type = try reader.u32("metadata[\(key)].type")
            metadata[key] = try reader.value(type: type, field: "metadata[\(key)]")
        }
        var tensors: [String: GGUFTensorInfo] = [:], order: [String] = []
        var raw: [(name: String, dims: [Int], type: UInt32, offset: UInt64)] = []
        for index in 0..<tensorCount {
            let name = try reader.name("tensor[\(index)].name")
            let dimCount = Int(try reader.u32("tensor[\(name)].n_dims"))
            guard (1...4).contains(dimCount) else {
                throw FormatError.invalidGGUF(
                    path: path, field: "tensor[\(name)].n_dims", detail: "\(dimCount); expected 1...4")
            }
            var dims: [Int] = []
            for d in 0..<dimCount {
                let value = try reader.u64("tensor[\(name)].dims[\(d)]")
                guard value >= 1 && value <= 1 << 40 else {
                    throw FormatError.invalidGGUF(
                        path: path, field: "tensor[\(name)].dims[\(d)]", detail: "\(value); expected 1...2^40")
                }
                dims.append(Int(value))
            }
            raw.append((name, dims, try reader.u32("tensor[\(name)].type"), try reader.u64("tensor[\(name)].offset")))
        }
        let alignment = metadata["general.alignment"]?.int ?? 32
        guard alignment > 0 && alignment <= 1 << 20 && alignment % 8 == 0 else {
            throw FormatError.invalidGGUF(
                path: path, field: "general.alignment", detail: "\(alignment); expected a positive multiple of 8")
        }
        // A file without tensors (a vocabulary) may end right after its metadata, unpadded.
        let dataStart =
            raw.isEmpty
            ? min(file.size, (reader.offset + alignment - 1) / alignment * alignment)
            : (reader.offset + alignment - 1) / alignment * alignment
        guard dataStart <= file.size else {
            throw FormatError.truncated(
                path: path, detail: "the data section would start at \(dataStart), past the end (\(file.size) bytes)")
        }
        for entry in raw {
            let field = "tensor[\(entry.name)]"
            guard let type = GGMLType(rawValue: entry.type) else {
                throw FormatError.unsupported(
                    path: path, detail: "\(field) has ggml type \(GGMLType.name(of: entry.type))")
            }
            guard entry.dims[0] % type.blockSize == 0 else {
                throw FormatError.invalidGGUF(
                    path: path, field: field,
                    detail: "row length \(entry.dims[0]) is not a multiple of \(type)'s block of \(type.blockSize)")
            }
            var elements = 1
            for d in entry.dims {
                let (product, overflow) = elements.multipliedReportingOverflow(by: d)
                guard !overflow, product <= 1 << 40 else {
                    throw FormatError.invalidGGUF(
                        path: path, field: field, detail: "dims \(entry.dims) hold too many elements")
                }
                elements = product
            }
            let bytes = elements / type.blockSize * type.bytesPerBlock
            guard entry.offset % UInt64(alignment) == 0, entry.offset <= UInt64(file.size - dataStart),
                Int(entry.offset) + bytes <= file.size - dataStart
            else {
                throw FormatError.truncated(
                    path: path,
                    detail: "\(field): \(bytes) bytes at data offset \(entry.offset) run past the end of the file")
            }
            guard tensors[entry.name] == nil else {
                throw FormatError.invalidGGUF(path: path, field: field, detail: "the name appears twice")
            }
            let begin = dataStart + Int(entry.offset)
            tensors[entry.name] = GGUFTensorInfo(
                name: entry.name, shape: entry.dims.reversed(), type: type, begin: begin, end: begin + bytes)
            order.append(entry.name)
        }
        (self.metadata, self.tensors, tensorOrder) = (metadata, tensors, order)
    }

    /// Tensor `name` dequantized to fp32 (one tensor at a time; its pages are released after).
    public func floats(_ name: String) throws -> [Float] {
        guard let info = tensors[name] else {
            throw FormatError.invalidGGUF(path: path, field: "tensor[\(name)]", detail: "missing")
        }
        defer { file.release(info.begin..<info.end) }
        let count = info.shape.product
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            GGMLDequantization.dequantize(
                info.type, from: file.base + info.begin, count: count, into: buffer.baseAddress!)
            initialized = count
        }
    }

    /// Reads little-endian values with bounds checks.
    struct Reader {
        let base: UnsafeRawPointer, size: Int, path: String
        var offset = 0

        mutating func take(_ count: Int, _ field: String) throws -> UnsafeRawPointer {
            guard count >= 0, count <= size - offset else {
                throw FormatError.truncated(
                    path: path, detail: "\(field): \(count) bytes at offset \(offset) run past the end (\(size) bytes)")
            }
            defer { offset += count }
            return base + offset
        }
        mutating func u32(_ field: String) throws -> UInt32 {
            UInt32(littleEndian: try take(4, field).loadUnaligned(as: UInt32.self))
        }
        mutating func u64(_ field: String) throws -> UInt64 {
            UInt64(littleEndian: try take(8, field).loadUnaligned(as: UInt64.self))
        }

        /// A count that the rest of the file could hold at `minimumBytesEach` bytes an item.
        mutating func count(_ field: String, minimumBytesEach: Int) throws -> Int {
            let value = try u64(field)
            guard value <= UInt64((size - offset) / max(1, minimumBytesEach)) else {
                throw FormatError.invalidGGUF(
                    path: path, field: field, detail: "\(value) items cannot fit in the \(size - offset) bytes left")
            }
            return Int(value)
        }

        mutating func string(_ field: String) throws -> String {
            let length = try count(field + ".length", minimumBytesEach: 1)
            let bytes = try take(length, field)
            return String(decoding: UnsafeRawBufferPointer(start: bytes, count: length), as: UTF8.self)
        }

        /// A key or tensor name: UTF-8 without control characters, at most 64 KiB (so that it
        /// can appear in an error message as it is).
        mutating func name(_ field: String) throws -> String {
            let length = try count(field + ".length", minimumBytesEach: 1)
            let raw = UnsafeRawBufferPointer(start: try take(length, field), count: length)
            guard length <= 65_535, !raw.contains(where: { $0 < 0x20 || $0 == 0x7F }),
                let text = String(validating: raw, as: UTF8.self)
            else {
                throw FormatError.invalidGGUF(
                    path: path, field: field,
                    detail: "a \(length)-byte name that is not printable UTF-8 text (a length is wrong?)")
            }
            return text
        }

        /// A value of GGUF type `type` (arrays nest at most once, as in the format).
        mutating func value(type: UInt32, field: String, depth: Int = 0) throws -> GGUFValue {
            switch type {
            case 0: return .uint(UInt64(try take(1, field).load(as: UInt8.self)))
            case 1: return .int(Int64(try take(1, field).load(as: Int8.self)))
            case 2: return .uint(UInt64(UInt16(littleEndian: try take(2, field).loadUnaligned(as: UInt16.self))))
            case 3: return .int(Int64(Int16(littleEndian: try take(2, field).loadUnaligned(as: Int16.self))))
            case 4: return .uint(UInt64(try u32(field)))
            case 5: return .int(Int64(Int32(bitPattern: try u32(field))))
            case 6: return .float(Double(Float(bitPattern: try u32(field))))
            case 7: return .bool(try take(1, field).load(as: UInt8.self) != 0)
            case 8: return .string(try string(field))
            case 9:
                guard depth == 0 else {
                    throw FormatError.invalidGGUF(path: path, field: field, detail: "arrays nested more than once")
                }
                let elementType = try u32(field + ".element_type")
                let minimum =
                    [0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 8: 8, 9: 12, 10: 8, 11: 8, 12: 8][Int(elementType)]
                    ?? 1
                let count = try count(field + ".count", minimumBytesEach: minimum)
                var items: [GGUFValue] = []
                items.reserveCapacity(count)
                for index in 0..<count {
                    items.append(try value(type: elementType, field: "\(field)[\(index)]", depth: depth + 1))
                }
                return .array(items)
            case 10: return .uint(try u64(field))
            case 11: return .int(Int64(bitPattern: try u64(field)))
            case 12: return .float(Double(bitPattern: try u64(field)))
            default: throw FormatError.invalidGGUF(path: path, field: field, detail: "unknown value type \(type)")
            }
        }
    }
}
