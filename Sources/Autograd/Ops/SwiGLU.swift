import Foundation

// MARK: - The SwiGLU product silu(a) ⊙ b, fused.
// reference: transformers LlamaMLP (down(act(gate(x)) * up(x)), act = SiLU)

extension Tensor {
    /// `silu(gate) ⊙ up` with `silu(a) = a·σ(a)`: [*] and [*] (same shape) → [*].
    public func swiGLU(up: Tensor) -> Tensor {
        precondition(shape == up.shape, "swiGLU: gate \(shape) with up \(up.shape)")
        let n = count
        let output = Tape.record("swiGLU", data: Self.swiGLUValues(self, up), shape: shape, inputs: [self, up]) { dy, inputs, needs in
            let (gateT, upT) = (inputs[0], inputs[1])
            let dGate = FloatBuffer(uninitialized: n), dUp = FloatBuffer(uninitialized: n)
            gateT.withValues { a in
                upT.withValues { b in
                    dGate.withUnsafeMutableBufferPointer { dga in
                        dUp.withUnsafeMutableBufferPointer { dub in
                            let (gP, uP) = (SendablePointer(dga.baseAddress!), SendablePointer(dub.baseAddress!))
                            Parallel.forEach(n, costPerItem: 30) { range in
                                for i in range {
                                    let sigma = 1 / (1 + exp(-a[i]))
                                    // d silu/da = σ(a)·(1 + a·(1 − σ(a)))
                                    gP.pointer[i] = dy[i] * b[i] * sigma * (1 + a[i] * (1 - sigma))
                                    uP.pointer[i] = dy[i] * a[i] * sigma
                                }
                            }
                        }
                    }
                }
            }
            if needs[0] { gateT.addGrad(dGate) }
            if needs[1] { upT.addGrad(dUp) }
        }
        if output.node != nil { output.allowRecomputation { [self] in Self.swiGLUValues(self, up) } }
        return output
    }

    /// silu(gate) ⊙ up elementwise, on both cores.
    private static func swiGLUValues(_ gate: Tensor, _ up: Tensor) -> FloatBuffer {
        uninitializedFloats(gate.count) { out in
            let outP = SendablePointer(out.baseAddress!)
            gate.withValues { a in
                up.withValues { b in
                    Parallel.forEach(a.count, costPerItem: 20) { range in
                        for i in range { outP.pointer[i] = a[i] / (1 + exp(-a[i])) * b[i] }
                    }
                }
            }
        }
    }
}
