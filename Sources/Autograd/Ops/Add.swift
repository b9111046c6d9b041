// MARK: - Addition and subtraction with broadcasting over leading dimensions.

extension Tensor {
    /// `self + other`. Shapes are equal, or one is a suffix of the other (`[B, T, D] + [D]`): the
    /// smaller operand repeats over the leading dimensions of the larger. Result: the larger shape.
    public func add(_ other: Tensor) -> Tensor { combine(other, name: "add", sign: 1) }

    /// `self - other`, broadcasting as `add`.
    public func sub(_ other: Tensor) -> Tensor { combine(other, name: "sub", sign: -1) }

    /// `a + b` (see `add`).
    public static func + (a: Tensor, b: Tensor) -> Tensor { a.add(b) }

    /// `a - b` (see `sub`).
    public static func - (a: Tensor, b: Tensor) -> Tensor { a.sub(b) }

    private func combine(_ other: Tensor, name: String, sign: Float) -> Tensor {
        let (outShape, _) = broadcastShape(shape, other.shape, op: name)
        let (n, na, nb) = (outShape.product, count, other.count)
        let result = uninitializedFloats(n) { out in
            withValues { a in
                other.withValues { b in
                    broadcastLoop(n, na, nb) { i, ia, ib in out[i] = a[ia] + sign * b[ib] }
                }
            }
        }
        return Tape.record(name, data: result, shape: outShape, inputs: [self, other]) { dy, inputs, needs in
            if needs[0] { inputs[0].addGrad(reduceBroadcast(dy, to: na, scale: 1)) }
            if needs[1] { inputs[1].addGrad(reduceBroadcast(dy, to: nb, scale: sign)) }
        }
    }
}

/// The result shape of a broadcasting elementwise op, trapping when neither shape is a suffix of
/// the other; also says which operand is the larger.
func broadcastShape(_ a: [Int], _ b: [Int], op: String) -> ([Int], aIsLarger: Bool) {
    if a.count >= b.count, Array(a.suffix(b.count)) == b { return (a, true) }
    if b.count > a.count, Array(b.suffix(a.count)) == a { return (b, false) }
    preconditionFailure("\(op): shapes \(a) and \(b) do not broadcast (one must end the other)")
}

/// `scale ·` the sum of `gradient` over the repeats of an operand of `count` elements.
func reduceBroadcast(_ gradient: UnsafeBufferPointer<Float>, to count: Int, scale: Float) -> FloatBuffer {
    if count == gradient.count && scale == 1 { return FloatBuffer(copying: gradient) }
    return zeroedFloats(count) { out in
        broadcastLoop(gradient.count, count, gradient.count) { i, io, _ in out[io] += gradient[i] }
        if scale != 1 { for i in 0..<count { out[i] *= scale } }
    }
}

/// Visits every element `i` of a broadcast result of `n` elements together with the matching
/// indices into operands of `na` and `nb` elements (each equal to `n` or a divisor repeating).
@inline(__always)
func broadcastLoop(_ n: Int, _ na: Int, _ nb: Int, _ body: (Int, Int, Int) -> Void) {
    let inner = min(na, nb)
    guard n > 0, inner > 0 else { return }
    for base in stride(from: 0, to: n, by: inner) {
        let (offsetA, offsetB) = (na == n ? base : 0, nb == n ? base : 0)
        for j in 0..<inner { body(base + j, offsetA + j, offsetB + j) }
    }
}
