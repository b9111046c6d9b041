import CKernels
import Foundation

// MARK: - The SwiGLU product silu(a) ⊙ b, fused.
// reference: transformers LlamaMLP (down(act(gate(x)) * up(x)), act = SiLU)

extension Tensor {
    /// `silu(gate) ⊙ up` with `silu(a) = a·σ(a)`: [*] and [*] (same shape) → [*].
    public func swiGLU(up: Tensor) -> Tensor {
        precondition(shape == up.shape, "swiGLU: gate \(shape) with up \(up.shape)")
        let n = count
        let output = Tape.record("swiGLU", data: Self.swiGLUValues(self, up), shape: shape, inputs: [self, up]) {
            dy, inputs, needs in
            let (gateT, upT) = (inputs[0], inputs[1])
            let dGate = FloatBuffer(uninitialized: n), dUp = FloatBuffer(uninitialized: n)
            gateT.withValues { a in
                upT.withValues { b in
                    dGate.withUnsafeMutableBufferPointer { dga in
                        dUp.withUnsafeMutableBufferPointer { dub in
                            let (gP, uP) = (SendablePointer(dga.baseAddress!), SendablePointer(dub.baseAddress!))
                            // d silu/da = σ(a)·(1 + a·(1 − σ(a))) (`CKernels/swiglu.c`, on the active SIMD path)
                            let path = loft_simd_active()
                            Parallel.forEach(n, costPerItem: 8) { range in
                                let (i, count) = (range.lowerBound, Int64(range.count))
                                loft_swiglu_backward(
                                    path, a.baseAddress! + i, b.baseAddress! + i, dy.baseAddress! + i,
                                    gP.pointer + i, uP.pointer + i, count)
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

    /// silu(gate) ⊙ up elementwise, on both cores (`CKernels/swiglu.c`, on the active SIMD path).
    private static func swiGLUValues(_ gate: Tensor, _ up: Tensor) -> FloatBuffer {
        uninitializedFloats(gate.count) { out in
            let outP = SendablePointer(out.baseAddress!)
            let path = loft_simd_active()
            gate.withValues { a in
                up.withValues { b in
                    Parallel.forEach(a.count, costPerItem: 6) { range in
                        let i = range.lowerBound
                        loft_swiglu_forward(
                            path, a.baseAddress! + i, b.baseAddress! + i, outP.pointer + i, Int64(range.count))
                    }
                }
            }
        }
    }
}
