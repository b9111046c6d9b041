import Foundation

/// Reads tensors from a golden safetensors file (F32 and I32 only, as the goldens hold).
public struct GoldenTensors {
    /// Each tensor's shape and values (I32 converted to Float exactly: ids are small).
    public let tensors: [String: (shape: [Int], values: [Float])]

    /// Parses `path`.
    public init(path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let headerLength = data.prefix(8).withUnsafeBytes { Int($0.loadUnaligned(as: UInt64.self)) }
        let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + headerLength))) as! [String: Any]
        var tensors: [String: ([Int], [Float])] = [:]
        for (name, value) in header where name != "__metadata__" {
            let fields = value as! [String: Any]
            let shape = (fields["shape"] as! [NSNumber]).map(\.intValue)
            let offsets = (fields["data_offsets"] as! [NSNumber]).map(\.intValue)
            let bytes = data.subdata(in: (8 + headerLength + offsets[0])..<(8 + headerLength + offsets[1]))
            let count = shape.reduce(1, *)
            let values: [Float] = bytes.withUnsafeBytes { raw in
                switch fields["dtype"] as! String {
                case "F32": return (0..<count).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
                case "I32": return (0..<count).map { Float(raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) }
                default: fatalError("golden \(path): unexpected dtype \(fields["dtype"]!)")
                }
            }
            tensors[name] = (shape, values)
        }
        self.tensors = tensors
    }

    /// The values of `name` (a failure names the file's keys when absent).
    public subscript(name: String) -> [Float] {
        guard let tensor = tensors[name] else {
            fatalError("golden tensor \(name) missing; have \(tensors.keys.sorted().prefix(10))")
        }
        return tensor.values
    }

    /// `name` as token ids.
    public func ids(_ name: String) -> [Int32] { self[name].map { Int32($0) } }
}
