// MARK: - RMSNorm, fused: y = x / sqrt(mean(x²) + eps) · w.
// reference: transformers LlamaRMSNorm (statistics in float32; here accumulated in Double)

extension Tensor {
    /// RMS normalisation over the last dimension, scaled by `weight`: [..., D] with w [D] → [..., D].
    public func rmsNorm(weight: Tensor, eps: Float) -> Tensor {
        let dim = shape.last ?? 0
        precondition(weight.shape == [dim], "rmsNorm: x \(shape) with weight \(weight.shape)")
        let rows = count / max(dim, 1)
        var inverseRMS = [Float](repeating: 0, count: rows)  // r = 1 / sqrt(mean(x²) + eps), saved
        let result = uninitializedFloats(count) { out in
            let outP = SendablePointer(out.baseAddress!)
            withValues { x in
                weight.withValues { w in
                    inverseRMS.withUnsafeMutableBufferPointer { r in
                        let rP = SendablePointer(r.baseAddress!)
                        Parallel.forEach(rows, costPerItem: 4 * dim) { range in
                            for row in range {
                                let xr = x.baseAddress! + row * dim
                                var sumSquares: Double = 0
                                for j in 0..<dim { sumSquares += Double(xr[j] * xr[j]) }
                                rP.pointer[row] = 1 / (Float(sumSquares / Double(dim)) + eps).squareRoot()
                            }
                        }
                        Self.scaleRows(
                            x.baseAddress!, by: r.baseAddress!, weight: w.baseAddress!, rows: rows, dim: dim,
                            into: outP.pointer)
                    }
                }
            }
        }
        let savedInverseRMS = inverseRMS
        let output = Tape.record("rmsNorm", data: result, shape: shape, inputs: [self, weight]) { dy, inputs, needs in
            let (xT, wT) = (inputs[0], inputs[1])
            // dx = r·(dy⊙w) − x · r³/D · Σ(dy⊙w⊙x);   dw = Σ_rows dy ⊙ x · r
            let dx = FloatBuffer(uninitialized: needs[0] ? rows * dim : 1)
            let chunks = Parallel.workerCount
            let (needsX, needsWeight) = (needs[0], needs[1])
            let dwPartial = FloatBuffer(zeros: needsWeight ? chunks * dim : 1)
            xT.withValues { x in
                wT.withValues { w in
                    dx.withUnsafeMutableBufferPointer { dxB in
                        dwPartial.withUnsafeMutableBufferPointer { dwB in
                            let dxP = SendablePointer(dxB.baseAddress!), dwP = SendablePointer(dwB.baseAddress!)
                            Parallel.forEach(chunks, costPerItem: 6 * rows * dim / chunks) { chunkRange in
                                for chunk in chunkRange {
                                    let dw = dwP.pointer + chunk * dim
                                    for row in (rows * chunk / chunks)..<(rows * (chunk + 1) / chunks) {
                                        let xr = x.baseAddress! + row * dim, dyr = dy.baseAddress! + row * dim
                                        let r = savedInverseRMS[row]
                                        var dot: Double = 0
                                        for j in 0..<dim { dot += Double(dyr[j] * w[j] * xr[j]) }
                                        let c = Float(dot) * r * r * r / Float(dim)
                                        let dxr = dxP.pointer + row * dim
                                        if needsX { for j in 0..<dim { dxr[j] = r * dyr[j] * w[j] - c * xr[j] } }
                                        if needsWeight { for j in 0..<dim { dw[j] += dyr[j] * xr[j] * r } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            if needsX { xT.addGrad(dx) }
            if needsWeight {
                var dw = [Float](repeating: 0, count: dim)
                for chunk in 0..<chunks { for j in 0..<dim { dw[j] += dwPartial[chunk * dim + j] } }
                wT.addGrad(dw)
            }
        }
        if output.node != nil {
            output.allowRecomputation { [self] in
                uninitializedFloats(rows * dim) { out in
                    withValues { x in
                        weight.withValues { w in
                            savedInverseRMS.withUnsafeBufferPointer { r in
                                Self.scaleRows(
                                    x.baseAddress!, by: r.baseAddress!, weight: w.baseAddress!, rows: rows, dim: dim,
                                    into: out.baseAddress!)
                            }
                        }
                    }
                }
            }
        }
        return output
    }

    /// y[row] = x[row] · r[row] · w for [rows, D] rows, on both cores (the forward, and its
    /// recomputation from the saved r).
    private static func scaleRows(
        _ x: UnsafePointer<Float>, by r: UnsafePointer<Float>, weight w: UnsafePointer<Float>,
        rows: Int, dim: Int, into y: UnsafeMutablePointer<Float>
    ) {
        let out = SendablePointer(y)
        Parallel.forEach(rows, costPerItem: 2 * dim) { range in
            for row in range {
                let (xr, yr, inv) = (x + row * dim, out.pointer + row * dim, r[row])
                for j in 0..<dim { yr[j] = xr[j] * inv * w[j] }
            }
        }
    }
}
