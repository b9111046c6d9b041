// MARK: - Sum and mean of all elements.

extension Tensor {
    /// The sum of all elements, accumulated in Double: [*] → [].
    public func sum() -> Tensor {
        var total = 0.0
        withValues { for v in $0 { total += Double(v) } }
        let n = count
        return Tape.record("sum", data: [Float(total)], shape: [], inputs: [self]) { dy, inputs, _ in
            let (value, gradient) = (dy[0], FloatBuffer(uninitialized: n))
            gradient.baseAddress.update(repeating: value, count: n)
            inputs[0].addGrad(gradient)
        }
    }

    /// The mean of all elements: [*] → [].
    public func mean() -> Tensor {
        precondition(count > 0, "mean: empty tensor of shape \(shape)")
        return sum().scaled(by: 1 / Float(count))
    }
}
