import Foundation

// MARK: - Rotary position embedding, Hugging Face `rotate_half` convention.
// reference: transformers LlamaRotaryEmbedding / apply_rotary_pos_emb

/// The cos/sin tables of RoPE for positions `offset..<offset+T` and a head size `Dh`:
/// angle(p, i) = p · theta^(−2i/Dh) for i < Dh/2, computed in Float32 as transformers does.
public struct RotaryTable {
    /// cos and sin, [T, Dh/2] each.
    public let cos: [Float], sin: [Float]
    /// The number of positions and half the head size.
    public let positions: Int, half: Int

    /// The tables for `positions` positions starting at `offset`, unscaled frequencies of base `theta`.
    public init(headDim: Int, positions: Int, offset: Int, theta: Float) {
        precondition(headDim % 2 == 0, "RoPE: head size \(headDim) must be even")
        self.init(
            inverseFrequency: Self.inverseFrequencies(headDim: headDim, theta: theta), positions: positions,
            offset: offset)
    }

    /// θ^(−2i/Dh) for i < Dh/2, unscaled (the exponent in Float32, as transformers computes it).
    public static func inverseFrequencies(headDim: Int, theta: Float) -> [Float] {
        (0..<headDim / 2).map { i in 1 / Float(pow(Double(theta), Double(Float(2 * i) / Float(headDim)))) }
    }

    /// The tables for given inverse frequencies (Dh/2 of them; a scaled RoPE's).
    public init(inverseFrequency: [Float], positions: Int, offset: Int) {
        let half = inverseFrequency.count
        var cosTable = [Float](repeating: 0, count: positions * half), sinTable = cosTable
        for t in 0..<positions {
            for i in 0..<half {
                let angle = Float(offset + t) * inverseFrequency[i]
                cosTable[t * half + i] = Foundation.cos(angle)
                sinTable[t * half + i] = Foundation.sin(angle)
            }
        }
        self.cos = cosTable
        self.sin = sinTable
        self.positions = positions
        self.half = half
    }
}

extension Tensor {
    /// RoPE on every head: [B, T, H, Dh] → [B, T, H, Dh], position of token t = `offset + t`.
    /// Pairs `(x[i], x[i + Dh/2])` rotate by angle(pos, i).
    public func rope(offset: Int, theta: Float) -> Tensor {
        precondition(rank == 4, "rope: expected [B, T, H, Dh], got \(shape)")
        let table = RotaryTable(headDim: shape[3], positions: shape[1], offset: offset, theta: theta)
        return rope(table)
    }

    /// RoPE with precomputed tables (`table.positions == T`, `table.half == Dh/2`).
    public func rope(_ table: RotaryTable) -> Tensor {
        precondition(
            rank == 4 && table.positions == shape[1] && 2 * table.half == shape[3],
            "rope: x \(shape) with table for \(table.positions) positions, Dh \(2 * table.half)")
        let result = withValues { rotate($0, table: table, inverse: false) }
        let shape = shape
        return Tape.record("rope", data: result, shape: shape, inputs: [self]) { dy, inputs, _ in
            inputs[0].addGrad(inputs[0].rotate(dy, table: table, inverse: true))
        }
    }

    /// Applies the rotation (or its inverse, the transpose, for the backward) to `values` laid out
    /// like `self`, head by head.
    private func rotate(_ values: UnsafeBufferPointer<Float>, table: RotaryTable, inverse: Bool) -> FloatBuffer {
        let (batch, steps, heads, dh) = (shape[0], shape[1], shape[2], shape[3])
        return uninitializedFloats(values.count) { out in
            for b in 0..<batch {
                for h in 0..<heads {
                    let offset = (b * steps * heads + h) * dh
                    table.rotate(
                        rows: steps, from: values.baseAddress! + offset, stride: heads * dh,
                        into: out.baseAddress! + offset, stride: heads * dh, inverse: inverse)
                }
            }
        }
    }
}

extension RotaryTable {
    /// One head's rows: target row t = R(angle(t))·(source row t), or Rᵀ (`inverse`, the backward),
    /// written or added (`accumulate`); row t is `stride` floats after row t − 1 on either side,
    /// and source and target may be the same rows. Pairs `(x[i], x[i + Dh/2])` rotate.
    public func rotate(
        rows: Int, from source: UnsafePointer<Float>, stride sourceStride: Int,
        into target: UnsafeMutablePointer<Float>, stride targetStride: Int,
        inverse: Bool = false, accumulate: Bool = false
    ) {
        let sign: Float = inverse ? -1 : 1
        cos.withUnsafeBufferPointer { cosT in
            sin.withUnsafeBufferPointer { sinT in
                for t in 0..<rows {
                    let (c, s) = (cosT.baseAddress! + t * half, sinT.baseAddress! + t * half)
                    let (x, y) = (source + t * sourceStride, target + t * targetStride)
                    for i in 0..<half {
                        let (x1, x2, sn) = (x[i], x[half + i], sign * s[i])
                        let (y1, y2) = (x1 * c[i] - x2 * sn, x2 * c[i] + x1 * sn)
                        if accumulate { y[i] += y1; y[half + i] += y2 } else { (y[i], y[half + i]) = (y1, y2) }
                    }
                }
            }
        }
    }
}

extension Optional where Wrapped == RotaryTable {
    /// One head of `rows` positions, row t (`stride` apart in `source`) rotated at table position t
    /// into the contiguous `target` [rows, Dh]; without a table, a copy (the fused attention's Q', K').
    func rotate(
        rows: Int, width: Int, from source: UnsafePointer<Float>, stride: Int, into target: UnsafeMutablePointer<Float>
    ) {
        guard let table = self else {
            for t in 0..<rows { target.advanced(by: t * width).update(from: source + t * stride, count: width) }
            return
        }
        table.rotate(rows: rows, from: source, stride: stride, into: target, stride: width)
    }

    /// The transpose of `rotate`, accumulated: `target` rows (`stride` apart) += Rᵀ(source row t)
    /// for the contiguous gradient `source` [rows, Dh]; without a table, an add.
    func rotateBack(
        rows: Int, width: Int, from source: UnsafePointer<Float>, adding target: UnsafeMutablePointer<Float>,
        stride: Int
    ) {
        guard let table = self else {
            for t in 0..<rows { for i in 0..<width { target[t * stride + i] += source[t * width + i] } }
            return
        }
        table.rotate(
            rows: rows, from: source, stride: width, into: target, stride: stride, inverse: true, accumulate: true)
    }
}
