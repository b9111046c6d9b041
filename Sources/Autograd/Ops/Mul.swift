// MARK: - Elementwise product (broadcasting over leading dimensions) and scaling.

extension Tensor {
    /// `self ⊙ other`, broadcasting as `add`: shapes are equal or one ends the other.
    public func mul(_ other: Tensor) -> Tensor {
        let (outShape, _) = broadcastShape(shape, other.shape, op: "mul")
        let (n, na, nb) = (outShape.product, count, other.count)
        let result = uninitializedFloats(n) { out in
            withValues { a in
                other.withValues { b in
                    broadcastLoop(n, na, nb) { i, ia, ib in out[i] = a[ia] * b[ib] }
                }
            }
        }
        return Tape.record("mul", data: result, shape: outShape, inputs: [self, other]) { dy, inputs, needs in
            for (index, (mine, theirs)) in [(inputs[0], inputs[1]), (inputs[1], inputs[0])].enumerated()
            where needs[index] {
                let (nm, nt) = (mine.count, theirs.count)
                let g = zeroedFloats(nm) { out in
                    theirs.withValues { t in
                        broadcastLoop(n, nm, nt) { i, im, it in out[im] += dy[i] * t[it] }
                    }
                }
                mine.addGrad(g)
            }
        }
    }

    /// `a ⊙ b` (see `mul`).
    public static func * (a: Tensor, b: Tensor) -> Tensor { a.mul(b) }

    /// `factor · self`.
    public func scaled(by factor: Float) -> Tensor {
        let result = uninitializedFloats(count) { out in
            withValues { x in for i in 0..<x.count { out[i] = x[i] * factor } }
        }
        return Tape.record("scale", data: result, shape: shape, inputs: [self]) { dy, inputs, _ in
            inputs[0].addGrad(
                uninitializedFloats(dy.count) { out in for i in 0..<dy.count { out[i] = dy[i] * factor } })
        }
    }

    /// `factor · tensor`.
    public static func * (factor: Float, tensor: Tensor) -> Tensor { tensor.scaled(by: factor) }
}
