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
        self.init(inverseFrequency: Self.inverseFrequencies(headDim: headDim, theta: theta), positions: positions, offset: offset)
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
        (self.cos, self.sin, self.positions, self.half) = (cosTable, sinTable, positions, half)
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
        precondition(rank == 4 && table.positions == shape[1] && 2 * table.half == shape[3],
                     "rope: x \(shape) with table for \(table.positions) positions, Dh \(2 * table.half)")
        let result = rotate(data, table: table, inverse: false)
        let shape = shape
        return Tape.record("rope", data: result, shape: shape, inputs: [self]) { dy, inputs, _ in
            inputs[0].addGrad(inputs[0].rotate(Array(dy), table: table, inverse: true))
        }
    }

    /// Applies the rotation (or its inverse, the transpose, for the backward) to `values` laid out
    /// like `self`.
    private func rotate(_ values: [Float], table: RotaryTable, inverse: Bool) -> [Float] {
        let (batch, steps, heads, half) = (shape[0], shape[1], shape[2], table.half)
        let sign: Float = inverse ? -1 : 1
        return uninitializedFloats(values.count) { out in
            values.withUnsafeBufferPointer { x in
                table.cos.withUnsafeBufferPointer { cosT in
                    table.sin.withUnsafeBufferPointer { sinT in
                        for b in 0..<batch {
                            for t in 0..<steps {
                                let (c, s) = (cosT.baseAddress! + t * half, sinT.baseAddress! + t * half)
                                for h in 0..<heads {
                                    let base = ((b * steps + t) * heads + h) * 2 * half
                                    for i in 0..<half {
                                        let (x1, x2) = (x[base + i], x[base + half + i])
                                        let sn = sign * s[i]
                                        out[base + i] = x1 * c[i] - x2 * sn
                                        out[base + half + i] = x2 * c[i] + x1 * sn
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

extension Optional where Wrapped == RotaryTable {
    /// One head of `rows` positions, row t (`stride` apart in `source`) rotated at table position t
    /// into the contiguous `target` [rows, Dh]; without a table, a copy (the fused attention's Q', K').
    func rotate(rows: Int, width: Int, from source: UnsafePointer<Float>, stride: Int, into target: UnsafeMutablePointer<Float>) {
        guard let table = self else {
            for t in 0..<rows { target.advanced(by: t * width).update(from: source + t * stride, count: width) }
            return
        }
        let half = table.half
        table.cos.withUnsafeBufferPointer { cosT in
            table.sin.withUnsafeBufferPointer { sinT in
                for t in 0..<rows {
                    let (c, s, x, out) = (cosT.baseAddress! + t * half, sinT.baseAddress! + t * half, source + t * stride, target + t * width)
                    for i in 0..<half {
                        let (x1, x2) = (x[i], x[half + i])
                        out[i] = x1 * c[i] - x2 * s[i]
                        out[half + i] = x2 * c[i] + x1 * s[i]
                    }
                }
            }
        }
    }

    /// The transpose of `rotate`, accumulated: `target` rows (`stride` apart) += Rᵀ(source row t)
    /// for the contiguous gradient `source` [rows, Dh]; without a table, an add.
    func rotateBack(rows: Int, width: Int, from source: UnsafePointer<Float>, adding target: UnsafeMutablePointer<Float>, stride: Int) {
        guard let table = self else {
            for t in 0..<rows { for i in 0..<width { target[t * stride + i] += source[t * width + i] } }
            return
        }
        let half = table.half
        table.cos.withUnsafeBufferPointer { cosT in
            table.sin.withUnsafeBufferPointer { sinT in
                for t in 0..<rows {
                    let (c, s, g, out) = (cosT.baseAddress! + t * half, sinT.baseAddress! + t * half, source + t * width, target + t * stride)
                    for i in 0..<half {
                        let (g1, g2) = (g[i], g[half + i])
                        out[i] += g1 * c[i] + g2 * s[i]
                        out[half + i] += g2 * c[i] - g1 * s[i]
                    }
                }
            }
        }
    }
}
