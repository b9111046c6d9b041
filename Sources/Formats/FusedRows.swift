import Foundation
import Llama

/// The rows of a linear its family stores stacked with others (Phi-3's `qkv_proj` [q + 2·kv, D]
/// and `gate_up_proj` [2F, D]): what checkpoint readers cut out and writers stack again.
/// reference: transformers modeling_phi3.py (Phi3Attention.qkv_proj, Phi3MLP.gate_up_proj)
enum FusedRows {
    /// The rows of `tensor` in its stored tensor, nil when it is stored alone.
    static func rows(of tensor: LlamaTensor, config c: LlamaConfig) -> Range<Int>? {
        guard case .linear(_, let module) = tensor, let group = c.family.fusedGroup(of: module) else { return nil }
        return module.rows(in: group, config: c)
    }

    /// The shape a reader reports for `tensor` stored with shape `stored`: its rows of a stacked
    /// tensor of the right width, else the stored shape (the reader's checks then refuse it).
    static func shape(of tensor: LlamaTensor, stored: [Int], config c: LlamaConfig) -> [Int] {
        guard let rows = rows(of: tensor, config: c), stored.count == 2, stored[0] >= rows.upperBound else {
            return stored
        }
        return [rows.count, stored[1]]
    }

    /// `tensor`'s rows of the stored `values` (all of them when it is stored alone).
    static func slice(_ values: [Float], of tensor: LlamaTensor, config c: LlamaConfig) -> [Float] {
        guard let rows = rows(of: tensor, config: c) else { return values }
        let columns = tensor.shape(in: c)[1]
        guard values.count >= rows.upperBound * columns else { return values }
        return Array(values[(rows.lowerBound * columns)..<(rows.upperBound * columns)])
    }

    /// The tensors a checkpoint of `c` stores, in order, each with the model tensors it holds
    /// (several stacked by rows for a fused group), `name` giving each model tensor's stored name.
    static func storedTensors(for c: LlamaConfig, name: (LlamaTensor) -> String) -> [(
        name: String, parts: [LlamaTensor]
    )] {
        var stored: [(name: String, parts: [LlamaTensor])] = []
        for tensor in LlamaTensor.all(for: c) {
            let storedName = name(tensor)
            if let last = stored.last, last.name == storedName {
                stored[stored.count - 1].parts.append(tensor)
            } else {
                stored.append((storedName, [tensor]))
            }
        }
        return stored
    }
}

/// The last stacked tensor a checkpoint read, kept while its members are read one after another
/// (q, k and v of one `qkv_proj`), so that it is read — and, from a quantized GGUF, dequantized —
/// once instead of once per member. A tensor stored alone is not kept.
final class StackedTensorCache: @unchecked Sendable {
    private var last: (name: String, values: [Float])?
    private let lock = NSLock()

    /// `tensor`'s stored values under `name`: from the cache when it is the stacked tensor read
    /// last, else `read()` (kept when `tensor` is one of several stacked).
    func values(of tensor: LlamaTensor, named name: String, config: LlamaConfig, read: () throws -> [Float]) rethrows
        -> [Float]
    {
        guard FusedRows.rows(of: tensor, config: config) != nil else { return try read() }
        lock.lock()
        defer { lock.unlock() }
        if let last, last.name == name { return last.values }
        last = nil
        let values = try read()
        last = (name, values)
        return values
    }
}
