import Foundation
import Support

/// A tensor ready to be written: dtype, shape and little-endian bytes.
public struct SafeTensor: Sendable {
    /// What the header records.
    public let dtype: SafeTensorsDType, shape: [Int]
    /// The raw data (`shape.product · dtype.size` bytes).
    public let bytes: Data

    /// Raw bytes of a given dtype.
    public init(dtype: SafeTensorsDType, shape: [Int], bytes: Data) {
        precondition(
            bytes.count == shape.product * dtype.size,
            "SafeTensor: \(bytes.count) bytes for \(dtype) \(shape)")
        (self.dtype, self.shape, self.bytes) = (dtype, shape, bytes)
    }

    /// Float32 values stored as F32, F16 or BF16 (round to nearest even).
    public init(_ values: [Float], shape: [Int], dtype: SafeTensorsDType = .F32) {
        precondition(values.count == shape.product, "SafeTensor: \(values.count) values for \(shape)")
        var data = Data(capacity: values.count * dtype.size)
        switch dtype {
        case .F32:
            values.withUnsafeBytes { data.append(contentsOf: $0) }
        case .F16:
            let halves = values.map { Float16($0).bitPattern }
            halves.withUnsafeBytes { data.append(contentsOf: $0) }
        case .BF16:
            let halves = values.map { value -> UInt16 in
                let bits = value.bitPattern
                if value.isNaN { return UInt16(bits >> 16) | 0x40 }
                return UInt16((bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
            }
            halves.withUnsafeBytes { data.append(contentsOf: $0) }
        default:
            preconditionFailure("SafeTensor: cannot store Float values as \(dtype)")
        }
        self.init(dtype: dtype, shape: shape, bytes: data)
    }

    /// Int32 values stored as I32.
    public init(int32 values: [Int32], shape: [Int]) {
        self.init(dtype: .I32, shape: shape, bytes: values.withUnsafeBytes { Data($0) })
    }
}

extension SafeTensorsFile {
    /// Writes `tensors` to `url` atomically (names sorted, header padded to 8 bytes).
    public static func write(_ tensors: [String: SafeTensor], metadata: [String: String] = [:], to url: URL) throws {
        let layout = tensors.map { (name: $0.key, dtype: $0.value.dtype, shape: $0.value.shape) }
        try writeStreaming(layout: layout, metadata: metadata, to: url) { name, emit in
            try tensors[name]!.bytes.withUnsafeBytes(emit)
        }
    }

    /// Writes a safetensors file tensor by tensor: `produce(name, emit)` must call `emit` with the
    /// tensor's bytes (once, or in consecutive pieces), so that only one tensor is in memory at a
    /// time. Atomic: temporary file, fsync, rename.
    public static func writeStreaming(
        layout: [(name: String, dtype: SafeTensorsDType, shape: [Int])],
        metadata: [String: String] = [:], to url: URL,
        produce: (String, (UnsafeRawBufferPointer) throws -> Void) throws -> Void
    ) throws {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        let sorted = layout.sorted { $0.name < $1.name }
        for entry in sorted {
            let size = entry.shape.product * entry.dtype.size
            header[entry.name] = [
                "dtype": entry.dtype.rawValue, "shape": entry.shape, "data_offsets": [offset, offset + size],
            ]
            offset += size
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        try AtomicFile.write(to: url) { fileEmit in
            try withoutActuallyEscaping(fileEmit) { emit in
                var prefix = Data()
                withUnsafeBytes(of: UInt64(json.count).littleEndian) { prefix.append(contentsOf: $0) }
                try (prefix + json).withUnsafeBytes(emit)
                for entry in sorted {
                    var written = 0
                    try produce(entry.name) { piece in
                        try emit(piece)
                        written += piece.count
                    }
                    precondition(
                        written == entry.shape.product * entry.dtype.size,
                        "writeStreaming: \(entry.name) produced \(written) bytes for \(entry.dtype) \(entry.shape)")
                }
            }
        }
    }
}
