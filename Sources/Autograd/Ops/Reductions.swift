// MARK: - Sum and mean of all elements.

extension Tensor {
    /// The sum of all elements, accumulated in Double: [*] → [].
    public func sum() -> Tensor {
        var total = 0.0
        for v in data { total += Double(v) }
        let n = count
        return Tape.record("sum", data: [Float(total)], shape: [], inputs: [self]) { dy, inputs, _ in
            inputs[0].addGrad([Float](repeating: dy[0], count: n))
        }
    }

    /// The mean of all elements: [*] → [].
    public func mean() -> Tensor {
        precondition(count > 0, "mean: empty tensor of shape \(shape)")
        return sum().scaled(by: 1 / Float(count))
    }
}
