// MARK: - Reshape: the same values under another shape (no copy; gradient passes through).

extension Tensor {
    /// The same row-major values viewed with `newShape`; one dimension may be `-1` (inferred).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var resolved = newShape
        if let hole = newShape.firstIndex(of: -1) {
            let known = newShape.filter { $0 != -1 }.product
            precondition(known > 0 && count % known == 0, "reshape: \(shape) → \(newShape)")
            resolved[hole] = count / known
        }
        precondition(resolved.product == count, "reshape: \(shape) → \(newShape)")
        return Tape.record("reshape", data: valuesBuffer, shape: resolved, inputs: [self]) { dy, inputs, _ in
            inputs[0].addGrad(dy)
        }
    }
}
