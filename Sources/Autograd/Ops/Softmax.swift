import Foundation

// MARK: - Softmax over the last dimension.

extension Tensor {
    /// `exp(x − max) / Σ exp(x − max)` along the last dimension: [..., N] → [..., N].
    public func softmax() -> Tensor {
        let n = shape.last ?? 1
        let rows = count / max(n, 1)
        let result = uninitializedFloats(count) { out in
            withValues { x in
                for row in 0..<rows {
                    softmaxRow(x.baseAddress! + row * n, into: out.baseAddress! + row * n, count: n)
                }
            }
        }
        return Tape.record("softmax", data: result, shape: shape, inputs: [self]) { dy, inputs, _ in
            // dx = y ⊙ (dy − Σ dy⊙y)
            let dx = zeroedFloats(rows * n) { dx in
                result.withUnsafeBufferPointer { y in
                    for row in 0..<rows {
                        let o = row * n
                        var dot: Float = 0
                        for j in 0..<n { dot += dy[o + j] * y[o + j] }
                        for j in 0..<n { dx[o + j] = y[o + j] * (dy[o + j] - dot) }
                    }
                }
            }
            inputs[0].addGrad(dx)
        }
    }
}

/// The softmax of `count` values at `x` written to `y` (may alias); returns log Σ exp(x).
@discardableResult @inline(__always)
public func softmaxRow(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) -> Float {
    let peak = RowKernels.max(x, count: count)
    let total = RowKernels.expSum(x, count: count, shift: peak, writingTo: y)
    let inverse = Float(1 / total)
    for j in 0..<count { y[j] *= inverse }
    return peak + Float(log(total))
}
