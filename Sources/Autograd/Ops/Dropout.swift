// MARK: - Inverted dropout: zero each element with probability p, scale the rest by 1/(1−p).
// reference: torch.nn.functional.dropout (training mode)

extension Tensor {
    /// Dropout with probability `p`, drawing the mask from `rng`: [*] → [*].
    public func dropout(_ p: Float, rng: inout RandomState) -> Tensor {
        precondition(p >= 0 && p < 1, "dropout: probability \(p) outside [0, 1)")
        if p == 0 { return self }
        let keep = 1 / (1 - p)
        let mask = (0..<count).map { _ in rng.nextUniform() < p ? Float(0) : keep }
        let result = FloatBuffer(zip(data, mask).map { $0 * $1 })
        return Tape.record("dropout", data: result, shape: shape, inputs: [self]) { dy, inputs, _ in
            inputs[0].addGrad(zip(dy, mask).map { $0 * $1 })
        }
    }
}
