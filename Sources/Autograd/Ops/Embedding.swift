// MARK: - Embedding lookup: gather rows; the backward scatter-adds.

extension Tensor {
    /// Rows of the table `self` [V, D] at `ids`: → `idsShape + [D]`.
    /// - Parameters:
    ///   - ids: token ids, each in `0..<V`.
    ///   - idsShape: the shape of `ids` (for example [B, T]).
    public func embedding(_ ids: [Int32], idsShape: [Int]) -> Tensor {
        precondition(rank == 2, "embedding: table must be [V, D], got \(shape)")
        precondition(idsShape.product == ids.count, "embedding: \(ids.count) ids for shape \(idsShape)")
        let (vocab, dim) = (shape[0], shape[1])
        for id in ids { precondition(id >= 0 && Int(id) < vocab, "embedding: id \(id) outside 0..<\(vocab)") }
        let result = uninitializedFloats(ids.count * dim) { out in
            withValues { table in
                for (row, id) in ids.enumerated() {
                    let src = table.baseAddress! + Int(id) * dim
                    (out.baseAddress! + row * dim).update(from: src, count: dim)
                }
            }
        }
        return Tape.record("embedding", data: result, shape: idsShape + [dim], inputs: [self]) {
            dy, inputs, _ in
            inputs[0].accumulateGrad { dTable in
                for (row, id) in ids.enumerated() {
                    let base = Int(id) * dim
                    for j in 0..<dim { dTable[base + j] += dy[row * dim + j] }
                }
            }
        }
    }
}
