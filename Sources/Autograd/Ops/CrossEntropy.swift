import Foundation

// MARK: - Cross-entropy over logits with an ignore index, fused with log-softmax.
// reference: torch.nn.functional.cross_entropy(reduction="mean", ignore_index=-100)

extension Tensor {
    /// The label used for positions that do not count (padding, prompt tokens).
    public static let ignoreIndex: Int32 = -100

    /// Mean of `−log softmax(logits[n])[targets[n]]` over the rows whose target is not
    /// `ignoreIndex`: logits [N, V] (or [..., V]) with `targets` of N ids → [].
    ///
    /// When every row is ignored the loss is 0 and so is its gradient (torch gives NaN there).
    public func crossEntropy(targets: [Int32], ignoreIndex: Int32 = Tensor.ignoreIndex) -> Tensor {
        let vocab = shape.last ?? 0
        let rows = count / max(vocab, 1)
        precondition(targets.count == rows, "crossEntropy: \(targets.count) targets for logits \(shape)")
        for target in targets where target != ignoreIndex {
            precondition(target >= 0 && Int(target) < vocab, "crossEntropy: target \(target) outside 0..<\(vocab)")
        }
        let counted = targets.filter { $0 != ignoreIndex }.count
        var logSumExp = [Float](repeating: 0, count: rows)
        withValues { x in
            logSumExp.withUnsafeMutableBufferPointer { lse in
                let lseP = SendablePointer(lse.baseAddress!)
                Parallel.forEach(rows, costPerItem: 4 * vocab) { range in
                    for row in range where targets[row] != ignoreIndex {
                        lseP.pointer[row] = logSumExpRow(x.baseAddress! + row * vocab, count: vocab)
                    }
                }
            }
        }
        var total: Double = 0
        for row in 0..<rows where targets[row] != ignoreIndex {
            total += Double(logSumExp[row]) - Double(withValues { $0[row * vocab + Int(targets[row])] })
        }
        let loss = counted == 0 ? 0 : Float(total / Double(counted))
        let savedLogSumExp = logSumExp
        return Tape.record("crossEntropy", data: [loss], shape: [], inputs: [self]) { dy, inputs, _ in
            guard counted > 0 else { return }
            let scale = dy[0] / Float(counted)
            let dx = FloatBuffer(zeros: rows * vocab)
            inputs[0].data.withUnsafeBufferPointer { x in
                dx.withUnsafeMutableBufferPointer { dxB in
                    let dxP = SendablePointer(dxB.baseAddress!)
                    Parallel.forEach(rows, costPerItem: 4 * vocab) { range in
                        for row in range where targets[row] != ignoreIndex {
                            let (xr, gr) = (x.baseAddress! + row * vocab, dxP.pointer + row * vocab)
                            let lse = savedLogSumExp[row]
                            for j in 0..<vocab { gr[j] = scale * exp(xr[j] - lse) }
                            gr[Int(targets[row])] -= scale
                        }
                    }
                }
            }
            inputs[0].addGrad(dx)
        }
    }
}

/// log Σ exp of `count` values, stabilised by their maximum; the sum is accumulated in Double
/// (a Float sum over a 49k-entry vocabulary drifts by ~1e-4 in the loss, measured on SmolLM2).
@inline(__always)
public func logSumExpRow(_ x: UnsafePointer<Float>, count: Int) -> Float {
    var peak = -Float.infinity
    for j in 0..<count { peak = max(peak, x[j]) }
    var total: Double = 0
    for j in 0..<count { total += Double(exp(x[j] - peak)) }
    return peak + Float(log(total))
}
